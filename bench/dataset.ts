/**
 * The benchmark data set: 1,000 users, 20,000 sessions and 2,000,000 messages on real PostgreSQL, generated
 * set-based (generate_series, one INSERT ... SELECT per table) in the schema of Parley's own migrations.
 *
 * Shape (skewed like real use):
 * - user 1 ("heavy"): 10 sessions of 50,000 messages each; user 2 ("light"): 10 sessions of 10 messages each.
 *   Listing the two costs the same if listing never counts messages.
 * - users 3, 4 and 5 hold 3,000, 2,000 and 1,200 sessions; user 4's first session holds 60,000 messages.
 * - every other user has at least one session; the remaining sessions go to users with weight u^4 (most users
 *   have a handful, some dozens); the remaining messages go to sessions with a Pareto weight (alpha 0.8,
 *   capped), so most sessions are short (median about 8 messages, 80% hold 20 or fewer) and a few hold
 *   thousands.
 * - messages alternate user / assistant, 20 seconds apart, with 20-140 and 100-500 characters.
 *
 * Ids are md5-derived, so the harness can name fixtures without asking: see userId() and sessionId().
 * The load runs in one transaction. Messages are inserted with triggers off (session_replication_role =
 * replica), then the counters, previews and last_message_at are computed set-based (with the sessions'
 * own triggers on) and verified, with the foreign keys, by a consistency query. The database is reused by later runs while GENERATOR_VERSION matches.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { migrate, MigrationError } from '../src/database/migrator.js';
import { pgExecutor } from '../src/database/sql-executor.js';
import type { BenchConfig } from './config.js';

/** Bump whenever the generated data changes: a database loaded by another version is dropped and reloaded. */
export const GENERATOR_VERSION = 4;

export const SHAPE = {
  users: 1000,
  sessions: 20000,
  messages: 2000000,
  heavyUser: 1,
  lightUser: 2,
  /** Users with thousands of sessions: user number -> sessions. */
  powerUsers: { 3: 3000, 4: 2000, 5: 1200 } as Record<number, number>,
  heavySessionMessages: 50000,
  lightSessionMessages: 10,
  fixtureSessionsPerUser: 10,
  /** User 4's first session. */
  bigSessionMessages: 60000,
} as const;

