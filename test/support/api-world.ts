/**
 * Arranges users who own things (a project, sessions with messages, a project shared with a neighbour),
 * through the API whenever the OpenAPI document has the operation for it, and through the maintenance
 * connection otherwise, so the fuzz test and the authorization matrix work as the API grows.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../src/database/sql-executor.js';
import { createUser, type TestUser } from './factories.js';
import type { FuzzActor } from './openapi-arbitraries.js';
import type { ApiDocument, ResourceKind } from './openapi-driver.js';

export interface WorldContext {
  app: NestFastifyApplication;
  sql: SqlExecutor;
  doc: ApiDocument;
}

/** Whether the document has an operation for this method and path template. */
export function hasOperation(doc: ApiDocument, method: string, path: string): boolean {
  return doc.operations.some((op) => op.method === method && op.path === path);
}

async function call(
  ctx: WorldContext,
  user: TestUser,
  method: 'POST' | 'PUT',
  url: string,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const response = await ctx.app.inject({
    method,
    url,
    headers: { ...user.headers, ...headers },
    payload: payload as Record<string, unknown>,
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.body ? (JSON.parse(response.body) as Record<string, unknown>) : {};
}

/** A project with the user as member: POST /api/v1/projects, else direct rows. */
export async function arrangeProject(ctx: WorldContext, user: TestUser, title: string): Promise<string> {
  if (hasOperation(ctx.doc, 'POST', '/api/v1/projects'))
    return String((await call(ctx, user, 'POST', '/api/v1/projects', { title })).project_id);
  const [row] = await ctx.sql.query<{ project_id: string }>(
    `WITH p AS (INSERT INTO dossier (title, created_by) VALUES ($1, $2) RETURNING project_id)
     INSERT INTO user_projects (user_id, project_id) SELECT $2, project_id FROM p RETURNING project_id::text`,
    [title, user.user_id],
  );
  return row.project_id;
}

/** A session in the project: POST /api/v1/sessions, else a direct row. */
export async function arrangeSession(
  ctx: WorldContext,
  user: TestUser,
  projectId: string,
  title: string,
): Promise<string> {
  if (hasOperation(ctx.doc, 'POST', '/api/v1/sessions'))
    return String(
      (await call(ctx, user, 'POST', '/api/v1/sessions', { project_id: projectId, title })).session_id,
    );
  const [row] = await ctx.sql.query<{ session_id: string }>(
    `INSERT INTO sessions (user_id, project_id, title) VALUES ($1, $2, $3) RETURNING session_id::text`,
    [user.user_id, projectId, title],
  );
  return row.session_id;
}

/**
 * Messages in the session: one POST /api/v1/chat (JSON mode, the offline provider) per text, else direct
 * rows. Returns the session's message ids, oldest first.
 */
export async function arrangeMessages(
  ctx: WorldContext,
  user: TestUser,
  sessionId: string,
  texts: string[],
): Promise<string[]> {
  if (hasOperation(ctx.doc, 'POST', '/api/v1/chat')) {
    for (const text of texts)
      await call(
        ctx,
        user,
        'POST',
        '/api/v1/chat',
        { session_id: sessionId, text },
        { accept: 'application/json' },
      );
  } else {
    await ctx.sql.query(
      `INSERT INTO chat_messages (session_id, role, content)
       SELECT $1, CASE WHEN o % 2 = 1 THEN 'user' ELSE 'assistant' END, t
         FROM unnest($2::text[]) WITH ORDINALITY AS x(t, o) ORDER BY o`,
      [sessionId, texts],
    );
  }
  const rows = await ctx.sql.query<{ message_id: string }>(
    `SELECT message_id::text FROM chat_messages WHERE session_id = $1 ORDER BY created_at, seq`,
    [sessionId],
  );
  return rows.map((r) => r.message_id);
}

/** Adds a member to a project: POST /api/v1/projects/{project_id}/members by the owner, else a direct row. */
export async function arrangeMembership(
  ctx: WorldContext,
  owner: TestUser,
  projectId: string,
  memberId: string,
): Promise<void> {
  if (hasOperation(ctx.doc, 'POST', '/api/v1/projects/{project_id}/members')) {
    await call(ctx, owner, 'POST', `/api/v1/projects/${projectId}/members`, { user_id: memberId });
    return;
  }
  await ctx.sql.query(`INSERT INTO user_projects (user_id, project_id) VALUES ($1, $2)`, [
    memberId,
    projectId,
  ]);
}

/** An API key of the user's: POST /api/v1/users/me/api-keys when the document has it, else none. */
export async function arrangeApiKey(ctx: WorldContext, user: TestUser, name: string): Promise<string[]> {
  if (!hasOperation(ctx.doc, 'POST', '/api/v1/users/me/api-keys')) return [];
  const key = await call(ctx, user, 'POST', '/api/v1/users/me/api-keys', { name, scopes: ['read'] });
  return [String(key.key_id)];
}

export interface ArrangedUser extends TestUser {
  /** A project only this user belongs to, and one shared with the next user of the world. */
  privateProjectId: string;
  sharedProjectId: string;
  /** The session in the private project first, then the one in the shared project (one each by default). */
  sessionIds: string[];
  messageIds: string[];
  messagesBySession: Record<string, string[]>;
  /** The user's API keys (one, when the API has them). */
  apiKeyIds: string[];
  /** An import of this user's (a finished one, recorded directly). */
  importIds: string[];
  /** A marker in every title and message of this user: no response to anybody else may contain it. */
  marker: string;
}

/**
 * `count` users; each owns a private project and a project shared with the next user (round robin), with
 * `sessionsPerProject` sessions per project and `messagesPerSession` messages (through chat when it exists).
 */
export async function arrangeWorld(
  ctx: WorldContext,
  count: number,
  options: { sessionsPerProject?: number; messagesPerSession?: number } = {},
): Promise<ArrangedUser[]> {
  const sessionsPerProject = options.sessionsPerProject ?? 1;
  const messagesPerSession = options.messagesPerSession ?? 1;
  const users: ArrangedUser[] = [];
  for (let i = 0; i < count; i++) {
    const marker = `mark${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const user = await createUser(ctx.app, { display_name: `Fuzz ${marker}` });
    const privateProjectId = await arrangeProject(ctx, user, `private ${marker}`);
    const sharedProjectId = await arrangeProject(ctx, user, `shared ${marker}`);
    const sessionIds: string[] = [];
    const messageIds: string[] = [];
    const messagesBySession: Record<string, string[]> = {};
    for (const projectId of [privateProjectId, sharedProjectId]) {
      for (let s = 0; s < sessionsPerProject; s++) {
        const sessionId = await arrangeSession(ctx, user, projectId, `session ${s} ${marker}`);
        sessionIds.push(sessionId);
        const texts = Array.from({ length: messagesPerSession }, (_, m) => `message ${m} ${marker}`);
        messagesBySession[sessionId] = await arrangeMessages(ctx, user, sessionId, texts);
        messageIds.push(...messagesBySession[sessionId]);
      }
    }
    const apiKeyIds = await arrangeApiKey(ctx, user, `key ${marker}`);
    const [imported] = await ctx.sql.query<{ import_id: string }>(
      `INSERT INTO imports (user_id, status, source, file_kind, file_bytes, finished_at)
       VALUES ($1::uuid, 'succeeded', 'chatgpt', 'json', 2, current_timestamp) RETURNING import_id::text`,
      [user.user_id],
    );
    users.push({
      ...user,
      importIds: [imported.import_id],
      privateProjectId,
      sharedProjectId,
      sessionIds,
      messageIds,
      messagesBySession,
      apiKeyIds,
      marker,
    });
  }
  if (count > 1)
    for (let i = 0; i < count; i++)
      await arrangeMembership(ctx, users[i], users[i].sharedProjectId, users[(i + 1) % count].user_id);
  return users;
}

/** The world as the fuzzer sees it: each actor may use every user id, its projects (own and shared) and its sessions. */
export function toFuzzActors(users: ArrangedUser[]): FuzzActor[] {
  return users.map((user, i) => {
    const previous = users[(i - 1 + users.length) % users.length];
    const ids: Record<ResourceKind, string[]> = {
      user: users.map((u) => u.user_id),
      project: [
        user.privateProjectId,
        user.sharedProjectId,
        ...(users.length > 1 ? [previous.sharedProjectId] : []),
      ],
      session: user.sessionIds,
      message: user.messageIds,
      api_key: user.apiKeyIds,
      import: user.importIds,
    };
    return { user_id: user.user_id, headers: user.headers, ids };
  });
}

const UUID_PATTERN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** An id in a response that names a row the caller may not see, and what kind of row it is. */
export interface ForeignId {
  id: string;
  kind: 'session' | 'message' | 'turn' | 'project' | 'user' | 'api_key';
}

/**
 * The UUIDs in `text` (a response body) that name another caller's rows, as the database says now (through
 * the maintenance connection, so memberships changed by the request itself count): another user's sessions,
 * messages and turns; projects the caller is not a member of (for an anonymous caller: projects that have
 * members); users who share no project with the caller. `callerId` undefined is an anonymous caller. Left
 * out: ids in `allowed` (what the request itself carried: an echo is not a leak) and rows created at or after
 * `createdSince` (what the request made, such as the user POST /users creates).
 */
export async function foreignIdsIn(
  sql: SqlExecutor,
  callerId: string | undefined,
  text: string,
  options: { allowed?: string[]; createdSince?: Date } = {},
): Promise<ForeignId[]> {
  const sent = new Set(
    (options.allowed ?? []).flatMap((a) => (a.match(UUID_PATTERN) ?? []).map((id) => id.toLowerCase())),
  );
  const ids = [...new Set((text.match(UUID_PATTERN) ?? []).map((id) => id.toLowerCase()))].filter(
    (id) => !sent.has(id),
  );
  if (ids.length === 0) return [];
  return sql.query<ForeignId>(
    `WITH ids AS (SELECT unnest($1::uuid[]) AS id),
          mine AS (SELECT project_id FROM user_projects WHERE user_id = $2::uuid),
          since AS (SELECT coalesce($3::timestamptz, 'infinity'::timestamptz) AS at)
     SELECT s.session_id::text AS id, 'session' AS kind FROM sessions s JOIN ids ON s.session_id = ids.id
      WHERE s.user_id IS DISTINCT FROM $2::uuid AND s.created_at < (SELECT at FROM since)
     UNION ALL
     SELECT m.message_id::text, 'message' FROM chat_messages m JOIN ids ON m.message_id = ids.id
      WHERE m.user_id IS DISTINCT FROM $2::uuid AND m.created_at < (SELECT at FROM since)
     UNION ALL
     SELECT k.key_id::text, 'api_key' FROM api_keys k JOIN ids ON k.key_id = ids.id
      WHERE k.user_id IS DISTINCT FROM $2::uuid AND k.created_at < (SELECT at FROM since)
     UNION ALL
     SELECT tu.turn_id::text, 'turn' FROM turns tu JOIN ids ON tu.turn_id = ids.id
      WHERE tu.user_id IS DISTINCT FROM $2::uuid AND tu.created_at < (SELECT at FROM since)
     UNION ALL
     SELECT i.import_id::text, 'import' FROM imports i JOIN ids ON i.import_id = ids.id
      WHERE i.user_id IS DISTINCT FROM $2::uuid AND i.created_at < (SELECT at FROM since)
     UNION ALL
     SELECT d.project_id::text, 'project' FROM dossier d JOIN ids ON d.project_id = ids.id
      WHERE d.project_id NOT IN (SELECT project_id FROM mine) AND d.created_at < (SELECT at FROM since)
        AND ($2::uuid IS NOT NULL OR EXISTS (SELECT 1 FROM user_projects up WHERE up.project_id = d.project_id))
     UNION ALL
     SELECT u.user_id::text, 'user' FROM users u JOIN ids ON u.user_id = ids.id
      WHERE u.user_id IS DISTINCT FROM $2::uuid AND u.created_at < (SELECT at FROM since)
        AND NOT EXISTS (SELECT 1 FROM user_projects up
                         WHERE up.user_id = u.user_id AND up.project_id IN (SELECT project_id FROM mine))`,
    [ids, callerId ?? null, options.createdSince?.toISOString() ?? null],
  );
}
