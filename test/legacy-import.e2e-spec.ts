import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { generateLegacyDataset, turnCounts, type LegacyDatasetStats } from '../bench/legacy/generator.js';
import { pgExecutor } from '../src/database/sql-executor.js';
import { runLegacyImportCommand } from '../src/turns-import/legacy-import.command.js';
import { LegacyImportRepository } from '../src/turns-import/legacy-import.repository.js';
import { importExitCode, LegacyImporter, verifyExitCode } from '../src/turns-import/legacy-import.runner.js';
import type {
  ImportConnection,
  ImportSummary,
  IssueKind,
  LegacyImportOptions,
} from '../src/turns-import/legacy-import.types.js';
import { parseOwnersCsv, resolveOwners } from '../src/turns-import/owners-file.js';
import { createUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, openEmptyDatabase, type TestApp } from './support/test-app.js';

// The legacy importer (npm run migrate:legacy) against the real database: PostgreSQL when TEST_DATABASE_URL is
// set, else the embedded one. The importer gets connections of its own, as the command does; on the embedded
// database that is the one PGlite instance, used while no request is in flight.

let t: TestApp;
let conn: ImportConnection;

/** A connection for the importer: a pg.Client of its own on a server, the embedded database otherwise. */
async function connect(): Promise<ImportConnection> {
  if (!t.config.DATABASE_URL) return { db: t.sql, close: async () => undefined };
  const client = new pg.Client({ connectionString: t.config.DATABASE_URL });
  client.on('error', () => undefined); // a connection terminated on purpose must not crash the run
  await client.connect();
  return { db: pgExecutor(client), close: () => client.end() };
}

const importer = (options: LegacyImportOptions = {}) =>
  new LegacyImporter(conn.db, { openConnection: connect, ...options });
const runImport = (options: LegacyImportOptions = {}) => importer(options).run();
const verify = (options: LegacyImportOptions = {}) => importer(options).verify();

/** Empties every table the legacy data and the import live in. */
async function wipe(): Promise<void> {
  await t.sql.exec(
    'TRUNCATE legacy_imports, idempotency_keys, chat_messages, sessions, user_projects, turns, dossier, users CASCADE',
  );
}

/** Undoes an import, keeping the legacy data: its users go (and with them sessions, messages, memberships). */
async function undoImport(): Promise<void> {
  await t.sql.exec('DELETE FROM users; DELETE FROM legacy_imports;');
}

async function freshDataset(seed: number, size = { dossiers: 36, turns: 600 }): Promise<LegacyDatasetStats> {
  await wipe();
  return generateLegacyDataset(t.sql, {
    ...size,
    maxTurnsPerDossier: 150,
    bigDossiers: 1,
    badRowFactor: 30,
    seed,
  });
}

interface TurnRow {
  id?: string;
  user: string | null;
  assistant: string | null;
  at: string;
}

/** A legacy dossier with its turns, written as the pre-sessions application wrote them. */
async function legacyDossier(
  title: string | null,
  turns: TurnRow[],
  createdAt = '2024-01-01T00:00:00.000Z',
): Promise<{ projectId: string; turnIds: string[] }> {
  const projectId = randomUUID();
  await t.sql.query(
    'INSERT INTO dossier (project_id, title, created_at, updated_at) VALUES ($1, $2, $3, $3)',
    [projectId, title, createdAt],
  );
  const turnIds = turns.map((turn) => turn.id ?? randomUUID());
  if (turns.length > 0) {
    await t.sql.query(
      `INSERT INTO turns (turn_id, project_id, user_text, assistant_text, created_at)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])`,
      [
        turnIds,
        turnIds.map(() => projectId),
        turns.map((x) => x.user),
        turns.map((x) => x.assistant),
        turns.map((x) => x.at),
      ],
    );
  }
  return { projectId, turnIds };
}

/** Turns whose dossier is missing, as an old database without the foreign key could hold them. */
async function orphanTurn(projectId: string | null): Promise<string> {
  const turnId = randomUUID();
  await t.sql.exec(`
    BEGIN;
    SET LOCAL session_replication_role = replica;
    INSERT INTO turns (turn_id, project_id, user_text, assistant_text, created_at)
    VALUES ('${turnId}', ${projectId ? `'${projectId}'` : 'NULL'}, 'lost question', 'lost answer', '2023-05-01T00:00:00Z');
    COMMIT;`);
  return turnId;
}

async function scalar<T = number>(sql: string, params: unknown[] = []): Promise<T> {
  const [row] = await t.sql.query<{ v: T }>(sql, params);
  return row.v;
}

const linkedTurns = () => scalar('SELECT count(*)::int AS v FROM turns WHERE session_id IS NOT NULL');

/** Everything the import writes, exactly (ids, timestamps, the message sequence): for "nothing changed". */
async function exactState(): Promise<Record<string, string>> {
  const digest = (table: string, order: string) =>
    `(SELECT md5(COALESCE(string_agg(x::text, '|' ORDER BY ${order}), '')) FROM ${table} x)`;
  const [row] = await t.sql.query<Record<string, string>>(
    `SELECT ${digest('users', 'x.user_id')} AS users,
            ${digest('user_projects', 'x.user_id, x.project_id')} AS memberships,
            ${digest('sessions', 'x.session_id')} AS sessions,
            ${digest('chat_messages', 'x.message_id')} AS messages,
            ${digest('turns', 'x.turn_id')} AS turns,
            ${digest('dossier', 'x.project_id')} AS dossiers,
            ${digest('legacy_imports', 'x.project_id')} AS ledger,
            (SELECT last_value::text || ':' || is_called::text FROM chat_messages_seq_seq) AS seq`,
  );
  return row;
}

/**
 * What an import means, without the ids it generates or the wall-clock times it runs at: two imports of the
 * same legacy data, however they were interrupted, must agree on it.
 */
