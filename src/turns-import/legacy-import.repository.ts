import type { SqlExecutor } from '../database/sql-executor.js';
import { MESSAGE_TEXT_LIMIT } from './legacy-import.types.js';

/**
 * All SQL of the legacy importer. MAINTENANCE ONLY: it runs as the connecting role, which owns the tables and
 * bypasses row-level security, on ONE connection of its own (a pg.Client or a PGlite), because it keeps
 * temporary tables and opens transactions with plain BEGIN/COMMIT. Never give it a pool.
 *
 * Every statement is set-based over one batch of dossiers (a temporary table of their ids), so a batch of
 * 20,000 turns costs about ten round trips, whatever its size.
 */

/** A turn nobody has attributed yet: the importer's work. Matches the partial index of the ledger migration. */
const UNATTRIBUTED = (t: string) => `${t}.session_id IS NULL AND ${t}.user_id IS NULL`;
/** A side of a turn that becomes a message: not NULL and not only whitespace. */
const HAS_TEXT = (column: string) => `COALESCE(${column} ~ '\\S', false)`;
/** Over the chat limit, in characters (the byte length is checked first: it needs no decoding). */
const OVER_LIMIT = (column: string) =>
  `(octet_length(${column}) > ${MESSAGE_TEXT_LIMIT} AND char_length(${column}) > ${MESSAGE_TEXT_LIMIT})`;

/** Marks the messages the importer wrote, for readers of `metadata`. */
export const IMPORTED_MESSAGE_METADATA = { source: 'legacy_import' } as const;

/** pg_advisory_lock key held for the whole run: one importer per database at a time. */
const IMPORT_LOCK_KEY = 0x7061726c; // 'parl'

export const MIN_UUID = '00000000-0000-0000-0000-000000000000';

export interface PendingTotals {
  turns: number;
  dossiers: number;
  orphanTurns: number;
  orphanExamples: string[];
}

export interface Candidate {
  projectId: string;
  pending: number;
  hasDossier: boolean;
}

export interface BatchStats {
  newDossiers: number;
  continuedDossiers: number;
  ownersToCreate: number;
  ownersMapped: number;
  sessionDeleted: number;
  sessionDeletedExamples: string[];
  turns: number;
  skippedTurns: number;
  messages: number;
  emptyBoth: number;
  emptyBothExamples: string[];
  emptyUser: number;
  emptyUserExamples: string[];
  emptyAssistant: number;
  emptyAssistantExamples: string[];
  overLimit: number;
  overLimitExamples: string[];
  duplicateTimestamps: number;
  duplicateTimestampExamples: string[];
}

export interface OwnerLookup {
  owner: string;
  projectId: string;
}

export interface ResolvedOwner {
  userId: string | null;
  /** How many users gave the owner as their email (any letter case): an email maps only when one did. */
  emailUsers: number;
  dossierExists: boolean;
}

export interface StructureProblem {
  projectId: string;
  problem: string;
  /** A note is not an import error (e.g. the owner deleted the session afterwards). */
  note: boolean;
}

export class LegacyImportRepository {
  constructor(private readonly db: SqlExecutor) {}

  /** Null when the importer can run here, else what is missing. */
  async prerequisiteProblem(): Promise<string | null> {
    const [row] = await this.db.query<{ bypasses: boolean; ledger: boolean; turns: boolean }>(
      `SELECT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS bypasses,
              to_regclass('legacy_imports') IS NOT NULL AS ledger,
              to_regclass('turns') IS NOT NULL AS turns`,
    );
    if (!row.turns || !row.ledger) {
      return 'the database is not migrated (no turns or legacy_imports table): run `npm run db:migrate` first';
    }
    if (!row.bypasses) {
      return 'the connecting role must bypass row-level security (a superuser, or a role with BYPASSRLS that owns the tables)';
    }
    return null;
  }

