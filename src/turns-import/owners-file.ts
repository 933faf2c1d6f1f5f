import type { LegacyImportRepository } from './legacy-import.repository.js';

/**
 * The `--owners <file.csv>` mapping: which existing user owns which legacy dossier.
 *
 *   project_id,owner
 *   3f2a...-...,a1b2...-...        (a user id)
 *   77c0...-...,ada@example.com    (an email, any letter case)
 *
 * A header line (one whose first field is not a UUID), blank lines and lines starting with `#` are ignored.
 * Fields may be quoted with double quotes. Every problem is collected with its line number, so an operator
 * fixes the file in one go; the import does not start while the file has problems.
 */
export interface OwnerLine {
  line: number;
  projectId: string;
  owner: string;
}

export interface OwnersFile {
  lines: OwnerLine[];
  problems: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

export function parseOwnersCsv(text: string): OwnersFile {
  const lines: OwnerLine[] = [];
  const problems: string[] = [];
  const seen = new Map<string, OwnerLine>();
  const rows = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let first = true;
  rows.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const isFirst = first;
    first = false;
    const fields = splitCsvLine(raw);
    if (fields === null) {
      problems.push(`line ${line}: unbalanced quotes`);
      return;
    }
    const [projectField = '', ownerField = '', ...rest] = fields.map((f) => f.trim());
    if (isFirst && !UUID.test(projectField) && /project/i.test(projectField)) return; // the header
    if (!UUID.test(projectField)) {
      problems.push(`line ${line}: "${projectField}" is not a project id (UUID)`);
      return;
    }
    if (rest.some((f) => f !== '')) {
      problems.push(`line ${line}: expected two fields (project_id,owner), found ${fields.length}`);
      return;
    }
    if (!UUID.test(ownerField) && !EMAIL.test(ownerField)) {
      problems.push(`line ${line}: "${ownerField}" is neither a user id (UUID) nor an email`);
      return;
    }
    const projectId = projectField.toLowerCase();
    const owner = UUID.test(ownerField) ? ownerField.toLowerCase() : ownerField;
    const earlier = seen.get(projectId);
    if (earlier) {
      if (earlier.owner.toLowerCase() !== owner.toLowerCase()) {
        problems.push(
          `line ${line}: project ${projectId} already mapped to ${earlier.owner} on line ${earlier.line}`,
        );
      }
      return;
    }
    const entry = { line, projectId, owner };
    seen.set(projectId, entry);
    lines.push(entry);
  });
  return { lines, problems };
}

/** Splits one CSV line on commas, honouring double quotes ("" inside quotes is a quote). Null if unbalanced. */
export function splitCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        current += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        current += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) return null;
  fields.push(current);
  return fields;
}

export interface ResolvedOwners {
  owners: Map<string, string>;
  /** Lines that cannot be used: the import must not start. */
  problems: string[];
  /** Lines naming a dossier that does not exist: harmless, reported. */
  warnings: string[];
}

/** Resolves each line's owner to a user id (by id or by email) against the database. */
export async function resolveOwners(repo: LegacyImportRepository, file: OwnersFile): Promise<ResolvedOwners> {
  const resolved = await repo.resolveOwners(
    file.lines.map((l) => ({ owner: l.owner, projectId: l.projectId })),
  );
  const owners = new Map<string, string>();
  const problems = [...file.problems];
  const warnings: string[] = [];
  file.lines.forEach((line, i) => {
    const { userId, emailUsers, dossierExists } = resolved[i];
    if (!userId) {
      problems.push(
        !UUID.test(line.owner) && emailUsers > 1
          ? `line ${line.line}: email ${line.owner} is ambiguous: ${emailUsers} users gave it; name the owner by user id`
          : `line ${line.line}: no user with ${UUID.test(line.owner) ? 'id' : 'email'} ${line.owner}`,
      );
      return;
    }
    if (!dossierExists) warnings.push(`line ${line.line}: no dossier ${line.projectId} (ignored)`);
    owners.set(line.projectId, userId);
  });
  return { owners, problems, warnings };
}