async function canonicalState(): Promise<Record<string, string>> {
  const [row] = await t.sql.query<Record<string, string>>(
    `SELECT
       (SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s', s.project_id, s.title, s.created_at,
                                 s.last_message_at, s.message_count, s.last_message_preview, u.display_name,
                                 u.email, u.created_at), E'\\n' ORDER BY s.project_id)
          FROM sessions s JOIN users u ON u.user_id = s.user_id) AS sessions,
       (SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s', project_id, turn_id, role, md5(content), created_at,
                                     metadata, position), '|' ORDER BY project_id, position))
          FROM (SELECT s.project_id, m.*, row_number() OVER (PARTITION BY m.session_id ORDER BY m.created_at, m.seq) AS position
                  FROM chat_messages m JOIN sessions s ON s.session_id = m.session_id) x) AS messages,
       (SELECT md5(string_agg(format('%s|%s|%s', t.turn_id, s.project_id, t.user_id = s.user_id), '|' ORDER BY t.turn_id))
          FROM turns t LEFT JOIN sessions s ON s.session_id = t.session_id) AS turns,
       (SELECT string_agg(format('%s|%s|%s|%s', up.project_id, u.display_name, up.created_at, up.last_activity_at),
                          E'\\n' ORDER BY up.project_id)
          FROM user_projects up JOIN users u ON u.user_id = up.user_id) AS memberships,
       (SELECT string_agg(format('%s|%s|%s', project_id, owner_created, turns_imported), E'\\n' ORDER BY project_id)
          FROM legacy_imports) AS ledger,
       (SELECT count(*)::text FROM users) AS users`,
  );
  return row;
}

const issueCount = (summary: ImportSummary, kind: IssueKind) => summary.issues[kind]?.count ?? 0;

beforeAll(async () => {
  t = await createTestApp();
  conn = await connect();
});
afterAll(async () => {
  await conn?.close();
  await t?.close();
});

