/**
 * The ceiling: a bare Fastify + pg server (no Nest, no Prisma, no validation library) that answers the routes
 * the benchmark drives (users/me, projects list and get, sessions list, message page, rename, chat) with exactly the SQL Parley sends (bench/queries.ts), in the same transaction shape:
 *
 *   BEGIN; SELECT set_config('role', ...), set_config('app.user_id', ...), app.assert_user_exists(...);
 *   <the same statements>; COMMIT
 *
 * on a pool of the same size, with the same response bodies. Whatever Parley spends above this is framework,
 * ORM and serialization overhead. Chat builds the model's context and the built-in provider's reply with
 * Parley's own pure functions (buildContext, composeBuiltinReply), so both answer the same text, without the
 * AI SDK around them. Run by the harness: `node dist/bench/bare-server.js` with BARE_DATABASE_URL, PORT and
 * POOL_MAX.
 */
import Fastify, { type FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import pg from 'pg';
import { buildContext, type StoredMessage } from '../src/chat/chat-context.js';
import { END_GENERATION, INSERT_GENERATION } from '../src/chat/generations.sql.js';
import { BUILTIN_MODEL_ID, composeBuiltinReply } from '../src/llm/builtin.provider.js';
import { AppError } from '../src/common/app-error.js';
import { PROJECT_CURSOR, SESSION_CURSOR } from '../src/common/keyset-cursor.js';
import { EnvironmentVariables } from '../src/config/app-config.js';
import { queryAfter, type Statement } from '../src/database/sql-executor.js';
import { RAW_SQL_TYPES } from '../src/database/timestamps.js';
import { DEFAULT_PROJECT_PAGE, projectPageOfRows } from '../src/projects/projects.sql.js';
import {
  APP_ROLE,
  CONTEXT,
  BRANCH_CONTEXT,
  contextWindow,
  INSERT_MESSAGE,
  LIST_PROJECTS,
  LIST_PROJECTS_AFTER,
  LIST_SESSIONS,
  MESSAGE_PAGE,
  nextContextWindow,
  PROJECT_VIEW,
  SESSION_BY_ID,
  sessionMessagePage,
  sessionPageOfRows,
  SYSTEM_MESSAGES,
  UPDATE_SESSION,
  USER_BY_ID,
  type ContextRow,
  type MessagePageRow,
  type MessageRow,
  type ProjectViewRow,
  type SessionListRow,
  type SessionRow,
} from './queries.js';

// Parley's runtime settings (src/main.ts): V8's allocation-site pretenuring off.
setFlagsFromString('--no-allocation-site-pretenuring');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// The pool Parley's DatabaseService opens (DB_POOL_MAX, DB_CONNECT_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS
// defaults): statement_timeout is a session setting the server honours on every statement, so it is part of
// the same work. STATEMENT_TIMEOUT_MS=0 leaves it out.
const statementTimeout = Number(process.env.STATEMENT_TIMEOUT_MS ?? 10000);
const pool = new pg.Pool({
  connectionString: process.env.BARE_DATABASE_URL,
  max: Number(process.env.POOL_MAX ?? 10),
  // Parley's defaults (DB_POOL_MIN = DB_POOL_MAX, DB_POOL_IDLE_TIMEOUT_MS): opened connections stay open.
  min: Number(process.env.POOL_MAX ?? 10),
  idleTimeoutMillis: 60000,
  connectionTimeoutMillis: 3000,
  ...(statementTimeout > 0
    ? { statement_timeout: statementTimeout, query_timeout: statementTimeout + 1000 }
    : {}),
  keepAlive: true,
  // Timestamps as Parley's raw-SQL paths read them (src/database/timestamps.ts): UTC text to the millisecond.
  types: RAW_SQL_TYPES,
  // As Parley's pool: UTC timestamps, set before a new connection is handed out (database.service.ts).
  onConnect: async (client) => {
    await client.query(`SET TIME ZONE 'UTC'`).catch(() => undefined);
  },
});

/** The statements of a transaction, as the work sends them. */
interface TxClient {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * One transaction as the caller, like DatabaseService.asUser(): BEGIN and the context statement go out in
 * front of the work's first statement, in its round trip (queryAfter, the same code Parley uses).
 */
async function asUser<T>(userId: string, work: (client: TxClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let opening: Statement[] | null = [
    { text: 'BEGIN' },
    { text: CONTEXT, values: [APP_ROLE, userId, userId] },
  ];
  const open = () => {
    const [begin, context] = opening as Statement[];
    opening = null;
    return queryAfter(client, [begin], { text: context.text, values: context.values as string[] });
  };
  const tx: TxClient = {
    query: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
      if (!opening) return client.query<R>(text, values);
      const prefix = opening;
      opening = null;
      return queryAfter<R>(client, prefix, { text, values });
    },
  };
  try {
    const result = await work(tx);
    if (opening) await open();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    const checked = opening
      ? await open().then(
          () => error,
          (contextError: unknown) => contextError,
        )
      : error;
    await client.query('ROLLBACK').catch(() => undefined);
    if ((checked as { code?: string }).code === '28000')
      throw new HttpError(401, 'unauthorized', 'Unknown user');
    throw checked;
  } finally {
    client.release();
  }
}

function caller(headers: Record<string, string | string[] | undefined>): string {
  const value = headers['x-user-id'];
  if (typeof value !== 'string' || !UUID.test(value.trim())) {
    throw new HttpError(401, 'unauthorized', 'X-User-ID must be a user id (UUID)');
  }
  return value.trim().toLowerCase();
}

const app = Fastify({ logger: false });

app.setErrorHandler((error, _request, reply: FastifyReply) => {
  if (error instanceof HttpError) {
    void reply.status(error.status).send({ error: { code: error.code, message: error.message } });
    return;
  }
  // Parley's own validation failures (the session cursor's codec throws them).
  if (error instanceof AppError && error.code === 'validation_failed') {
    void reply.status(400).send({ error: { code: error.code, message: error.message } });
    return;
  }
  void reply.status(500).send({ error: { code: 'internal', message: 'Internal error' } });
});

interface UserRow {
  user_id: string;
  email: string | null;
  display_name: string | null;
  avatar_url: string | null;
  created_at: string;
  updated_at: string;
}

app.get('/api/v1/users/me', async (request) => {
  const userId = caller(request.headers);
  const user = await asUser(userId, async (client) => {
    const rows = await client.query<UserRow>(USER_BY_ID, [userId]);
    return rows.rows[0];
  });
  if (!user) throw new HttpError(404, 'not_found', 'User not found');
  return {
    user_id: user.user_id,
    email: user.email,
    display_name: user.display_name,
    avatar_url: user.avatar_url,
    created_at: user.created_at,
    updated_at: user.updated_at,
  };
});

// ---------------------------------------------------------------------------------------------------------
// Projects: ProjectsService.list and get (the statements of ProjectsRepository.listForUser and findView).
// ---------------------------------------------------------------------------------------------------------
const toProject = (p: ProjectViewRow, callerId: string) => ({
  project_id: p.project_id,
  title: p.title,
  created_by: p.created_by,
  is_creator: p.created_by !== null && p.created_by === callerId,
  created_at: p.created_at,
  updated_at: p.updated_at,
  last_activity_at: p.last_activity_at,
});

app.get('/api/v1/projects', async (request) => {
  const userId = caller(request.headers);
  const query = request.query as Query;
  const limit = intParam(query.limit, 'limit', DEFAULT_PROJECT_PAGE, 1, 100);
  const after = query.cursor === undefined ? null : PROJECT_CURSOR.decode(query.cursor);
  const rows = await asUser(userId, async (client) => {
    const result = after
      ? await client.query<ProjectViewRow>(LIST_PROJECTS_AFTER, [
          userId,
          limit + 1,
          after.lastActivityAt,
          after.projectId,
        ])
      : await client.query<ProjectViewRow>(LIST_PROJECTS, [userId, limit + 1]);
    return result.rows;
  });
  const { page, next } = projectPageOfRows(rows, limit);
  return {
    data: page.map((p) => toProject(p, userId)),
    next_cursor: next ? PROJECT_CURSOR.encode(next) : null,
  };
});

app.get('/api/v1/projects/:project_id', async (request) => {
  const userId = caller(request.headers);
  const projectId = uuidParam((request.params as Query).project_id, 'project_id') as string;
  const project = await asUser(userId, async (client) => {
    return (await client.query<ProjectViewRow>(PROJECT_VIEW, [projectId, userId])).rows[0];
  });
  if (!project) throw new HttpError(404, 'not_found', 'Project not found');
  return toProject(project, userId);
});

const toSession = (s: SessionRow) => ({
  session_id: s.session_id,
  project_id: s.project_id,
  title: s.title,
  is_active: s.is_active,
  message_count: s.message_count,
  last_message_preview: s.last_message_preview,
  last_message_at: s.last_message_at,
  created_at: s.created_at,
  updated_at: s.updated_at,
});

function intParam(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new HttpError(400, 'validation_failed', `${name} is invalid`);
  return n;
}

function uuidParam(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !UUID.test(value))
    throw new HttpError(400, 'validation_failed', `${name} must be a UUID`);
  return value.toLowerCase();
}

type Query = Record<string, string | undefined>;

app.get('/api/v1/sessions', async (request) => {
  const userId = caller(request.headers);
  const query = request.query as Query;
  const limit = intParam(query.limit, 'limit', 10, 1, 100);
  const after = query.cursor === undefined ? null : SESSION_CURSOR.decode(query.cursor);
  const rows = await asUser(userId, async (client) => {
    const result = await client.query<SessionListRow>(LIST_SESSIONS, [
      userId,
      limit + 1,
      after?.lastMessageAt ?? null,
      after?.sessionId ?? null,
      uuidParam(query.project_id, 'project_id') ?? null,
      query.is_active === undefined ? null : query.is_active === 'true',
      after?.pinned ?? false,
    ]);
    return result.rows;
  });
  const { page, next } = sessionPageOfRows(rows, limit);
  return { data: page.map(toSession), next_cursor: next ? SESSION_CURSOR.encode(next) : null };
});

app.get('/api/v1/sessions/:session_id/messages', async (request) => {
  const userId = caller(request.headers);
  const sessionId = uuidParam((request.params as Query).session_id, 'session_id') as string;
  const query = request.query as Query;
  const limit = intParam(query.limit, 'limit', 50, 1, 200);
  const offset = intParam(query.offset, 'offset', 0, 0, 2147483647);
  const before = uuidParam(query.before, 'before');
  const after = uuidParam(query.after, 'after');
  const latest = query.latest === 'true';
  const rows = await asUser(userId, async (client) => {
    const result = await client.query<MessagePageRow>(MESSAGE_PAGE, [
      sessionId,
      limit + 1,
      offset,
      before ?? null,
      after ?? null,
      latest,
      userId,
    ]);
    return result.rows;
  });
  const found = sessionMessagePage(rows, limit, before !== undefined || latest);
  if (!found) throw new HttpError(404, 'not_found', 'Session not found');
  const { page, hasMore, total } = found;
  const first = page[0]?.message_id ?? null;
  const last = page[page.length - 1]?.message_id ?? null;
  const anchors =
    before !== undefined
      ? { prev_before: hasMore ? first : null, next_after: last }
      : latest
        ? { prev_before: hasMore ? first : null, next_after: null }
        : after !== undefined
          ? { prev_before: first, next_after: hasMore ? last : null }
          : { prev_before: offset > 0 ? first : null, next_after: hasMore ? last : null };
  return {
    data: page.map((m) => ({
      message_id: m.message_id,
      session_id: m.session_id,
      turn_id: m.turn_id,
      parent_id: m.parent_id,
      role: m.role,
      content: m.content,
      metadata: m.metadata,
      created_at: m.created_at,
      updated_at: m.updated_at,
      sibling_ids: m.sibling_ids,
    })),
    total,
    has_more: hasMore,
    ...anchors,
  };
});

app.put('/api/v1/sessions/:session_id/title', async (request) => {
  const userId = caller(request.headers);
  const sessionId = uuidParam((request.params as Query).session_id, 'session_id') as string;
  const body = request.body as { title?: unknown } | undefined;
  const title = typeof body?.title === 'string' ? body.title.trim() : '';
  if (title.length < 1 || title.length > 200)
    throw new HttpError(400, 'validation_failed', 'title is invalid');
  const row = await asUser(userId, async (client) => {
    return (await client.query<SessionRow>(UPDATE_SESSION, [sessionId, userId, true, title, null])).rows[0];
  });
  if (!row) throw new HttpError(404, 'not_found', 'Session not found');
  return toSession(row);
});

// ---------------------------------------------------------------------------------------------------------
// POST /api/v1/chat for an existing session: the statements of ChatService.chat and complete().
// ---------------------------------------------------------------------------------------------------------
const defaults = new EnvironmentVariables();
/** This process as a chat instance (the generation records name it, as Parley's do). */
const INSTANCE_ID = randomUUID();
const SYSTEM_PROMPT = defaults.LLM_SYSTEM_PROMPT;
const CONTEXT_CHARS = defaults.LLM_CONTEXT_CHARS;
type Prompt = Parameters<typeof composeBuiltinReply>[0];

interface Exchange {
  session: SessionRow;
  user: MessageRow;
  assistantId: string;
  system: string;
  messages: { role: 'user' | 'assistant'; content: string }[];
}

/** The first transaction: the session, the user's message, and the model's context. */
async function beginExchange(userId: string, sessionId: string, text: string): Promise<Exchange> {
  return asUser(userId, async (client) => {
    const session = (await client.query<SessionRow>(SESSION_BY_ID, [sessionId])).rows[0];
    if (!session) throw new HttpError(404, 'not_found', 'Session not found');
    const user = (
      await client.query<MessageRow>(INSERT_MESSAGE, [
        randomUUID(),
        sessionId,
        'user',
        text,
        null,
        null,
        null,
        false,
      ])
    ).rows[0];
    const assistantId = randomUUID();
    await client.query(INSERT_GENERATION, [
      assistantId,
      sessionId,
      userId,
      user.message_id,
      INSTANCE_ID,
      null,
      'builtin',
      BUILTIN_MODEL_ID,
    ]);
    const newestFirst: StoredMessage[] = [];
    let chars = 0;
    let window = contextWindow(user.depth as number);
    while (window) {
      const page: pg.QueryResult<ContextRow> = await client.query<ContextRow>(BRANCH_CONTEXT, [
        user.message_id,
        window.lo,
        window.hi,
      ]);
      for (const row of page.rows) {
        newestFirst.push({ role: row.role, content: row.content });
        chars += row.content.length;
      }
      window = nextContextWindow(window, chars, CONTEXT_CHARS);
    }
    const system = (await client.query<{ content: string }>(SYSTEM_MESSAGES, [sessionId, user.message_id]))
      .rows;
    const context = buildContext({
      systemPrompt: SYSTEM_PROMPT,
      sessionSystem: system.map((r) => r.content),
      newestFirst,
      budgetChars: CONTEXT_CHARS,
    });
    return { session, user, assistantId, system: context.system, messages: context.messages };
  });
}

/** The built-in provider's reply to the context, with its estimated usage. */
function reply(exchange: Exchange): { text: string; usage: Record<string, number> } {
  const prompt = [
    { role: 'system', content: exchange.system },
    ...exchange.messages.map((m) => ({ role: m.role, content: [{ type: 'text', text: m.content }] })),
  ] as unknown as Prompt;
  const text = composeBuiltinReply(prompt);
  const promptChars =
    exchange.system.length + exchange.messages.reduce((sum, m) => sum + m.content.length, 0);
  const input = Math.ceil(promptChars / 4);
  const output = Math.ceil(text.length / 4);
  return { text, usage: { input_tokens: input, output_tokens: output, total_tokens: input + output } };
}

/** The second transaction: the assistant's message, and the session as it now is. */
async function saveReply(
  userId: string,
  exchange: Exchange,
  text: string,
  metadata: Record<string, unknown>,
): Promise<{ assistant: MessageRow; session: SessionRow }> {
  return asUser(userId, async (client) => {
    const assistant = (
      await client.query<MessageRow>(INSERT_MESSAGE, [
        exchange.assistantId,
        exchange.session.session_id,
        'assistant',
        text,
        JSON.stringify(metadata),
        null,
        exchange.user.message_id,
        false,
      ])
    ).rows[0];
    await client.query(END_GENERATION, [exchange.assistantId]);
    const session =
      (await client.query<SessionRow>(SESSION_BY_ID, [exchange.session.session_id])).rows[0] ??
      exchange.session;
    return { assistant, session };
  });
}

const toMessage = (m: MessageRow) => ({
  message_id: m.message_id,
  session_id: m.session_id,
  turn_id: m.turn_id,
  role: m.role,
  content: m.content,
  metadata: m.metadata,
  created_at: m.created_at,
  updated_at: m.updated_at,
});

const sse = (part: unknown) => `data: ${JSON.stringify(part)}\n\n`;
/** A part with Parley's SSE id (the text's length up to its end; 0 on data-session). */
const sseAt = (offset: number, part: unknown) => `id: ${offset}\ndata: ${JSON.stringify(part)}\n\n`;

app.post('/api/v1/chat', async (request, response) => {
  const userId = caller(request.headers);
  const body = request.body as { text?: unknown; session_id?: unknown } | undefined;
  const text = typeof body?.text === 'string' ? body.text.trim() : '';
  if (text.length < 1 || text.length > 32000)
    throw new HttpError(400, 'validation_failed', 'text is invalid');
  const sessionId = uuidParam(body?.session_id, 'session_id');
  if (!sessionId) throw new HttpError(400, 'validation_failed', 'the bare server only continues sessions');
  const started = performance.now();
  const exchange = await beginExchange(userId, sessionId, text);
  const generated = reply(exchange);
  const metadata = {
    provider: 'builtin',
    model: BUILTIN_MODEL_ID,
    usage: generated.usage,
    finish_reason: 'stop',
    latency_ms: Math.round(performance.now() - started),
    first_token_ms: Math.round(performance.now() - started),
    reply_to: exchange.user.message_id,
  };
  void response.header('x-session-id', exchange.session.session_id);
  const accept = String(request.headers.accept ?? '').toLowerCase();
  if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
    const saved = await saveReply(userId, exchange, generated.text, metadata);
    return {
      session: toSession(saved.session),
      session_created: false,
      user_message: toMessage(exchange.user),
      assistant_message: toMessage(saved.assistant),
    };
  }
  const textId = `text-${exchange.assistantId}`;
  async function* parts(): AsyncGenerator<string> {
    yield sse({ type: 'start', messageId: exchange.assistantId });
    yield sseAt(0, {
      type: 'data-session',
      id: exchange.session.session_id,
      data: {
        session_id: exchange.session.session_id,
        project_id: exchange.session.project_id,
        title: exchange.session.title,
        user_message_id: exchange.user.message_id,
        assistant_message_id: exchange.assistantId,
        session_created: false,
      },
    });
    yield sse({ type: 'text-start', id: textId });
    let offset = 0;
    for (const delta of generated.text.match(/\s*\S+/g) ?? []) {
      offset += delta.length;
      yield sseAt(offset, { type: 'text-delta', id: textId, delta });
    }
    const saved = await saveReply(userId, exchange, generated.text, metadata);
    yield sse({ type: 'text-end', id: textId });
    yield sse({ type: 'finish', finishReason: 'stop', messageMetadata: saved.assistant.metadata });
    yield 'data: [DONE]\n\n';
  }
  return response
    .status(200)
    .headers({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-vercel-ai-ui-message-stream': 'v1',
      'x-accel-buffering': 'no',
    })
    .send(Readable.from(parts()));
});

const port = Number(process.env.PORT ?? 3100);
const host = process.env.HOST ?? '127.0.0.1';
await app.listen({ port, host });

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
