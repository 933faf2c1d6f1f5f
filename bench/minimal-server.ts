/**
 * The minimal server: the second reference beside the same-SQL ceiling (bare-server.ts). Plain Fastify + pg,
 * and per request only what the design asks of the database, in the naive four round trips:
 *
 *   BEGIN; SET LOCAL ROLE parley_app            (one simple query)
 *   SELECT set_config('app.user_id', $1, true)
 *   SELECT ... FROM get_user_sessions(...)      or get_session_messages(...)
 *   COMMIT
 *
 * No check that the caller exists, no session lookup before a message page (row-level security decides what
 * the function returns), no validation library, no framework around the handlers. It answers the two read
 * routes the benchmark drives, list sessions and a session's message page, with the same response bodies as
 * Parley (the same field names, cursors and page anchors; timestamps as the same ISO text, read as text
 * instead of parsed into Dates, src/database/timestamps.ts), so the payloads compare. Whatever Parley spends
 * above it is the price of its checks, its framework and its transaction shape. Run by the harness:
 * `node dist/bench/minimal-server.js` with BARE_DATABASE_URL, PORT and POOL_MAX.
 */
import Fastify from 'fastify';
import { setFlagsFromString } from 'node:v8';
import pg from 'pg';
import { RAW_SQL_TYPES } from '../src/database/timestamps.js';

// The runtime settings Parley and the ceiling run with (src/main.ts): V8's allocation-site pretenuring off.
setFlagsFromString('--no-allocation-site-pretenuring');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const APP_ROLE = 'parley_app';

/** The opening round trip: a literal role, so BEGIN and SET LOCAL ROLE go as one simple query. */
const OPEN = `BEGIN; SET LOCAL ROLE ${APP_ROLE}`;
const SET_USER = `SELECT set_config('app.user_id', $1, true)`;
const LIST = `SELECT s.*, to_char(s.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
  FROM get_user_sessions($1::uuid, $2::int, $3::timestamptz, $4::uuid, $5::uuid, $6::boolean) s`;
const PAGE = `SELECT * FROM get_session_messages($1::uuid, $2::int, $3::int, $4::uuid, $5::uuid, $6::boolean)`;