describe(`legacy import: a generated legacy database (${DATABASE_KIND})`, () => {
  it('imports every importable turn as its messages, keeps the counters right, reports the bad rows, and verifies', async () => {
    const stats = await freshDataset(3);
    // The dataset really holds each kind of legacy problem the importer must survive.
    for (const key of [
      'orphanTurns',
      'emptyBoth',
      'emptyUserText',
      'emptyAssistantText',
      'duplicateTimestamps',
    ] as const) {
      expect(stats[key]).toBeGreaterThan(0);
    }
    expect(stats.largestDossier).toBe(150);

    const summary = await runImport({ batchSize: 60 });

    expect(importExitCode(summary)).toBe(0);
    expect(summary.batches).toBeGreaterThan(5);
    const messages =
      2 * stats.importableTurns - stats.emptyUserText - stats.emptyAssistantText - 2 * stats.emptyBoth;
    expect(summary).toMatchObject({
      dryRun: false,
      interrupted: false,
      dossiersPending: stats.dossiersWithTurns,
      turnsPending: stats.importableTurns,
      dossiersImported: stats.dossiersWithTurns,
      usersCreated: stats.dossiersWithTurns,
      membershipsAdded: stats.dossiersWithTurns,
      sessionsCreated: stats.dossiersWithTurns,
      turnsLinked: stats.importableTurns,
      messagesWritten: messages,
    });
    expect(issueCount(summary, 'missing_dossier')).toBe(stats.orphanTurns);
    expect(issueCount(summary, 'empty_both')).toBe(stats.emptyBoth);
    expect(issueCount(summary, 'empty_user_text')).toBe(stats.emptyUserText);
    expect(issueCount(summary, 'empty_assistant_text')).toBe(stats.emptyAssistantText);
    expect(issueCount(summary, 'duplicate_timestamp')).toBe(stats.duplicateTimestamps);
    expect(issueCount(summary, 'over_limit')).toBe(stats.overLimit);
    expect(summary.issues.failed).toBeUndefined();

    // Checked here with SQL of its own, not only through --verify.
    expect(
      await scalar(`SELECT count(*)::int AS v FROM turns t JOIN dossier d ON d.project_id = t.project_id
                     WHERE t.session_id IS NULL OR t.user_id IS NULL`),
    ).toBe(0);
    expect(
      await scalar('SELECT count(*)::int AS v FROM turns WHERE session_id IS NULL AND user_id IS NULL'),
    ).toBe(stats.orphanTurns);
    expect(await scalar('SELECT count(*)::int AS v FROM chat_messages')).toBe(messages);
    expect(
      await t.sql.query(
        'SELECT sum(turns_imported)::int AS turns, sum(messages_written)::int AS messages FROM legacy_imports',
      ),
    ).toEqual([{ turns: stats.importableTurns, messages }]);
    // Counters kept by the statement-level trigger through the bulk INSERT ... SELECT.
    expect(
      await scalar(`SELECT count(*)::int AS v FROM sessions s
                     WHERE s.message_count <> (SELECT count(*) FROM chat_messages m WHERE m.session_id = s.session_id)
                        OR s.last_message_preview IS DISTINCT FROM (SELECT left(m.content, 200) FROM chat_messages m
                             WHERE m.session_id = s.session_id ORDER BY m.created_at DESC, m.seq DESC LIMIT 1)
                        OR (s.message_count > 0 AND s.last_message_at <> (SELECT max(m.created_at) FROM chat_messages m
                             WHERE m.session_id = s.session_id))
                        OR s.created_at <> (SELECT min(t.created_at) FROM turns t WHERE t.session_id = s.session_id)`),
    ).toBe(0);
    // Message order (created_at, seq) is turn order (created_at, turn_id), user before assistant.
    expect(
      await scalar(`SELECT count(*)::int AS v FROM (
                      SELECT (SELECT array_agg(m.turn_id::text || m.role ORDER BY m.created_at, m.seq)
                                FROM chat_messages m WHERE m.session_id = s.session_id) AS actual,
                             (SELECT array_agg(t.turn_id::text || x.role ORDER BY t.created_at, t.turn_id, x.side)
                                FROM turns t
                               CROSS JOIN LATERAL (VALUES (1, 'user', t.user_text), (2, 'assistant', t.assistant_text))
                                     AS x(side, role, content)
                               WHERE t.session_id = s.session_id
                                 AND btrim(COALESCE(x.content, ''), E' \\t\\r\\n') <> '') AS expected
                        FROM sessions s) z
                     WHERE actual IS DISTINCT FROM expected`),
    ).toBe(0);
    // Each message carries its turn's text (whole), id and time, and says where it came from.
    expect(
      await scalar(`SELECT count(*)::int AS v FROM chat_messages m JOIN turns t ON t.turn_id = m.turn_id
                     WHERE m.created_at <> t.created_at
                        OR m.content <> CASE m.role WHEN 'user' THEN t.user_text ELSE t.assistant_text END
                        OR m.metadata <> '{"source": "legacy_import"}'::jsonb`),
    ).toBe(0);
    // The membership's latest activity is the dossier's history, not the day of the import.
    expect(
      await scalar(`SELECT count(*)::int AS v FROM sessions s
                      JOIN user_projects up ON up.user_id = s.user_id AND up.project_id = s.project_id
                      JOIN dossier d ON d.project_id = s.project_id
                     WHERE up.last_activity_at <> GREATEST(s.last_message_at, d.updated_at)
                        OR up.created_at <> d.created_at`),
    ).toBe(0);
    // One new owner per dossier: recognisable, no email, a member of the dossier, owning its turns.
    expect(
      await scalar(`SELECT count(*)::int AS v FROM legacy_imports l
                      JOIN users u ON u.user_id = l.user_id
                      JOIN user_projects up ON up.user_id = l.user_id AND up.project_id = l.project_id
                      JOIN sessions s ON s.session_id = l.session_id AND s.user_id = l.user_id
                     WHERE u.email IS NULL AND u.display_name LIKE 'Legacy: % [' || left(l.project_id::text, 8) || ']'`),
    ).toBe(stats.dossiersWithTurns);

    const result = await verify();
    expect(result.mismatches).toEqual([]);
    expect(verifyExitCode(result)).toBe(0);
    expect(result).toMatchObject({
      dossiersChecked: stats.dossiersWithTurns,
      turnsChecked: stats.importableTurns,
      messagesChecked: messages,
      dossiersNotImported: 0,
    });
  });

  it('running it a second time changes nothing at all', async () => {
    await freshDataset(4);
    await runImport({ batchSize: 80 });
    const before = await exactState();

    const again = await runImport({ batchSize: 80 });

    expect(again).toMatchObject({
      dossiersPending: 0,
      turnsPending: 0,
      dossiersImported: 0,
      dossiersContinued: 0,
      usersCreated: 0,
      membershipsAdded: 0,
      sessionsCreated: 0,
      messagesWritten: 0,
      turnsLinked: 0,
      batches: 0,
    });
    expect(importExitCode(again)).toBe(0);
    expect(await exactState()).toEqual(before);
  });

  it('a dry run writes nothing (not even a sequence value) and announces exactly what the real run then does', async () => {
    await freshDataset(5);
    const before = await exactState();

    const dry = await runImport({ dryRun: true, batchSize: 70 });

    expect(await exactState()).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.turnsLinked).toBeGreaterThan(0);
    const real = await runImport({ batchSize: 70 });
    const figures = (s: ImportSummary) => ({
      dossiersPending: s.dossiersPending,
      turnsPending: s.turnsPending,
      dossiersImported: s.dossiersImported,
      usersCreated: s.usersCreated,
      membershipsAdded: s.membershipsAdded,
      sessionsCreated: s.sessionsCreated,
      messagesWritten: s.messagesWritten,
      turnsLinked: s.turnsLinked,
      batches: s.batches,
      issues: s.issues,
    });
    expect(figures(dry)).toEqual(figures(real));
  });

  it('stopped between batches, or inside one, then resumed: the same end state as one uninterrupted run', async () => {
    await freshDataset(11);
    const uninterrupted = await runImport({ batchSize: 50 });
    const expected = await canonicalState();
    await undoImport();
    expect(await linkedTurns()).toBe(0);

    // Killed right after batch 2 committed.
    await expect(
      runImport({
        batchSize: 50,
        afterBatch: (n) => {
          if (n === 2) throw new Error('killed after batch 2');
        },
      }),
    ).rejects.toThrow('killed after batch 2');
    const afterFirstStop = await linkedTurns();
    expect(afterFirstStop).toBeGreaterThan(0);
    expect(afterFirstStop).toBeLessThan(uninterrupted.turnsLinked);
    expect(verifyExitCode(await verify())).toBe(1);

    // Killed inside a batch, just before its COMMIT: that batch leaves no trace.
    const sessionsBefore = await scalar('SELECT count(*)::int AS v FROM sessions');
    const stateBefore = await exactState();
    await expect(
      runImport({
        batchSize: 50,
        beforeCommit: () => {
          throw new Error('killed inside a batch');
        },
      }),
    ).rejects.toThrow('killed inside a batch');
    expect(await linkedTurns()).toBe(afterFirstStop);
    expect(await scalar('SELECT count(*)::int AS v FROM sessions')).toBe(sessionsBefore);
    expect({ ...(await exactState()), seq: '' }).toEqual({ ...stateBefore, seq: '' });

    // Run again: it continues, and ends where the uninterrupted run ended.
    const resumed = await runImport({ batchSize: 50 });
    expect(importExitCode(resumed)).toBe(0);
    expect(resumed.turnsLinked).toBe(uninterrupted.turnsLinked - afterFirstStop);
    expect(await canonicalState()).toEqual(expected);
    expect(verifyExitCode(await verify())).toBe(0);
  });

  (DATABASE_KIND === 'postgres' ? it : it.skip)(
    'a connection killed by the server in the middle of a batch loses only that batch; the next run completes it',
    async () => {
      await freshDataset(12);
      await runImport({ batchSize: 50 });
      const expected = await canonicalState();
      await undoImport();

      const victim = await connect();
      const [{ pid }] = await victim.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await expect(
        new LegacyImporter(victim.db, {
          batchSize: 50,
          beforeCommit: async (n) => {
            // With a timeout, pg_terminate_backend waits until the backend has exited, and so has
            // released its advisory lock: the next run must not find the import still "running".
            if (n === 3) await t.sql.query('SELECT pg_terminate_backend($1, 10000)', [pid]);
          },
        }).run(),
      ).rejects.toThrow();
      await victim.close().catch(() => undefined);
      const linked = await linkedTurns();
      expect(linked).toBeGreaterThan(0);

      const resumed = await runImport({ batchSize: 50 });
      expect(importExitCode(resumed)).toBe(0);
      expect(await canonicalState()).toEqual(expected);
    },
  );

  it('several batches at once (--jobs) end in the same state as one at a time', async () => {
    await freshDataset(13);
    const serial = await runImport({ batchSize: 40, jobs: 1 });
    const expected = await canonicalState();
    await undoImport();

    const parallel = await runImport({ batchSize: 40, jobs: 3 });

    expect(parallel.turnsLinked).toBe(serial.turnsLinked);
    expect(parallel.messagesWritten).toBe(serial.messagesWritten);
    expect(await canonicalState()).toEqual(expected);
    expect(verifyExitCode(await verify())).toBe(0);
  });
});