  async tryLock(): Promise<boolean> {
    const [row] = await this.db.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      IMPORT_LOCK_KEY,
    ]);
    return row.locked;
  }

  async unlock(): Promise<void> {
    await this.db.query('SELECT pg_advisory_unlock($1)', [IMPORT_LOCK_KEY]);
  }

  /** The run's temporary tables, private to this connection. */
  async createWorkTables(): Promise<void> {
    await this.db.exec(`
      CREATE TEMP TABLE IF NOT EXISTS legacy_import_owners (
        project_id uuid PRIMARY KEY,
        user_id uuid NOT NULL
      );
      TRUNCATE pg_temp.legacy_import_owners;
      CREATE TEMP TABLE IF NOT EXISTS legacy_import_batch (
        project_id uuid PRIMARY KEY,
        title text,
        dossier_created_at timestamptz NOT NULL,
        dossier_updated_at timestamptz NOT NULL,
        owner_id uuid NOT NULL,
        session_id uuid NOT NULL,
        create_owner boolean NOT NULL,
        create_session boolean NOT NULL,
        skip_reason text
      ) ON COMMIT DELETE ROWS;`);
  }

  async dropWorkTables(): Promise<void> {
    await this.db.exec(
      'DROP TABLE IF EXISTS pg_temp.legacy_import_batch; DROP TABLE IF EXISTS pg_temp.legacy_import_owners;',
    );
  }

  /** Looks owners up by user id or by email (any letter case), and whether each dossier exists. */
  async resolveOwners(lookups: OwnerLookup[]): Promise<ResolvedOwner[]> {
    if (lookups.length === 0) return [];
    const rows = await this.db.query<{
      ord: number;
      user_id: string | null;
      email_users: number;
      dossier_exists: boolean;
    }>(
      `SELECT i.ord::int AS ord,
              COALESCE(
                (SELECT u.user_id FROM users u
                  WHERE u.user_id = CASE WHEN i.owner ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                         THEN i.owner::uuid END),
                -- Emails are not unique (unverified contact details): only an email exactly one user gave.
                CASE WHEN e.users = 1 THEN e.one_user END
              )::text AS user_id,
              e.users AS email_users,
              EXISTS (SELECT 1 FROM dossier d WHERE d.project_id = i.project_id::uuid) AS dossier_exists
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(owner, project_id, ord)
         CROSS JOIN LATERAL (SELECT count(*)::int AS users, min(u.user_id::text)::uuid AS one_user
                               FROM users u WHERE lower(u.email) = lower(i.owner)) e
        ORDER BY i.ord`,
      [lookups.map((l) => l.owner), lookups.map((l) => l.projectId)],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      emailUsers: r.email_users,
      dossierExists: r.dossier_exists,
    }));
  }

  async loadOwners(owners: Map<string, string>): Promise<void> {
    if (owners.size === 0) return;
    await this.db.query(
      `INSERT INTO pg_temp.legacy_import_owners (project_id, user_id)
       SELECT p, u FROM unnest($1::uuid[], $2::uuid[]) AS o(p, u)
       ON CONFLICT (project_id) DO UPDATE SET user_id = EXCLUDED.user_id`,
      [[...owners.keys()], [...owners.values()]],
    );
  }

  /** What is left to import: unattributed turns of existing dossiers, and the orphans that never will be. */
  async pendingTotals(projectId?: string): Promise<PendingTotals> {
    const [row] = await this.db.query<{
      turns: number;
      dossiers: number;
      orphans: number;
      orphan_examples: string[] | null;
    }>(
      `SELECT count(*) FILTER (WHERE d.project_id IS NOT NULL)::int AS turns,
              count(DISTINCT t.project_id) FILTER (WHERE d.project_id IS NOT NULL)::int AS dossiers,
              count(*) FILTER (WHERE d.project_id IS NULL)::int AS orphans,
              (array_agg(t.turn_id::text ORDER BY t.turn_id) FILTER (WHERE d.project_id IS NULL))[1:5]
                AS orphan_examples
         FROM turns t
         LEFT JOIN dossier d ON d.project_id = t.project_id
        WHERE ${UNATTRIBUTED('t')} AND ($1::uuid IS NULL OR t.project_id = $1::uuid)`,
      [projectId ?? null],
    );
    return {
      turns: row.turns,
      dossiers: row.dossiers,
      orphanTurns: row.orphans,
      orphanExamples: row.orphan_examples ?? [],
    };
  }

  /**
   * The next dossier ids (after `after`, in id order) that have unattributed turns, with how many. Rows whose
   * dossier is missing come back too (hasDossier false) so the caller's cursor moves past them.
   */
  async nextCandidates(after: string, limit: number, projectId?: string): Promise<Candidate[]> {
    const rows = await this.db.query<{ project_id: string; pending: number; has_dossier: boolean }>(
      `SELECT p.project_id::text AS project_id, p.pending,
              EXISTS (SELECT 1 FROM dossier d WHERE d.project_id = p.project_id) AS has_dossier
         FROM (SELECT t.project_id, count(*)::int AS pending
                 FROM turns t
                WHERE ${UNATTRIBUTED('t')} AND t.project_id > $1::uuid
                  AND ($3::uuid IS NULL OR t.project_id = $3::uuid)
                GROUP BY t.project_id
                ORDER BY t.project_id
                LIMIT $2) p
        ORDER BY p.project_id`,
      [after, limit, projectId ?? null],
    );
    return rows.map((r) => ({ projectId: r.project_id, pending: r.pending, hasDossier: r.has_dossier }));
  }

  /**
   * Opens a batch's transaction. REPEATABLE READ: every statement of the batch sees the same turns, even
   * while the legacy /chat keeps writing. synchronous_commit off is safe here because the import is
   * resumable: a batch lost to a server crash is simply imported again by the next run. No parallel query
   * and no JIT: each statement touches one batch, where their start-up costs more than they save.
   */
  async begin(readOnly: boolean): Promise<void> {
    await this.db.exec(
      `BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''};
       SET LOCAL synchronous_commit = off;
       SET LOCAL work_mem = '64MB';
       SET LOCAL jit = off;
       SET LOCAL max_parallel_workers_per_gather = 0;
       SET LOCAL statement_timeout = 0;`,
    );
  }

  async commit(): Promise<void> {
    await this.db.exec('COMMIT');
  }

  async rollback(): Promise<void> {
    await this.db.exec('ROLLBACK');
  }

  /**
   * Fills the batch table: per dossier, its owner (the one recorded by an earlier import, else the owners
   * file's, else a new user) and its session (the earlier import's, else a new one). A dossier whose imported
   * session has since been deleted (or now belongs to someone else) is marked skipped: nothing is re-created.
   */
  async fillBatch(projectIds: string[]): Promise<void> {
    await this.db.query(
      `INSERT INTO pg_temp.legacy_import_batch
              (project_id, title, dossier_created_at, dossier_updated_at, owner_id, session_id, create_owner,
               create_session, skip_reason)
       SELECT d.project_id, d.title, d.created_at, d.updated_at,
              COALESCE(l.user_id, m.user_id, gen_random_uuid()),
              COALESCE(l.session_id, gen_random_uuid()),
              l.project_id IS NULL AND m.user_id IS NULL,
              l.project_id IS NULL,
              CASE WHEN l.project_id IS NOT NULL AND NOT EXISTS (
                          SELECT 1 FROM sessions s WHERE s.session_id = l.session_id AND s.user_id = l.user_id)
                   THEN 'session_deleted' END
         FROM dossier d
         LEFT JOIN legacy_imports l ON l.project_id = d.project_id
         LEFT JOIN pg_temp.legacy_import_owners m ON m.project_id = d.project_id
        WHERE d.project_id = ANY($1::uuid[])
          AND EXISTS (SELECT 1 FROM turns t WHERE t.project_id = d.project_id AND ${UNATTRIBUTED('t')})`,
      [projectIds],
    );
  }

  /** What the batch will do, and the legacy data it reports: counts and a few example ids per kind. */
  async batchStats(): Promise<BatchStats> {
    const [row] = await this.db.query<Record<string, number | string[] | null>>(
      `WITH turn AS (
         SELECT b.skip_reason IS NULL AS ok, t.turn_id,
                ${HAS_TEXT('t.user_text')} AS has_user,
                ${HAS_TEXT('t.assistant_text')} AS has_assistant,
                COALESCE(${OVER_LIMIT('t.user_text')} OR ${OVER_LIMIT('t.assistant_text')}, false) AS over_limit,
                count(*) OVER (PARTITION BY t.project_id, t.created_at) > 1 AS duplicate_ts
           FROM pg_temp.legacy_import_batch b
           JOIN turns t ON t.project_id = b.project_id AND ${UNATTRIBUTED('t')}
       ), turns_stats AS (
         SELECT count(*) FILTER (WHERE ok)::int AS turns,
                count(*) FILTER (WHERE NOT ok)::int AS skipped_turns,
                (count(*) FILTER (WHERE ok AND has_user) + count(*) FILTER (WHERE ok AND has_assistant))::int
                  AS messages,
                count(*) FILTER (WHERE ok AND NOT has_user AND NOT has_assistant)::int AS empty_both,
                (array_agg(turn_id::text ORDER BY turn_id)
                   FILTER (WHERE ok AND NOT has_user AND NOT has_assistant))[1:5] AS empty_both_examples,
                count(*) FILTER (WHERE ok AND NOT has_user AND has_assistant)::int AS empty_user,
                (array_agg(turn_id::text ORDER BY turn_id)
                   FILTER (WHERE ok AND NOT has_user AND has_assistant))[1:5] AS empty_user_examples,
                count(*) FILTER (WHERE ok AND has_user AND NOT has_assistant)::int AS empty_assistant,
                (array_agg(turn_id::text ORDER BY turn_id)
                   FILTER (WHERE ok AND has_user AND NOT has_assistant))[1:5] AS empty_assistant_examples,
                count(*) FILTER (WHERE ok AND over_limit)::int AS over_limit,
                (array_agg(turn_id::text ORDER BY turn_id) FILTER (WHERE ok AND over_limit))[1:5]
                  AS over_limit_examples,
                count(*) FILTER (WHERE ok AND duplicate_ts)::int AS duplicate_ts,
                (array_agg(turn_id::text ORDER BY turn_id) FILTER (WHERE ok AND duplicate_ts))[1:5]
                  AS duplicate_ts_examples
           FROM turn
       ), dossier_stats AS (
         SELECT count(*) FILTER (WHERE skip_reason IS NULL AND create_session)::int AS new_dossiers,
                count(*) FILTER (WHERE skip_reason IS NULL AND NOT create_session)::int AS continued_dossiers,
                count(*) FILTER (WHERE skip_reason IS NULL AND create_owner)::int AS owners_to_create,
                count(*) FILTER (WHERE skip_reason IS NULL AND create_session AND NOT create_owner)::int
                  AS owners_mapped,
                count(*) FILTER (WHERE skip_reason = 'session_deleted')::int AS session_deleted,
                (array_agg(project_id::text ORDER BY project_id) FILTER (WHERE skip_reason = 'session_deleted'))[1:5]
                  AS session_deleted_examples
           FROM pg_temp.legacy_import_batch
       )
       SELECT * FROM turns_stats, dossier_stats`,
    );
    const n = (key: string) => Number(row[key] ?? 0);
    const ids = (key: string) => (row[key] as string[] | null) ?? [];
    return {
      newDossiers: n('new_dossiers'),
      continuedDossiers: n('continued_dossiers'),
      ownersToCreate: n('owners_to_create'),
      ownersMapped: n('owners_mapped'),
      sessionDeleted: n('session_deleted'),
      sessionDeletedExamples: ids('session_deleted_examples'),
      turns: n('turns'),
      skippedTurns: n('skipped_turns'),
      messages: n('messages'),
      emptyBoth: n('empty_both'),
      emptyBothExamples: ids('empty_both_examples'),
      emptyUser: n('empty_user'),
      emptyUserExamples: ids('empty_user_examples'),
      emptyAssistant: n('empty_assistant'),
      emptyAssistantExamples: ids('empty_assistant_examples'),
      overLimit: n('over_limit'),
      overLimitExamples: ids('over_limit_examples'),
      duplicateTimestamps: n('duplicate_ts'),
      duplicateTimestampExamples: ids('duplicate_ts_examples'),
    };
  }

  /** One new user per unmapped dossier: a recognisable display name, no email, created with the dossier. */
  async createOwners(): Promise<number> {
    return this.count(
      `INSERT INTO users (user_id, email, display_name, created_at, updated_at)
       SELECT b.owner_id, NULL,
              'Legacy: ' || COALESCE(NULLIF(left(regexp_replace(btrim(b.title), '\\s+', ' ', 'g'), 60), ''), 'untitled')
                || ' [' || left(b.project_id::text, 8) || ']',
              b.dossier_created_at, b.dossier_created_at
         FROM pg_temp.legacy_import_batch b
        WHERE b.skip_reason IS NULL AND b.create_owner
       RETURNING 1`,
    );
  }

  /**
   * The owner becomes a member of the dossier, joined when the dossier was created, with the dossier's last
   * change as latest activity: the session and message triggers then move it to the last imported message,
   * so the projects list orders imported projects by their real history, not by the day of the import.
   */
  async addMemberships(): Promise<number> {
    return this.count(
      `INSERT INTO user_projects (user_id, project_id, created_at, last_activity_at)
       SELECT b.owner_id, b.project_id, b.dossier_created_at,
              GREATEST(b.dossier_created_at, b.dossier_updated_at)
         FROM pg_temp.legacy_import_batch b
        WHERE b.skip_reason IS NULL AND b.create_session
       ON CONFLICT (user_id, project_id) DO NOTHING
       RETURNING 1`,
    );
  }

  /**
   * One session per dossier: the dossier's title (else the first line of its first user text, else a
   * default), created when its first turn was, last_message_at its last turn's. The message trigger then
   * sets the counters, the preview and the exact last_message_at.
   */
  async createSessions(): Promise<number> {
    return this.count(
      `INSERT INTO sessions (session_id, user_id, project_id, title, created_at, updated_at, last_message_at)
       SELECT b.session_id, b.owner_id, b.project_id,
              COALESCE(
                NULLIF(btrim(b.title), ''),
                (SELECT CASE WHEN char_length(f.line) <= 80 THEN f.line
                             ELSE COALESCE(substring(left(f.line, 81) FROM '^(.*\\S)\\s'), left(f.line, 80)) END
                   FROM (SELECT btrim(split_part(btrim(substr(t.user_text, 1, 2000)), E'\\n', 1)) AS line
                           FROM turns t
                          WHERE t.project_id = b.project_id AND ${UNATTRIBUTED('t')} AND ${HAS_TEXT('t.user_text')}
                          ORDER BY t.created_at, t.turn_id
                          LIMIT 1) f),
                'Imported conversation'),
              span.first_at, span.last_at, span.last_at
         FROM pg_temp.legacy_import_batch b
        CROSS JOIN LATERAL (
              SELECT min(t.created_at) AS first_at, max(t.created_at) AS last_at
                FROM turns t
               WHERE t.project_id = b.project_id AND ${UNATTRIBUTED('t')}) span
        WHERE b.skip_reason IS NULL AND b.create_session
       RETURNING 1`,
    );
  }

  /**
   * One statement for the batch's turns: links each to its session and owner, writes its non-empty sides as
   * a user and an assistant message (the turn's id and created_at, texts kept whole), and records each
   * dossier in the ledger. The messages are inserted sorted by (created_at, turn_id), user before assistant,
   * so that `seq` (insertion order, the tie-breaker of message order) follows the turns, and each names the one
   * before it as its parent (the first, the session's current leaf: a dossier's later turns continue its
   * branch), so an imported conversation is one branch. The turns are read
   * once; the message trigger then sets each session's counters, preview and last_message_at.
   */
  async linkTurnsAndWriteMessages(): Promise<{ turns: number; messages: number; dossiers: number }> {
    const [row] = await this.db.query<{ turns: number; messages: number; dossiers: number }>(
      `WITH linked AS (
         UPDATE turns t
            SET session_id = b.session_id, user_id = b.owner_id
           FROM pg_temp.legacy_import_batch b
          WHERE t.project_id = b.project_id AND ${UNATTRIBUTED('t')} AND b.skip_reason IS NULL
         RETURNING t.project_id, t.session_id, t.user_id, t.turn_id, t.created_at, t.user_text, t.assistant_text
       ), sides AS MATERIALIZED (
         SELECT gen_random_uuid() AS message_id, l.project_id, l.session_id, l.user_id, l.turn_id, l.created_at,
                m.side, m.role, m.content
           FROM linked l
          CROSS JOIN LATERAL (VALUES (1, 'user', l.user_text), (2, 'assistant', l.assistant_text))
                AS m(side, role, content)
          WHERE ${HAS_TEXT('m.content')}
       ), written AS (
         INSERT INTO chat_messages
                (message_id, session_id, user_id, turn_id, role, content, metadata, created_at, updated_at,
                 parent_id, depth)
         SELECT x.message_id, x.session_id, x.user_id, x.turn_id, x.role, x.content, $1::jsonb, x.created_at,
                x.created_at, x.parent_id, CASE WHEN x.parent_id IS NULL THEN 0 END
           FROM (SELECT d.*,
                        COALESCE(lag(d.message_id) OVER (PARTITION BY d.session_id
                                                         ORDER BY d.created_at, d.turn_id, d.side),
                                 s.current_leaf_id) AS parent_id
                   FROM sides d
                   JOIN sessions s ON s.session_id = d.session_id) x
          ORDER BY x.project_id, x.created_at, x.turn_id, x.side
         RETURNING 1
       ), per_dossier AS (
         SELECT project_id, count(*)::int AS turns,
                (count(*) FILTER (WHERE ${HAS_TEXT('user_text')}) + count(*) FILTER (WHERE ${HAS_TEXT('assistant_text')}))::int
                  AS messages
           FROM linked GROUP BY project_id
       ), recorded AS (
         INSERT INTO legacy_imports AS li
                (project_id, user_id, session_id, owner_created, turns_imported, messages_written)
         SELECT b.project_id, b.owner_id, b.session_id, b.create_owner, p.turns, p.messages
           FROM per_dossier p
           JOIN pg_temp.legacy_import_batch b ON b.project_id = p.project_id
         ON CONFLICT (project_id) DO UPDATE
            SET turns_imported = li.turns_imported + EXCLUDED.turns_imported,
                messages_written = li.messages_written + EXCLUDED.messages_written,
                last_imported_at = current_timestamp
         RETURNING 1
       )
       SELECT (SELECT count(*)::int FROM linked) AS turns,
              (SELECT count(*)::int FROM written) AS messages,
              (SELECT count(*)::int FROM recorded) AS dossiers`,
      [JSON.stringify(IMPORTED_MESSAGE_METADATA)],
    );
    return row;
  }

  /**
   * Before the first batch: VACUUM (ANALYZE) of the legacy tables. On rows that were never vacuumed (a
   * database restored or upgraded just before the import) it sets hint bits and the visibility map in one
   * sequential pass, instead of the batches paying for it row by row: half the import's time on the
   * benchmark, for about a second per million turns. On a database in service it has little left to do.
   */
  async vacuumLegacyTables(): Promise<void> {
    await this.db.exec('VACUUM (ANALYZE) dossier, turns');
  }

  /** Fresh planner statistics for what the import changed, so the service (and --verify) plan well at once. */
  async analyze(): Promise<void> {
    await this.db.exec('ANALYZE turns, chat_messages, sessions, users, user_projects, legacy_imports');
  }

  // ---------------------------------------------------------------------------------------------------------
  // Verification (read-only)
  // ---------------------------------------------------------------------------------------------------------

  /** Existing dossiers that still have turns to import (not counting those whose session was deleted). */
  async notImported(projectId?: string): Promise<{ dossiers: number; examples: string[] }> {
    const [row] = await this.db.query<{ dossiers: number; examples: string[] | null }>(
      `SELECT count(*)::int AS dossiers, (array_agg(p.project_id::text ORDER BY p.project_id))[1:5] AS examples
         FROM (SELECT DISTINCT t.project_id FROM turns t
                WHERE ${UNATTRIBUTED('t')} AND ($1::uuid IS NULL OR t.project_id = $1::uuid)) p
         JOIN dossier d ON d.project_id = p.project_id
         LEFT JOIN legacy_imports l ON l.project_id = p.project_id
        WHERE l.project_id IS NULL
           OR EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = l.session_id AND s.user_id = l.user_id)`,
      [projectId ?? null],
    );
    return { dossiers: row.dossiers, examples: row.examples ?? [] };
  }

  async countImported(projectId?: string): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM legacy_imports l JOIN dossier d ON d.project_id = l.project_id
        WHERE $1::uuid IS NULL OR l.project_id = $1::uuid`,
      [projectId ?? null],
    );
    return row.n;
  }

  async nextImported(after: string, limit: number, projectId?: string): Promise<string[]> {
    const rows = await this.db.query<{ project_id: string }>(
      `SELECT l.project_id::text AS project_id
         FROM legacy_imports l JOIN dossier d ON d.project_id = l.project_id
        WHERE l.project_id > $1::uuid AND ($3::uuid IS NULL OR l.project_id = $3::uuid)
        ORDER BY l.project_id
        LIMIT $2`,
      [after, limit, projectId ?? null],
    );
    return rows.map((r) => r.project_id);
  }

  /** Ownership, membership and the session's counters, per imported dossier. */
  async verifyStructure(projectIds: string[]): Promise<StructureProblem[]> {
    const rows = await this.db.query<{ project_id: string; problem: string; note: boolean }>(
      `SELECT project_id::text AS project_id, problem, note FROM (
         SELECT l.project_id, s.session_id IS NULL AS note,
                CASE
                  WHEN s.session_id IS NULL THEN 'its imported session was deleted after the import'
                  WHEN s.user_id <> l.user_id THEN 'the session belongs to another user than the recorded owner'
                  WHEN s.project_id IS DISTINCT FROM l.project_id THEN 'the session is in another project'
                  WHEN NOT EXISTS (SELECT 1 FROM user_projects up
                                    WHERE up.user_id = l.user_id AND up.project_id = l.project_id)
                    THEN 'the owner is not a member of the project'
                  WHEN EXISTS (SELECT 1 FROM turns t
                                WHERE t.session_id = l.session_id AND t.user_id IS DISTINCT FROM l.user_id)
                    THEN 'a turn of the session is attributed to another user'
                  WHEN EXISTS (SELECT 1 FROM turns t
                                WHERE t.session_id = l.session_id AND t.project_id IS DISTINCT FROM l.project_id)
                    THEN 'a turn of another dossier is linked to the session'
                  WHEN m.user_id IS NOT NULL AND m.user_id <> l.user_id
                    THEN 'the owner differs from the owners file'
                  WHEN c.n > 0 AND leaf.depth IS NULL
                    THEN 'the current leaf is not a message of the session'
                  WHEN s.message_count <> COALESCE(leaf.depth + 1, 0)
                    THEN format('message_count is %s but the current branch has %s messages', s.message_count,
                                COALESCE(leaf.depth + 1, 0))
                  WHEN c.n > 0 AND s.last_message_at <> c.last_at
                    THEN 'last_message_at is not the time of the newest message'
                  WHEN c.n > 0 AND s.last_message_preview IS DISTINCT FROM leaf.preview
                    THEN 'last_message_preview is not the current leaf'
                END AS problem
           FROM legacy_imports l
           LEFT JOIN sessions s ON s.session_id = l.session_id
           LEFT JOIN pg_temp.legacy_import_owners m ON m.project_id = l.project_id
           LEFT JOIN LATERAL (SELECT count(*)::int AS n, max(cm.created_at) AS last_at
                                FROM chat_messages cm WHERE cm.session_id = l.session_id) c ON true
           LEFT JOIN LATERAL (SELECT lm.depth, left(lm.content, 200) AS preview FROM chat_messages lm
                               WHERE lm.message_id = s.current_leaf_id AND lm.session_id = s.session_id) leaf ON true
          WHERE l.project_id = ANY($1::uuid[])) x
        WHERE problem IS NOT NULL
        ORDER BY project_id`,
      [projectIds],
    );
    return rows.map((r) => ({ projectId: r.project_id, problem: r.problem, note: r.note }));
  }

  /**
   * Turns against messages, per imported dossier: the messages its linked turns should have produced (each
   * non-empty side, in (created_at, turn_id) order, user first) must be exactly the session's turn-linked
   * messages in (created_at, seq) order, with the same role, text and time.
   */
  async verifyMessages(
    projectIds: string[],
  ): Promise<{ problems: StructureProblem[]; turns: number; messages: number }> {
    const rows = await this.db.query<{
      project_id: string | null;
      problem: string | null;
      turns: number | null;
      messages: number | null;
    }>(
      `WITH l AS MATERIALIZED (
         SELECT li.project_id, li.session_id FROM legacy_imports li
           JOIN sessions s ON s.session_id = li.session_id
          WHERE li.project_id = ANY($1::uuid[])
       ), expected AS (
         SELECT l.project_id, e.*
           FROM l
          CROSS JOIN LATERAL (
                SELECT t.turn_id, m.role, md5(m.content) AS digest, t.created_at,
                       row_number() OVER (ORDER BY t.created_at, t.turn_id, m.side) AS rn
                  FROM turns t
                 CROSS JOIN LATERAL (VALUES (1, 'user', t.user_text), (2, 'assistant', t.assistant_text))
                       AS m(side, role, content)
                 WHERE t.session_id = l.session_id AND ${HAS_TEXT('m.content')}) e
       ), actual AS (
         SELECT l.project_id, a.*
           FROM l
          CROSS JOIN LATERAL (
                SELECT cm.message_id, cm.turn_id, cm.role, md5(cm.content) AS digest, cm.created_at,
                       row_number() OVER (ORDER BY cm.created_at, cm.seq) AS rn
                  FROM chat_messages cm
                 WHERE cm.session_id = l.session_id AND cm.turn_id IS NOT NULL) a
       ), counts AS (
         SELECT project_id, count(*) FILTER (WHERE src = 'e') AS expected, count(*) FILTER (WHERE src = 'a') AS actual
           FROM (SELECT project_id, 'e' AS src FROM expected UNION ALL SELECT project_id, 'a' FROM actual) u
          GROUP BY project_id
       ), first_difference AS (
         SELECT DISTINCT ON (e.project_id) e.project_id,
                CASE WHEN a.turn_id <> e.turn_id OR a.role <> e.role
                       THEN format('message %s is out of turn order (position %s)', a.message_id, e.rn)
                     WHEN a.created_at <> e.created_at
                       THEN format('message %s does not carry its turn''s created_at', a.message_id)
                     ELSE format('message %s differs from its turn''s text', a.message_id) END AS problem
           FROM expected e
           JOIN actual a ON a.project_id = e.project_id AND a.rn = e.rn
           JOIN counts c ON c.project_id = e.project_id AND c.expected = c.actual
          WHERE a.turn_id <> e.turn_id OR a.role <> e.role OR a.created_at <> e.created_at OR a.digest <> e.digest
          ORDER BY e.project_id, e.rn
       )
       SELECT project_id::text AS project_id,
              format('%s messages expected from its turns, %s found', expected, actual) AS problem,
              NULL::int AS turns, NULL::int AS messages
         FROM counts WHERE expected <> actual
       UNION ALL
       SELECT project_id::text, problem, NULL, NULL FROM first_difference
       UNION ALL
       SELECT NULL, NULL,
              (SELECT COALESCE(sum(c.n), 0)::int FROM l
                 CROSS JOIN LATERAL (SELECT count(*) AS n FROM turns t WHERE t.session_id = l.session_id) c),
              (SELECT count(*)::int FROM actual)`,
      [projectIds],
    );
    const totals = rows.find((r) => r.project_id === null);
    return {
      problems: rows
        .filter((r) => r.project_id !== null)
        .map((r) => ({ projectId: r.project_id as string, problem: r.problem as string, note: false })),
      turns: totals?.turns ?? 0,
      messages: totals?.messages ?? 0,
    };
  }

  private async count(sql: string, params: unknown[] = []): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(
      `WITH affected AS (${sql}) SELECT count(*)::int AS n FROM affected`,
      params,
    );
    return row.n;
  }
}