// The same pool settings as Parley and the ceiling: size, statement_timeout, connections kept open.
const statementTimeout = Number(process.env.STATEMENT_TIMEOUT_MS ?? 10000);
const pool = new pg.Pool({
  connectionString: process.env.BARE_DATABASE_URL,
  max: Number(process.env.POOL_MAX ?? 10),
  min: Number(process.env.POOL_MAX ?? 10),
  idleTimeoutMillis: 60000,
  connectionTimeoutMillis: 3000,
  ...(statementTimeout > 0
    ? { statement_timeout: statementTimeout, query_timeout: statementTimeout + 1000 }
    : {}),
  keepAlive: true,
  types: RAW_SQL_TYPES,
  // As Parley's pool: UTC timestamps, set before a new connection is handed out (database.service.ts).
  onConnect: async (client) => {
    await client.query(`SET TIME ZONE 'UTC'`).catch(() => undefined);
  },
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One function call as the caller, in the naive four round trips. */
async function asCaller<R extends pg.QueryResultRow>(
  userId: string,
  text: string,
  values: unknown[],
): Promise<R[]> {
  const client = await pool.connect();
  try {
    await client.query(OPEN);
    await client.query(SET_USER, [userId]);
    const result = await client.query<R>(text, values);
    await client.query('COMMIT');
    return result.rows;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

type Query = Record<string, string | undefined>;

function caller(headers: Record<string, string | string[] | undefined>): string {
  const value = headers['x-user-id'];
  if (typeof value !== 'string' || !UUID.test(value)) throw new HttpError(401, 'unauthorized', 'X-User-ID');
  return value.toLowerCase();
}

function int(value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, 'validation_failed', 'integer');
  return n;
}

function uuid(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!UUID.test(value)) throw new HttpError(400, 'validation_failed', 'uuid');
  return value.toLowerCase();
}

const app = Fastify({ logger: false });

app.setErrorHandler((error, _request, reply) => {
  if (error instanceof HttpError) {
    void reply.status(error.status).send({ error: { code: error.code, message: error.message } });
    return;
  }
  void reply.status(500).send({ error: { code: 'internal', message: 'Internal error' } });
});

/** Answers the harness's readiness probe. */
app.get('/ready', async () => ({ status: 'ok' }));

interface SessionRow {
  session_id: string;
  project_id: string | null;
  title: string | null;
  is_active: boolean;
  message_count: number;
  last_message_preview: string | null;
  last_message_at: string;
  created_at: string;
  updated_at: string;
  cursor_at: string;
}

app.get('/api/v1/sessions', async (request) => {
  const userId = caller(request.headers);
  const query = request.query as Query;
  const limit = int(query.limit, 10, 1, 100);
  let at: string | null = null;
  let id: string | null = null;
  if (query.cursor !== undefined) {
    const parts = Buffer.from(query.cursor, 'base64url').toString('utf8').split('|');
    if (parts.length !== 3 || parts[0] !== 'v1') throw new HttpError(400, 'validation_failed', 'cursor');
    at = parts[1];
    id = uuid(parts[2]);
  }
  const rows = await asCaller<SessionRow>(userId, LIST, [userId, limit + 1, at, id, null, null]);
  const page = rows.length > limit ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return {
    data: page.map((s) => ({
      session_id: s.session_id,
      project_id: s.project_id,
      title: s.title,
      is_active: s.is_active,
      message_count: s.message_count,
      last_message_preview: s.last_message_preview,
      last_message_at: s.last_message_at,
      created_at: s.created_at,
      updated_at: s.updated_at,
    })),
    next_cursor:
      rows.length > limit && last
        ? Buffer.from(`v1|${last.cursor_at}|${last.session_id}`, 'utf8').toString('base64url')
        : null,
  };
});

interface MessageRow {
  message_id: string;
  session_id: string;
  turn_id: string | null;
  role: string;
  content: string;
  metadata: unknown;
  created_at: string;
  updated_at: string;
}

app.get('/api/v1/sessions/:session_id/messages', async (request) => {
  const userId = caller(request.headers);
  const sessionId = uuid((request.params as Query).session_id) as string;
  const query = request.query as Query;
  const limit = int(query.limit, 50, 1, 200);
  const offset = int(query.offset, 0, 0, 2147483647);
  const before = uuid(query.before);
  const after = uuid(query.after);
  const latest = query.latest === 'true';
  const rows = await asCaller<MessageRow>(userId, PAGE, [
    sessionId,
    limit + 1,
    offset,
    before,
    after,
    latest,
  ]);
  const hasMore = rows.length > limit;
  const backwards = before !== null || latest;
  const page = hasMore ? (backwards ? rows.slice(1) : rows.slice(0, limit)) : rows;
  const first = page[0]?.message_id ?? null;
  const last = page[page.length - 1]?.message_id ?? null;
  return {
    data: page.map((m) => ({
      message_id: m.message_id,
      session_id: m.session_id,
      turn_id: m.turn_id,
      role: m.role,
      content: m.content,
      metadata: m.metadata,
      created_at: m.created_at,
      updated_at: m.updated_at,
    })),
    has_more: hasMore,
    ...(before !== null
      ? { prev_before: hasMore ? first : null, next_after: last }
      : latest
        ? { prev_before: hasMore ? first : null, next_after: null }
        : after !== null
          ? { prev_before: first, next_after: hasMore ? last : null }
          : { prev_before: offset > 0 ? first : null, next_after: hasMore ? last : null }),
  };
});

const port = Number(process.env.PORT ?? 3200);
const host = process.env.HOST ?? '127.0.0.1';
await app.listen({ port, host });