describe(`legacy import: each kind of bad legacy row (${DATABASE_KIND})`, () => {
  it('reports and skips every kind of bad row without failing, never truncates, orders ties by turn id', async () => {
    await wipe();
    const long = 'Chapter one 📚 — ' + 'Ünïcödé 夜 and emoji 👩‍💻. '.repeat(1700);
    expect([...long].length).toBeGreaterThan(32_000);
    const laterId = 'ffffffff-0000-4000-8000-000000000000';
    const earlierId = '00000000-0000-4000-8000-000000000001';
    const bad = await legacyDossier('Bad rows', [
      { user: 'Hello', assistant: 'Hi there', at: '2024-01-01T10:00:00.000Z' },
      { user: null, assistant: 'An answer to nothing', at: '2024-01-01T10:01:00.000Z' },
      { user: '', assistant: 'Another answer', at: '2024-01-01T10:02:00.000Z' },
      { user: ' \n\t ', assistant: 'A third answer', at: '2024-01-01T10:03:00.000Z' },
      { user: 'A question left unanswered', assistant: null, at: '2024-01-01T10:04:00.000Z' },
      { user: 'Another one', assistant: '', at: '2024-01-01T10:05:00.000Z' },
      { user: null, assistant: null, at: '2024-01-01T10:06:00.000Z' },
      { user: '', assistant: '   ', at: '2024-01-01T10:07:00.000Z' },
      // Same instant: inserted in the opposite order of their ids; the import orders them by turn id.
      { id: laterId, user: 'Tie B', assistant: 'Answer B', at: '2024-01-01T10:08:00.000Z' },
      { id: earlierId, user: 'Tie A', assistant: 'Answer A', at: '2024-01-01T10:08:00.000Z' },
      { user: long, assistant: 'That is a long chapter', at: '2024-01-01T10:09:00.000Z' },
    ]);
    const untitled = await legacyDossier(null, [
      {
        user: '  Please help me plan a very long saga that spans three generations of lighthouse keepers\nwith details',
        assistant: 'Gladly.',
        at: '2024-02-01T09:00:00.000Z',
      },
    ]);
    const allEmpty = await legacyDossier('   ', [
      { user: null, assistant: '', at: '2024-03-01T09:00:00.000Z' },
    ]);
    const missingDossierTurn = await orphanTurn(randomUUID());
    const nullDossierTurn = await orphanTurn(null);

    const summary = await runImport();

    expect(importExitCode(summary)).toBe(0);
    expect(summary).toMatchObject({ dossiersImported: 3, sessionsCreated: 3, turnsLinked: 13 });
    expect(summary.issues.missing_dossier).toEqual({
      count: 2,
      examples: [missingDossierTurn, nullDossierTurn].sort(),
    });
    expect(summary.issues.empty_user_text?.count).toBe(3);
    expect(summary.issues.empty_assistant_text?.count).toBe(2);
    expect(summary.issues.empty_both?.count).toBe(3);
    expect(summary.issues.duplicate_timestamp).toEqual({ count: 2, examples: [earlierId, laterId] });
    expect(summary.issues.over_limit).toEqual({ count: 1, examples: [bad.turnIds[10]] });

    const messages = await t.sql.query<{ role: string; content: string; turn_id: string }>(
      `SELECT m.role, m.content, m.turn_id::text FROM chat_messages m JOIN sessions s ON s.session_id = m.session_id
        WHERE s.project_id = $1 ORDER BY m.created_at, m.seq`,
      [bad.projectId],
    );
    expect(messages.map((m) => [m.role, m.content === long ? '<the long text>' : m.content])).toEqual([
      ['user', 'Hello'],
      ['assistant', 'Hi there'],
      ['assistant', 'An answer to nothing'],
      ['assistant', 'Another answer'],
      ['assistant', 'A third answer'],
      ['user', 'A question left unanswered'],
      ['user', 'Another one'],
      ['user', 'Tie A'],
      ['assistant', 'Answer A'],
      ['user', 'Tie B'],
      ['assistant', 'Answer B'],
      ['user', '<the long text>'],
      ['assistant', 'That is a long chapter'],
    ]);
    // The over-long text is kept whole, character for character.
    expect(
      await scalar(
        `SELECT count(*)::int AS v FROM chat_messages m JOIN turns t ON t.turn_id = m.turn_id
          WHERE m.turn_id = $1 AND m.role = 'user' AND m.content = t.user_text AND char_length(m.content) > 32000`,
        [bad.turnIds[10]],
      ),
    ).toBe(1);
    // Every turn of an existing dossier is linked, even those that gave no message; orphans are left alone.
    expect(
      await t.sql.query(
        `SELECT turn_id::text, session_id, user_id FROM turns WHERE session_id IS NULL ORDER BY turn_id`,
      ),
    ).toEqual(
      [missingDossierTurn, nullDossierTurn]
        .sort()
        .map((id) => ({ turn_id: id, session_id: null, user_id: null })),
    );
    // Titles: the dossier's; else the first line of the first user text, cut at a word within 80 characters.
    const titles = await t.sql.query<{ project_id: string; title: string; message_count: number }>(
      'SELECT project_id::text, title, message_count FROM sessions ORDER BY created_at',
    );
    expect(titles).toEqual([
      { project_id: bad.projectId, title: 'Bad rows', message_count: 13 },
      {
        project_id: untitled.projectId,
        title: 'Please help me plan a very long saga that spans three generations of lighthouse',
        message_count: 2,
      },
      // A dossier whose turns are all empty still gets its (empty) session, so its turns are linked.
      { project_id: allEmpty.projectId, title: 'Imported conversation', message_count: 0 },
    ]);
    expect(verifyExitCode(await verify())).toBe(0);
  });

  it('a dossier that fails with a database error is reported and skipped; the others are imported; a re-run completes it', async () => {
    await wipe();
    const fine = await legacyDossier('Fine', [{ user: 'q', assistant: 'a', at: '2024-01-01T10:00:00.000Z' }]);
    const broken = await legacyDossier('Broken', [
      { user: 'q', assistant: 'a', at: '2024-01-01T11:00:00.000Z' },
    ]);
    const alsoFine = await legacyDossier('Also fine', [
      { user: 'q', assistant: 'a', at: '2024-01-01T12:00:00.000Z' },
    ]);

    // An owner that does not exist (e.g. deleted after the owners file was checked): a foreign-key violation.
    const summary = await runImport({ owners: new Map([[broken.projectId, randomUUID()]]) });

    expect(importExitCode(summary)).toBe(1);
    expect(summary.issues.failed).toMatchObject({ count: 1, examples: [broken.projectId] });
    expect(summary.issues.failed?.message).toMatch(/foreign key/);
    expect(summary.dossiersImported).toBe(2);
    const imported = await t.sql.query<{ project_id: string }>(
      'SELECT project_id::text FROM sessions ORDER BY 1',
    );
    expect(imported.map((r) => r.project_id)).toEqual([fine.projectId, alsoFine.projectId].sort());
    const check = await verify();
    expect(verifyExitCode(check)).toBe(1);
    expect(check.dossiersNotImported).toBe(1);

    const again = await runImport();
    expect(importExitCode(again)).toBe(0);
    expect(again.dossiersImported).toBe(1);
    expect(verifyExitCode(await verify())).toBe(0);
  });
});