const md5Uuid = (text: string): string => {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** The id of generated user n (1-based), as PostgreSQL computes md5('parley-bench-user:' || n)::uuid. */
export const userId = (n: number): string => md5Uuid(`parley-bench-user:${n}`);
export const sessionId = (n: number): string => md5Uuid(`parley-bench-session:${n}`);

/** Text the messages are cut from (about 1,300 characters). */
const CORPUS =
  'The lighthouse keeper counted the ships that never came, and wrote each one a letter. ' +
  'Draft the opening scene again, but let the storm arrive earlier; keep the dialogue short and the sentences plain. ' +
  'Here is a revised opening: the lamp had been dark for eleven nights when Mara found the first envelope wedged ' +
  'between the rocks, addressed in her own hand to a ship that had sunk before she was born. ' +
  'Could you make the second paragraph less ornate and give the harbour master a reason to distrust her? ' +
  'Certainly. The harbour master has seen the letters before: his brother kept the light thirty years ago and ' +
  'wrote the same names on the same grey paper, until the winter the sea took him. He suspects Mara of a cruel joke. ' +
  'What would a reader expect next, and how do I subvert it without cheating? ' +
  'A reader expects a ghost. Give them a person instead: someone in the village has been answering the letters, ' +
  'and the answers are correct about things only the drowned could know. Keep the reveal for the final third. ' +
  'Tighten the pacing of chapter two; it drags between the storm and the funeral. ' +
  'Cut the walk along the cliffs to two sentences, move the funeral before the storm, and let the storm interrupt ' +
  'the wake, so the tension of the chapter rises instead of resting. Then end on the unopened letter.';

/** The whole load, in steps run on one connection inside one transaction (see ensureDataset). */
function loadSteps(): { step: string; sql: string }[] {
  const power = Object.entries(SHAPE.powerUsers);
  const fixedMessages =
    SHAPE.fixtureSessionsPerUser * SHAPE.heavySessionMessages +
    SHAPE.fixtureSessionsPerUser * SHAPE.lightSessionMessages +
    SHAPE.bigSessionMessages;
  const powerSessions = power.reduce((sum, [, n]) => sum + n, 0);
  const firstRegularUser = Math.max(...power.map(([u]) => Number(u))) + 1;
  const regularUsers = SHAPE.users - firstRegularUser + 1;
  // Each regular user has one session; the rest are shared out by weight.
  const sharedSessions = SHAPE.sessions - 2 * SHAPE.fixtureSessionsPerUser - powerSessions - regularUsers;
  const epoch = `timestamptz '2025-11-01 00:00:00+00'`;
  const corpus = CORPUS.replace(/'/g, "''");
  const script = `
-- step: plan
CREATE FUNCTION pg_temp.h(k bigint, seed bigint) RETURNS float8 LANGUAGE sql IMMUTABLE
  AS $$ SELECT ((hashint8extended(k, seed) & 4503599627370495)::float8 + 0.5) / 4503599627370496 $$;

CREATE TEMP TABLE s_plan ON COMMIT DROP AS
WITH reg_users AS (
  SELECT u AS user_no, pg_temp.h(u, 1) ^ 4 AS w FROM generate_series(${firstRegularUser}, ${SHAPE.users}) u
), reg_cum AS (
  SELECT user_no, sum(w) OVER (ORDER BY user_no) - w AS lo, sum(w) OVER (ORDER BY user_no) AS hi,
         sum(w) OVER () AS total
    FROM reg_users
), reg_counts AS (
  SELECT user_no, 1 + (floor(hi / total * ${sharedSessions}) - floor(lo / total * ${sharedSessions}))::int AS n
    FROM reg_cum
), sessions_raw AS (
  SELECT ${SHAPE.heavyUser} AS user_no, 'heavy' AS kind, i FROM generate_series(1, ${SHAPE.fixtureSessionsPerUser}) i
  UNION ALL
  SELECT ${SHAPE.lightUser}, 'light', i FROM generate_series(1, ${SHAPE.fixtureSessionsPerUser}) i
  ${power
    .map(
      ([u, n], index) =>
        `UNION ALL SELECT ${u}, ${index === 1 ? `CASE WHEN i = 1 THEN 'big' ELSE 'regular' END` : `'regular'`}, i FROM generate_series(1, ${n}) i`,
    )
    .join('\n  ')}
  UNION ALL
  SELECT r.user_no, 'regular', i FROM reg_counts r, generate_series(1, r.n) i
)
SELECT row_number() OVER (ORDER BY user_no, i)::int AS session_no, user_no, kind, 0 AS msg_count,
       NULL::timestamptz AS start_at
  FROM sessions_raw;

-- Message counts: fixtures are fixed; regular sessions get 2 plus a Pareto-weighted share of the rest.
WITH reg AS (
  SELECT session_no, least(pg_temp.h(session_no, 2) ^ (-1.0 / 0.8), 10000) AS w FROM s_plan WHERE kind = 'regular'
), cum AS (
  SELECT session_no, sum(w) OVER (ORDER BY session_no) - w AS lo, sum(w) OVER (ORDER BY session_no) AS hi,
         sum(w) OVER () AS total, count(*) OVER () AS cnt
    FROM reg
), alloc AS (
  SELECT session_no,
         2 + (floor(hi / total * (${SHAPE.messages - fixedMessages} - 2 * cnt))
              - floor(lo / total * (${SHAPE.messages - fixedMessages} - 2 * cnt)))::int AS n
    FROM cum
  UNION ALL
  SELECT session_no, 0 FROM s_plan WHERE kind <> 'regular'
)
UPDATE s_plan s
   SET msg_count = CASE s.kind WHEN 'heavy' THEN ${SHAPE.heavySessionMessages}
                               WHEN 'light' THEN ${SHAPE.lightSessionMessages}
                               WHEN 'big' THEN ${SHAPE.bigSessionMessages}
                               ELSE a.n END,
       start_at = ${epoch} + pg_temp.h(s.session_no, 3) * interval '330 days'
  FROM alloc a
 WHERE a.session_no = s.session_no;

-- step: users, projects, memberships
INSERT INTO users (user_id, email, display_name, created_at, updated_at)
SELECT md5('parley-bench-user:' || u)::uuid, 'bench-user-' || u || '@parley.test', 'Bench user ' || u,
       ${epoch} - interval '30 days' + u * interval '1 minute', ${epoch} - interval '30 days' + u * interval '1 minute'
  FROM generate_series(1, ${SHAPE.users}) u;

INSERT INTO dossier (project_id, title, created_by, created_at, updated_at)
SELECT md5('parley-bench-project:' || u)::uuid, 'Manuscript ' || u, md5('parley-bench-user:' || u)::uuid,
       ${epoch} - interval '30 days' + u * interval '1 minute', ${epoch} - interval '30 days' + u * interval '1 minute'
  FROM generate_series(1, ${SHAPE.users}) u;

INSERT INTO user_projects (user_id, project_id, created_at)
SELECT md5('parley-bench-user:' || u)::uuid, md5('parley-bench-project:' || u)::uuid,
       ${epoch} - interval '30 days' + u * interval '1 minute'
  FROM generate_series(1, ${SHAPE.users}) u;

-- step: sessions
INSERT INTO sessions (session_id, user_id, project_id, title, created_at, updated_at, last_message_at, is_active,
                      message_count)
SELECT md5('parley-bench-session:' || session_no)::uuid, md5('parley-bench-user:' || user_no)::uuid,
       md5('parley-bench-project:' || user_no)::uuid, 'Draft ' || left(md5('parley-bench-session:' || session_no), 8),
       start_at, start_at, start_at, true, 0
  FROM s_plan;

-- step: messages
-- The 2,000,000 messages with triggers and foreign-key checks off (the ids are generated consistent, and
-- the consistency query below proves it): the statement trigger would otherwise sort the whole batch.
SET LOCAL session_replication_role = replica;
-- Each conversation is one branch (one line): message k follows message k - 1 (prisma/migrations/*_message_tree).
INSERT INTO chat_messages (message_id, parent_id, depth, line_id, session_id, user_id, role, content, metadata,
                           created_at, updated_at)
SELECT md5('parley-bench-message:' || s.session_no || ':' || k)::uuid,
       CASE WHEN k > 0 THEN md5('parley-bench-message:' || s.session_no || ':' || (k - 1))::uuid END,
       k, md5('parley-bench-message:' || s.session_no || ':0')::uuid,
       md5('parley-bench-session:' || s.session_no)::uuid, md5('parley-bench-user:' || s.user_no)::uuid,
       CASE WHEN k % 2 = 0 THEN 'user' ELSE 'assistant' END,
       CASE WHEN k % 2 = 0
            THEN substr(t.txt, 1 + (k * 7919 + s.session_no) % 600, 20 + (k * 31 + s.session_no) % 120)
            ELSE substr(t.txt, 1 + (k * 1543 + s.session_no) % 500, 100 + (k * 17 + s.session_no) % 400) END,
       CASE WHEN k % 2 = 1 THEN '{"model":"builtin","finish_reason":"stop"}'::jsonb END,
       s.start_at + k * interval '20 seconds', s.start_at + k * interval '20 seconds'
  FROM s_plan s,
       (SELECT repeat('${corpus} ', 2) AS txt) t,
       generate_series(0, s.msg_count - 1) k;

-- step: counters
SET LOCAL session_replication_role = origin;

-- What the statement-level trigger would have kept, computed once for every session (the sessions' own
-- triggers fire, so whatever they maintain from last_message_at follows).
UPDATE sessions s
   SET message_count = a.n, last_message_at = a.last_at, updated_at = a.last_at,
       last_message_preview = left(m.content, 200), current_leaf_id = m.message_id
  FROM (SELECT session_id, count(*)::int AS n, max(created_at) AS last_at, max(seq) AS last_seq
          FROM chat_messages GROUP BY session_id) a
  JOIN chat_messages m ON m.seq = a.last_seq
 WHERE s.session_id = a.session_id;

-- step: search
-- What chat_messages' insert trigger would have written for search (prisma/migrations/*_message_search).
INSERT INTO message_search (message_id, user_id, session_id, role, created_at, vector)
SELECT message_id, user_id, session_id, role, created_at, app.message_search_vector(content, user_id)
  FROM chat_messages;
`;
  return script
    .split(/^-- step: /m)
    .filter((part) => part.trim() !== '')
    .map((part) => {
      const newline = part.indexOf('\n');
      return { step: part.slice(0, newline).trim(), sql: part.slice(newline + 1) };
    });
}

/** Counts sessions whose counters, preview or last_message_at disagree with their messages, and orphans. */
export const CONSISTENCY_QUERY = `
SELECT
  (SELECT count(*) FROM sessions s
     LEFT JOIN LATERAL (SELECT count(*)::int AS n FROM chat_messages c WHERE c.session_id = s.session_id) cnt ON true
     LEFT JOIN chat_messages leaf ON leaf.message_id = s.current_leaf_id
     LEFT JOIN LATERAL (SELECT c.message_id, c.created_at, left(c.content, 200) AS preview FROM chat_messages c
                         WHERE c.session_id = s.session_id ORDER BY c.created_at DESC, c.seq DESC LIMIT 1) last ON true
    WHERE s.message_count <> cnt.n
       OR (cnt.n > 0 AND (s.last_message_at IS DISTINCT FROM last.created_at
                          OR s.last_message_preview IS DISTINCT FROM last.preview
                          OR leaf.message_id IS DISTINCT FROM last.message_id
                          OR leaf.depth <> cnt.n - 1)))::int AS inconsistent_sessions,
  (SELECT count(*) FROM chat_messages c WHERE NOT EXISTS
     (SELECT 1 FROM sessions s WHERE s.session_id = c.session_id AND s.user_id = c.user_id))::int AS orphan_messages,
  (SELECT count(*) FROM sessions s WHERE NOT EXISTS
     (SELECT 1 FROM users u WHERE u.user_id = s.user_id))::int AS orphan_sessions,
  (SELECT count(*) FROM users)::int AS users,
  (SELECT count(*) FROM sessions)::int AS sessions,
  (SELECT count(*) FROM chat_messages)::int AS messages`;

export interface Consistency {
  inconsistent_sessions: number;
  orphan_messages: number;
  orphan_sessions: number;
  users: number;
  sessions: number;
  messages: number;
}

export interface DatasetInfo {
  generatorVersion: number;
  /** True when an earlier run's load was reused. */
  reused: boolean;
  /** Seconds the load took (migrations, generation, counters, verification, VACUUM ANALYZE), when it ran now. */
  loadSeconds: number | null;
  /** The load of record (this run's, or the reused one's). */
  loadedAt: string;
  recordedLoadSeconds: number;
  consistency: Consistency;
  /** Seconds per load step, when the load ran now. */
  loadSteps: Record<string, number>;
  /** Rows left by earlier runs (chat messages, chat-created sessions, renamed titles) that were put back. */
  reset: { messages: number; sessions: number; titles: number };
  /** Sizes on disk. */
  sizes: Record<string, string>;
}

type Log = (line: string) => void;

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

interface MetaRow {
  version: number;
  loaded_at: Date;
  load_seconds: number;
  max_seq: string;
}

async function readMeta(client: pg.Client): Promise<MetaRow | null> {
  const exists = await client.query<{ present: boolean }>(
    `SELECT to_regclass('bench.dataset') IS NOT NULL AS present`,
  );
  if (!exists.rows[0].present) return null;
  const rows = await client.query<MetaRow>(
    'SELECT version, loaded_at, load_seconds, max_seq FROM bench.dataset',
  );
  return rows.rows[0] ?? null;
}

/**
 * Makes sure the bench database exists, is migrated (pending migrations are applied on every run) and holds
 * this generator version's data, loading it when needed; then puts back whatever an earlier run wrote.
 */
export async function ensureDataset(config: BenchConfig, log: Log, attempt = 0): Promise<DatasetInfo> {
  const started = performance.now();
  const exists = await withClient(config.adminUrl, async (admin) => {
    const su = await admin.query<{ rolsuper: boolean }>(
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    if (!su.rows[0]?.rolsuper) throw new Error('BENCH_DATABASE_URL must connect as a superuser');
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [config.databaseName]);
    return r.rowCount === 1;
  });

  let meta: MetaRow | null = null;
  if (exists) meta = await withClient(config.databaseUrl, readMeta);
  if (exists && meta?.version !== GENERATOR_VERSION) {
    log(
      meta
        ? `bench database holds generator version ${meta.version}; dropping it to load version ${GENERATOR_VERSION}`
        : 'bench database holds no complete load; dropping it',
    );
    await withClient(config.adminUrl, (admin) =>
      admin.query(`DROP DATABASE ${config.databaseName} WITH (FORCE)`),
    );
  }
  if (!exists || meta?.version !== GENERATOR_VERSION) {
    await withClient(config.adminUrl, (admin) => admin.query(`CREATE DATABASE ${config.databaseName}`));
    meta = null;
  }

  const outcome = await withClient(config.databaseUrl, async (client) => {
    let migrated: Awaited<ReturnType<typeof migrate>>;
    try {
      migrated = await migrate(pgExecutor(client));
    } catch (error) {
      if (!(error instanceof MigrationError) || attempt > 0) throw error;
      // A migration file changed since this database was loaded (one still being written): start over.
      log(`${error.message}; dropping the bench database to reload it`);
      return 'reload' as const;
    }
    if (migrated.applied.length > 0) log(`applied migrations: ${migrated.applied.join(', ')}`);
    let reused = true;
    let loadSeconds: number | null = null;
    const steps: Record<string, number> = {};
    if (!meta) {
      reused = false;
      log(
        `loading ${SHAPE.users} users, ${SHAPE.sessions} sessions, ${SHAPE.messages} messages (generator v${GENERATOR_VERSION})...`,
      );
      await client.query('SET synchronous_commit = off');
      await client.query('BEGIN');
      try {
        for (const { step, sql } of loadSteps()) {
          const t0 = performance.now();
          await client.query(sql);
          steps[step] = Math.round((performance.now() - t0) / 100) / 10;
          log(`  ${step}: ${steps[step]} s`);
        }
        await client.query(`CREATE SCHEMA bench`);
        await client.query(
          `CREATE TABLE bench.dataset (version int NOT NULL, loaded_at timestamptz NOT NULL,
             load_seconds float8 NOT NULL, max_seq bigint NOT NULL)`,
        );
        await client.query(
          `INSERT INTO bench.dataset SELECT $1, now(), 0, (SELECT max(seq) FROM chat_messages)`,
          [GENERATOR_VERSION],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
      const t0 = performance.now();
      await client.query(
        'VACUUM (ANALYZE) users, dossier, user_projects, sessions, chat_messages, message_search',
      );
      steps['vacuum analyze'] = Math.round((performance.now() - t0) / 100) / 10;
    }

    const reset = reused ? await resetDataset(client) : { messages: 0, sessions: 0, titles: 0 };
    const consistency = (await client.query<Consistency>(CONSISTENCY_QUERY)).rows[0];
    const bad =
      consistency.inconsistent_sessions + consistency.orphan_messages + consistency.orphan_sessions > 0 ||
      consistency.users !== SHAPE.users ||
      consistency.sessions !== SHAPE.sessions ||
      consistency.messages !== SHAPE.messages;
    if (bad) throw new Error(`bench data set is not consistent: ${JSON.stringify(consistency)}`);
    if (!reused) {
      loadSeconds = (performance.now() - started) / 1000;
      steps['total (with migrations, verification, VACUUM ANALYZE)'] = Math.round(loadSeconds * 10) / 10;
      await client.query('UPDATE bench.dataset SET load_seconds = $1', [loadSeconds]);
      log(`loaded and verified in ${loadSeconds.toFixed(1)} s`);
    }
    const final = (await readMeta(client)) as MetaRow;
    const sizes = await client.query<{ name: string; size: string }>(
      `SELECT name, pg_size_pretty(pg_total_relation_size(name::regclass)) AS size
         FROM unnest(ARRAY['chat_messages', 'sessions', 'users']) name`,
    );
    const db = await client.query<{ size: string }>(
      'SELECT pg_size_pretty(pg_database_size(current_database())) AS size',
    );
    return {
      generatorVersion: GENERATOR_VERSION,
      reused,
      loadSeconds,
      loadedAt: final.loaded_at.toISOString(),
      recordedLoadSeconds: final.load_seconds,
      loadSteps: steps,
      consistency,
      reset,
      sizes: { ...Object.fromEntries(sizes.rows.map((r) => [r.name, r.size])), database: db.rows[0].size },
    };
  });
  if (outcome !== 'reload') return outcome;
  await withClient(config.adminUrl, (admin) =>
    admin.query(`DROP DATABASE ${config.databaseName} WITH (FORCE)`),
  );
  return ensureDataset(config, log, attempt + 1);
}

/**
 * Puts the data set back as loaded: deletes messages and sessions written by earlier runs (the delete trigger
 * fixes counters and previews; last_message_at is recomputed here) and restores renamed titles.
 */
export async function resetDataset(
  client: pg.Client,
): Promise<{ messages: number; sessions: number; titles: number }> {
  const meta = (await readMeta(client)) as MetaRow;
  await client.query('BEGIN');
  try {
    const touched = await client.query<{ session_id: string }>(
      'SELECT DISTINCT session_id FROM chat_messages WHERE seq > $1',
      [meta.max_seq],
    );
    const messages = await client.query('DELETE FROM chat_messages WHERE seq > $1', [meta.max_seq]);
    const sessions = await client.query('DELETE FROM sessions WHERE created_at >= $1', [meta.loaded_at]);
    // As loaded: no trigger may move updated_at while the counters and titles are put back.
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query(
      `UPDATE sessions s
          SET message_count = a.n, last_message_at = a.last_at, updated_at = a.last_at,
              last_message_preview = left(m.content, 200), current_leaf_id = m.message_id
         FROM (SELECT c.session_id, count(*)::int AS n, max(c.created_at) AS last_at, max(c.seq) AS last_seq
                 FROM chat_messages c WHERE c.session_id = ANY($1::uuid[]) GROUP BY c.session_id) a
         JOIN chat_messages m ON m.seq = a.last_seq
        WHERE s.session_id = a.session_id`,
      [touched.rows.map((r) => r.session_id)],
    );
    const titles = await client.query(
      `UPDATE sessions SET title = 'Draft ' || left(session_id::text, 8), updated_at = last_message_at
        WHERE title IS DISTINCT FROM 'Draft ' || left(session_id::text, 8) OR updated_at <> last_message_at`,
    );
    await client.query('DELETE FROM idempotency_keys');
    await client.query('COMMIT');
    const result = {
      messages: messages.rowCount ?? 0,
      sessions: sessions.rowCount ?? 0,
      titles: titles.rowCount ?? 0,
    };
    if (result.messages + result.sessions + result.titles > 0) {
      await client.query('VACUUM (ANALYZE) sessions, chat_messages');
    }
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
