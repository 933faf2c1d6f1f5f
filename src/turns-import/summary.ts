import { formatDuration } from './progress.js';
import {
  ISSUE_DESCRIPTIONS,
  type ImportSummary,
  type IssueKind,
  type VerifySummary,
} from './legacy-import.types.js';

const fmt = (n: number) => n.toLocaleString('en-US');

function table(rows: [string, string][], indent = '  '): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`);
}

/** The operator's final report of an import or a dry run. */
export function formatImportSummary(s: ImportSummary): string {
  const seconds = s.elapsedMs / 1000;
  const rate = seconds > 0 ? Math.round(s.turnsLinked / seconds) : 0;
  const verb = s.dryRun ? 'would be' : '';
  const title = s.dryRun
    ? `Legacy import DRY RUN (nothing written) in ${formatDuration(s.elapsedMs)}`
    : `Legacy import ${s.interrupted ? 'STOPPED (run again to continue)' : 'finished'} in ${formatDuration(s.elapsedMs)}` +
      ` (${fmt(rate)} turns/s, ${fmt(s.batches)} batches)`;
  const lines = [title];
  const w = (label: string) => (verb ? `${label} ${verb}` : label);
  lines.push(
    ...table([
      ['dossiers with turns to import', `${fmt(s.dossiersPending)} (${fmt(s.turnsPending)} turns)`],
      [w('dossiers imported'), fmt(s.dossiersImported)],
      [w('dossiers continued'), `${fmt(s.dossiersContinued)} (new turns appended to their imported session)`],
      [
        w('users created'),
        `${fmt(s.usersCreated)} (plus ${fmt(s.ownersMapped)} owners from the owners file)`,
      ],
      [w('memberships added'), fmt(s.membershipsAdded)],
      [w('sessions created'), fmt(s.sessionsCreated)],
      [w('messages written'), fmt(s.messagesWritten)],
      [w('turns linked'), fmt(s.turnsLinked)],
    ]),
  );
  const kinds = Object.keys(s.issues) as IssueKind[];
  if (kinds.length === 0) {
    lines.push('Legacy data problems: none');
  } else {
    lines.push('Legacy data reported:');
    const order = Object.keys(ISSUE_DESCRIPTIONS) as IssueKind[];
    const rows: [string, string][] = order
      .filter((k) => s.issues[k])
      .map((k) => {
        const issue = s.issues[k]!;
        const d = ISSUE_DESCRIPTIONS[k];
        const examples = issue.examples.length > 0 ? `; e.g. ${issue.examples.join(', ')}` : '';
        const message = issue.message ? ` (${issue.message})` : '';
        return [d.label, `${fmt(issue.count)}: ${d.effect}${message}${examples}`];
      });
    lines.push(...table(rows));
  }
  if (!s.dryRun && !s.interrupted) {
    lines.push(
      s.issues.failed
        ? 'Some dossiers failed: fix the cause shown above and run again (the rest is imported).'
        : 'Everything that could be imported was imported. Check with --verify.',
    );
  }
  return lines.join('\n');
}

export function formatVerifySummary(v: VerifySummary, shown = 20): string {
  const ok = v.mismatches.length === 0 && v.dossiersNotImported === 0;
  const lines = [
    `Legacy import verification ${ok ? 'PASSED' : 'FAILED'} in ${formatDuration(v.elapsedMs)}`,
    ...table([
      ['imported dossiers checked', fmt(v.dossiersChecked)],
      ['turns checked', fmt(v.turnsChecked)],
      ['messages checked', fmt(v.messagesChecked)],
      ['dossiers with turns not imported', fmt(v.dossiersNotImported)],
      ['mismatches', fmt(v.mismatches.length)],
    ]),
  ];
  for (const m of v.mismatches.slice(0, shown)) lines.push(`  MISMATCH dossier ${m.projectId}: ${m.problem}`);
  if (v.mismatches.length > shown) lines.push(`  ... and ${fmt(v.mismatches.length - shown)} more`);
  for (const n of v.notes.slice(0, shown)) lines.push(`  note: dossier ${n.projectId}: ${n.problem}`);
  if (v.notes.length > shown) lines.push(`  ... and ${fmt(v.notes.length - shown)} more notes`);
  return lines.join('\n');
}