describe(`legacy import: owners, later turns, one dossier (${DATABASE_KIND})`, () => {
  it('maps dossiers to existing users by id and by email (any case); the others get a new legacy user', async () => {
    await wipe();
    const ada = await createUser(t.app, { email: 'Ada@Example.test', display_name: 'Ada' });
    const bob = await createUser(t.app, { email: 'bob@example.test', display_name: 'Bob' });
    const byId = await legacyDossier('By id', [
      { user: 'q1', assistant: 'a1', at: '2024-01-01T10:00:00.000Z' },
    ]);
    const byEmail = await legacyDossier('By email', [
      { user: 'q2', assistant: 'a2', at: '2024-01-01T10:00:00.000Z' },
    ]);
    const unmapped = await legacyDossier('Nobody’s novel', [
      { user: 'q3', assistant: 'a3', at: '2024-01-02T10:00:00.000Z' },
    ]);

    const file = parseOwnersCsv(
      `project_id,owner\n# mapped by hand\n${byId.projectId},${ada.user_id}\n"${byEmail.projectId.toUpperCase()}",BOB@example.TEST\n\n`,
    );
    expect(file.problems).toEqual([]);
    const resolved = await resolveOwners(new LegacyImportRepository(conn.db), file);
    expect(resolved.problems).toEqual([]);
    expect(resolved.owners).toEqual(
      new Map([
        [byId.projectId, ada.user_id],
        [byEmail.projectId, bob.user_id],
      ]),
    );

    const summary = await runImport({ owners: resolved.owners });

    expect(summary).toMatchObject({
      usersCreated: 1,
      ownersMapped: 2,
      sessionsCreated: 3,
      membershipsAdded: 3,
    });
    const owners = await t.sql.query<{
      project_id: string;
      user_id: string;
      email: string | null;
      display_name: string;
    }>(
      `SELECT s.project_id::text, s.user_id::text, u.email, u.display_name
         FROM sessions s JOIN users u ON u.user_id = s.user_id
         JOIN user_projects up ON up.user_id = s.user_id AND up.project_id = s.project_id
        WHERE NOT EXISTS (SELECT 1 FROM turns t WHERE t.session_id = s.session_id AND t.user_id <> s.user_id)`,
    );
    expect(owners).toHaveLength(3);
    const ownerOf = (projectId: string) => owners.find((o) => o.project_id === projectId);
    expect(ownerOf(byId.projectId)?.user_id).toBe(ada.user_id);
    expect(ownerOf(byEmail.projectId)?.user_id).toBe(bob.user_id);
    expect(ownerOf(unmapped.projectId)).toMatchObject({
      email: null,
      display_name: `Legacy: Nobody’s novel [${unmapped.projectId.slice(0, 8)}]`,
    });
    expect(await scalar('SELECT count(*)::int AS v FROM users')).toBe(3);

    expect(verifyExitCode(await verify({ owners: resolved.owners }))).toBe(0);
    const disagreeing = await verify({ owners: new Map([[byId.projectId, bob.user_id]]) });
    expect(disagreeing.mismatches).toEqual([
      { projectId: byId.projectId, problem: 'the owner differs from the owners file' },
    ]);
  });

  it('an owners file with unusable lines is refused line by line, before anything is written', async () => {
    await wipe();
    const dossier = await legacyDossier('D', [{ user: 'q', assistant: 'a', at: '2024-01-01T10:00:00.000Z' }]);
    const ghost = randomUUID();
    // Two users gave the same address (emails are unverified, not unique): it names neither.
    await createUser(t.app, { email: 'twins@example.test' });
    await createUser(t.app, { email: 'Twins@Example.test' });
    const file = parseOwnersCsv(
      [
        `${dossier.projectId},nobody@example.test`,
        `${randomUUID()},${ghost}`,
        'not-a-uuid,ada@example.test',
        `${dossier.projectId},someone@example.test`,
        `${randomUUID()},not an email`,
        `${randomUUID()},twins@example.test`,
      ].join('\n'),
    );
    const resolved = await resolveOwners(new LegacyImportRepository(conn.db), file);
    expect(resolved.problems).toEqual([
      'line 3: "not-a-uuid" is not a project id (UUID)',
      `line 4: project ${dossier.projectId} already mapped to nobody@example.test on line 1`,
      'line 5: "not an email" is neither a user id (UUID) nor an email',
      'line 1: no user with email nobody@example.test',
      `line 2: no user with id ${ghost}`,
      'line 6: email twins@example.test is ambiguous: 2 users gave it; name the owner by user id',
    ]);
  });

  it('turns that reach an imported dossier later are appended to its session; a session its owner deleted is never re-created', async () => {
    await wipe();
    const dossier = await legacyDossier('Ongoing', [
      { user: 'first', assistant: 'reply one', at: '2024-01-01T10:00:00.000Z' },
      { user: 'second', assistant: 'reply two', at: '2024-01-01T10:05:00.000Z' },
    ]);
    await runImport();
    const [session] = await t.sql.query<{ session_id: string; user_id: string }>(
      'SELECT session_id::text, user_id::text FROM sessions',
    );

    await t.sql.query(
      `INSERT INTO turns (project_id, user_text, assistant_text, created_at) VALUES ($1, 'third', 'reply three', '2024-01-02T08:00:00Z')`,
      [dossier.projectId],
    );
    const continued = await runImport();
    expect(continued).toMatchObject({
      dossiersContinued: 1,
      sessionsCreated: 0,
      usersCreated: 0,
      messagesWritten: 2,
    });
    const [after] = await t.sql.query<{
      message_count: number;
      last_message_preview: string;
      last_message_at: Date;
    }>('SELECT message_count, last_message_preview, last_message_at FROM sessions WHERE session_id = $1', [
      session.session_id,
    ]);
    expect(after).toEqual({
      message_count: 6,
      last_message_preview: 'reply three',
      last_message_at: new Date('2024-01-02T08:00:00Z'),
    });
    expect(verifyExitCode(await verify())).toBe(0);

    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${session.session_id}`,
      headers: { 'x-user-id': session.user_id },
    });
    expect(deleted.statusCode).toBe(204);
    await t.sql.query(
      `INSERT INTO turns (project_id, user_text, assistant_text, created_at) VALUES ($1, 'fourth', 'reply four', '2024-01-03T08:00:00Z')`,
      [dossier.projectId],
    );
    const afterDelete = await runImport();
    expect(importExitCode(afterDelete)).toBe(0);
    expect(afterDelete).toMatchObject({ sessionsCreated: 0, messagesWritten: 0, turnsLinked: 0 });
    expect(afterDelete.issues.session_deleted).toEqual({ count: 1, examples: [dossier.projectId] });
    expect(await scalar('SELECT count(*)::int AS v FROM sessions')).toBe(0);
    const check = await verify();
    expect(verifyExitCode(check)).toBe(0);
    expect(check.notes).toEqual([
      { projectId: dossier.projectId, problem: 'its imported session was deleted after the import' },
    ]);
  });

  it('--project imports that one dossier only', async () => {
    await wipe();
    const one = await legacyDossier('One', [{ user: 'q', assistant: 'a', at: '2024-01-01T10:00:00.000Z' }]);
    const other = await legacyDossier('Other', [
      { user: 'q', assistant: 'a', at: '2024-01-01T10:00:00.000Z' },
    ]);

    const summary = await runImport({ projectId: one.projectId });

    expect(summary).toMatchObject({ dossiersPending: 1, dossiersImported: 1, turnsLinked: 1 });
    expect(await t.sql.query('SELECT project_id::text FROM sessions')).toEqual([
      { project_id: one.projectId },
    ]);
    expect(verifyExitCode(await verify({ projectId: one.projectId }))).toBe(0);
    const everything = await verify();
    expect(verifyExitCode(everything)).toBe(1);
    expect(everything.mismatches).toEqual([
      { projectId: other.projectId, problem: 'has turns that were not imported' },
    ]);
  });
});

describe(`legacy import: verification finds every kind of mismatch (${DATABASE_KIND})`, () => {
  it('a missing message, changed text, swapped order, another owner or a wrong counter each fail --verify', async () => {
    await wipe();
    const turns = (n: number): TurnRow[] =>
      Array.from({ length: n }, (_, i) => ({
        user: `question ${i}`,
        assistant: `answer ${i}`,
        at: `2024-01-01T10:0${i}:00.000Z`,
      }));
    const names = ['deleted', 'edited', 'swapped', 'stolen', 'miscounted', 'intact'];
    const dossiers = new Map<string, string>();
    for (const name of names) dossiers.set(name, (await legacyDossier(name, turns(3))).projectId);
    await runImport();
    expect(verifyExitCode(await verify())).toBe(0);
    const thief = await createUser(t.app, { display_name: 'Thief' });
    const session = (name: string) =>
      `(SELECT session_id FROM sessions WHERE project_id = '${dossiers.get(name)}')`;

    // The delete trigger keeps the counters right when a message goes...
    await t.sql.query(
      `DELETE FROM chat_messages WHERE message_id = (SELECT message_id FROM chat_messages WHERE session_id = ${session('deleted')}
        ORDER BY created_at DESC, seq DESC LIMIT 1)`,
    );
    expect(
      await t.sql.query(
        `SELECT message_count, last_message_preview FROM sessions WHERE session_id = ${session('deleted')}`,
      ),
    ).toEqual([{ message_count: 5, last_message_preview: 'question 2' }]);
    // ... but the session no longer holds what its turns said.
    await t.sql.query(
      `UPDATE chat_messages SET content = 'rewritten' WHERE session_id = ${session('edited')} AND role = 'user'
          AND content = 'question 1'`,
    );
    // Swaps the insertion order of a turn's two messages (consecutive seq values q and q + 1).
    await t.sql.exec(`
      UPDATE chat_messages SET seq = -seq WHERE session_id = ${session('swapped')} AND content IN ('question 1', 'answer 1');
      UPDATE chat_messages SET seq = 1 - seq WHERE session_id = ${session('swapped')} AND content = 'question 1';
      UPDATE chat_messages SET seq = -seq - 1 WHERE session_id = ${session('swapped')} AND content = 'answer 1';`);
    await t.sql.query(`UPDATE sessions SET user_id = $1 WHERE session_id = ${session('stolen')}`, [
      thief.user_id,
    ]);
    await t.sql.query(`UPDATE sessions SET message_count = 99 WHERE session_id = ${session('miscounted')}`);

    const result = await verify();

    expect(verifyExitCode(result)).toBe(1);
    const problems = new Map(result.mismatches.map((m) => [m.projectId, m.problem]));
    expect(problems.get(dossiers.get('deleted')!)).toBe('6 messages expected from its turns, 5 found');
    expect(problems.get(dossiers.get('edited')!)).toMatch(/differs from its turn's text/);
    expect(problems.get(dossiers.get('swapped')!)).toMatch(/out of turn order/);
    expect(problems.get(dossiers.get('stolen')!)).toBe(
      'the session belongs to another user than the recorded owner',
    );
    expect(problems.get(dossiers.get('miscounted')!)).toBe(
      'message_count is 99 but the current branch has 6 messages',
    );
    expect(problems.has(dossiers.get('intact')!)).toBe(false);
    expect(result.mismatches).toHaveLength(5);
  });
});

describe(`legacy import: the imported history through the API (${DATABASE_KIND})`, () => {
  it('the owner reads the imported sessions and messages; anyone else gets nothing (404)', async () => {
    await wipe();
    const owner = await createUser(t.app, { display_name: 'Writer' });
    const stranger = await createUser(t.app, { display_name: 'Stranger' });
    const novel = await legacyDossier('My novel', [
      { user: 'Once upon a time', assistant: 'A lovely start.', at: '2023-04-01T09:00:00.000Z' },
      { user: 'What next?', assistant: null, at: '2023-04-01T09:05:00.000Z' },
      { user: 'The end', assistant: 'Bravo 👏', at: '2023-04-02T18:30:00.000Z' },
    ]);
    const unclaimed = await legacyDossier('Unclaimed', [
      { user: 'hello', assistant: 'hi', at: '2023-05-01T09:00:00.000Z' },
    ]);
    await runImport({ owners: new Map([[novel.projectId, owner.user_id]]) });
    const get = (url: string, headers: Record<string, string>) =>
      t.app.inject({ method: 'GET', url, headers });

    const list = await get('/api/v1/sessions', owner.headers);
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({
      data: [
        {
          project_id: novel.projectId,
          title: 'My novel',
          message_count: 5,
          last_message_preview: 'Bravo 👏',
          last_message_at: '2023-04-02T18:30:00.000Z',
          created_at: '2023-04-01T09:00:00.000Z',
        },
      ],
      next_cursor: null,
    });
    const sessionId: string = list.json().data[0].session_id;

    const page = await get(`/api/v1/sessions/${sessionId}/messages`, owner.headers);
    expect(page.statusCode).toBe(200);
    const body = page.json();
    expect(body).toMatchObject({ total: 5, has_more: false });
    expect(
      body.data.map((m: { role: string; content: string; turn_id: string; created_at: string }) => [
        m.role,
        m.content,
        m.turn_id,
        m.created_at,
      ]),
    ).toEqual([
      ['user', 'Once upon a time', novel.turnIds[0], '2023-04-01T09:00:00.000Z'],
      ['assistant', 'A lovely start.', novel.turnIds[0], '2023-04-01T09:00:00.000Z'],
      ['user', 'What next?', novel.turnIds[1], '2023-04-01T09:05:00.000Z'],
      ['user', 'The end', novel.turnIds[2], '2023-04-02T18:30:00.000Z'],
      ['assistant', 'Bravo 👏', novel.turnIds[2], '2023-04-02T18:30:00.000Z'],
    ]);
    expect(body.data[0].metadata).toEqual({ source: 'legacy_import' });
    expect((await get(`/api/v1/sessions/${sessionId}`, owner.headers)).statusCode).toBe(200);
    expect((await get(`/api/v1/projects/${novel.projectId}`, owner.headers)).statusCode).toBe(200);

    // Someone else: the session, its messages and the project do not exist for them.
    expect((await get('/api/v1/sessions', stranger.headers)).json()).toMatchObject({ data: [] });
    for (const url of [
      `/api/v1/sessions/${sessionId}`,
      `/api/v1/sessions/${sessionId}/messages`,
      `/api/v1/projects/${novel.projectId}`,
    ]) {
      const response = await get(url, stranger.headers);
      expect({ url, status: response.statusCode }).toEqual({ url, status: 404 });
    }

    // The user created for an unclaimed dossier can act (X-User-ID) and sees only its own history.
    const legacyOwner = await scalar<string>(
      'SELECT user_id::text AS v FROM legacy_imports WHERE project_id = $1',
      [unclaimed.projectId],
    );
    const theirs = await get('/api/v1/sessions', { 'x-user-id': legacyOwner });
    expect(theirs.json().data.map((s: { project_id: string }) => s.project_id)).toEqual([
      unclaimed.projectId,
    ]);
    expect(
      (await get(`/api/v1/sessions/${sessionId}/messages`, { 'x-user-id': legacyOwner })).statusCode,
    ).toBe(404);
  });
});

describe(`legacy import: the command (${DATABASE_KIND})`, () => {
  function capture() {
    let text = '';
    return { write: (chunk: string) => (text += chunk), isTTY: false, text: () => text };
  }
  const command = async (...args: string[]) => {
    const stdout = capture();
    const stderr = capture();
    const code = await runLegacyImportCommand(['node', 'import.cli.js', ...args], {
      stdout,
      stderr,
      openDatabase: connect,
    });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  it('--help describes every option and exits 0; a bad option exits 2', async () => {
    const help = await command('--help');
    expect(help.code).toBe(0);
    for (const option of [
      '--dry-run',
      '--batch-size',
      '--owners',
      '--project',
      '--verify',
      '--jobs',
      '--json',
    ]) {
      expect(help.stdout).toContain(option);
    }
    expect(await command('--batch-size', '0')).toMatchObject({ code: 2 });
    expect(await command('--project', 'nope')).toMatchObject({ code: 2 });
  });

  it('refuses to start (exit 2) on a database that is not migrated, or as a role under row-level security', async () => {
    const empty = await openEmptyDatabase();
    const stderr = capture();
    const unmigrated = await runLegacyImportCommand(['node', 'import.cli.js'], {
      stdout: capture(),
      stderr,
      openDatabase: async () => ({ db: empty.sql, close: empty.close }),
    });
    expect(unmigrated).toBe(2);
    expect(stderr.text()).toContain('run `npm run db:migrate` first');

    const restricted = await connect();
    await restricted.db.exec('SET ROLE parley_app');
    const stderr2 = capture();
    try {
      const code = await runLegacyImportCommand(['node', 'import.cli.js'], {
        stdout: capture(),
        stderr: stderr2,
        openDatabase: async () => ({ db: restricted.db, close: async () => undefined }),
      });
      expect(code).toBe(2);
      expect(stderr2.text()).toContain('must bypass row-level security');
    } finally {
      await restricted.db.exec('RESET ROLE'); // the embedded database is shared with the app
      await restricted.close();
    }
  });

  /**
   * Runs the command and, when its first progress line is written (the run holds its lock and is about to
   * import), calls the signal handlers the command installed (not the process's others) once per entry of
   * `signals`. process.exit is recorded rather than obeyed.
   */
  async function commandSignalled(signals: NodeJS.Signals[], ...args: string[]) {
    const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
    const exits: (number | undefined)[] = [];
    const exitsWhenSignalled: (number | undefined)[][] = [];
    const realExit = process.exit;
    process.exit = ((code?: number) => void exits.push(code)) as typeof process.exit;
    const stdout = capture();
    let text = '';
    let signalled = false;
    const stderr = {
      isTTY: false,
      write: (chunk: string) => {
        text += chunk;
        if (!signalled && /^import: /m.test(chunk)) {
          signalled = true;
          for (const signal of signals)
            for (const listener of process.listeners(signal))
              if (!before.get(signal)!.has(listener)) (listener as (s: string) => void)(signal);
          exitsWhenSignalled.push([...exits]);
        }
        return true;
      },
    };
    try {
      const code = await runLegacyImportCommand(['node', 'import.cli.js', ...args], {
        stdout,
        stderr,
        openDatabase: connect,
      });
      return { code, stdout: stdout.text(), stderr: text, exits, exitsWhenSignalled: exitsWhenSignalled[0] };
    } finally {
      process.exit = realExit;
    }
  }

  it('SIGTERM once finishes the batch in progress and exits 130; the next run completes the import', async () => {
    const stats = await freshDataset(41, { dossiers: 12, turns: 150 });
    const listeners = process.listenerCount('SIGTERM');
    const stopped = await commandSignalled(['SIGTERM'], '--batch-size', '20', '--jobs', '1');
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain('SIGTERM: stopping after the batch in progress');
    expect(stopped.exits).toEqual([]);
    const linked = await linkedTurns();
    expect(linked).toBeGreaterThan(0); // the batch in progress was finished and committed
    expect(linked).toBeLessThan(stats.importableTurns);
    expect(process.listenerCount('SIGTERM')).toBe(listeners); // the command's handler is gone

    const rest = await command();
    expect(rest.code).toBe(0);
    expect(await linkedTurns()).toBe(stats.importableTurns);
    expect((await command('--verify')).code).toBe(0);
  });

  it('Ctrl-C twice stops at once: exit 130 from the second signal, without waiting for the batch', async () => {
    await freshDataset(42, { dossiers: 12, turns: 150 });
    const listeners = process.listenerCount('SIGINT');
    const stopped = await commandSignalled(['SIGINT', 'SIGINT'], '--batch-size', '20', '--jobs', '1');
    expect(stopped.stderr).toContain('SIGINT: stopping after the batch in progress');
    expect(stopped.stderr).toContain('SIGINT again: stopping now');
    // process.exit(130) was called by the second signal itself, before any batch was done.
    expect(stopped.exitsWhenSignalled).toEqual([130]);
    expect(stopped.code).toBe(130);
    expect(process.listenerCount('SIGINT')).toBe(listeners);
  });

  (DATABASE_KIND === 'postgres' ? it : it.skip)(
    'a second importer (or --verify) started while one runs is refused with exit 2; the first finishes (PostgreSQL: the embedded database has one session, which holds the lock itself)',
    async () => {
      const stats = await freshDataset(43, { dossiers: 12, turns: 150 });
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      // The first importer takes the lock, then waits for its worker connections until the gate opens.
      const first = new LegacyImporter(conn.db, {
        jobs: 2,
        openConnection: async () => {
          holding();
          await gate;
          return connect();
        },
      }).run();
      await held;
      try {
        const second = await command();
        expect(second.code).toBe(2);
        expect(second.stderr).toContain('another legacy import (or verification) is running');
        const verifying = await command('--verify');
        expect(verifying.code).toBe(2);
        expect(verifying.stderr).toContain('another legacy import (or verification) is running');
        expect(await linkedTurns()).toBe(0);
      } finally {
        release();
      }
      const summary = await first;
      expect(summary.turnsLinked).toBe(stats.importableTurns);
      // The lock is released with the first run: the next one starts (and has nothing left to do).
      expect((await command('--verify')).code).toBe(0);
    },
  );

  it('imports with progress lines and a summary, verifies, refuses a bad owners file or an unknown dossier (exit 2)', async () => {
    const stats = await freshDataset(21, { dossiers: 12, turns: 150 });
    const dir = await mkdtemp(join(tmpdir(), 'parley-legacy-'));
    const badOwners = join(dir, 'owners.csv');
    await writeFile(badOwners, `project_id,owner\n${randomUUID()},nobody@example.test\n`);

    const refused = await command('--owners', badOwners);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('line 2: no user with email nobody@example.test');
    expect(await linkedTurns()).toBe(0);
    expect((await command('--owners', join(dir, 'missing.csv'))).code).toBe(2);
    expect((await command('--project', randomUUID())).code).toBe(2);

    const dry = await command('--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('DRY RUN (nothing written)');
    expect(await linkedTurns()).toBe(0);

    const run = await command('--json', '--batch-size', '40');
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^import: 0\/\d[\d,]* turns/m);
    expect(run.stderr).toMatch(/turns\/s, ETA/);
    const summary = JSON.parse(run.stdout) as ImportSummary;
    expect(summary.turnsLinked).toBe(stats.importableTurns);

    const text = await command();
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Legacy import finished');
    expect(text.stdout).toMatch(/turns whose dossier is missing\s+\d+: skipped/);

    const verified = await command('--verify');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('verification PASSED');
    await t.sql.query(
      'UPDATE sessions SET message_count = message_count + 1 WHERE session_id = (SELECT min(session_id::text)::uuid FROM sessions)',
    );
    const failed = await command('--verify');
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('MISMATCH');
  });
});

describe('legacy dataset generator', () => {
  it('spreads exactly the asked turns over the dossiers, skewed, within 1..max, a few at the maximum', () => {
    const counts = turnCounts({ dossiers: 10_000, turns: 100_000, maxTurnsPerDossier: 5000, seed: 1 });
    expect(counts).toHaveLength(10_000);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...counts)).toBe(5000);
    const sorted = [...counts].sort((a, b) => a - b);
    expect(sorted[5000]).toBeLessThanOrEqual(5); // most conversations are short
    expect(turnCounts({ dossiers: 10_000, turns: 100_000, seed: 1 })).toEqual(counts); // deterministic
  });
});
