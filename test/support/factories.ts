import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { DatabaseService } from '../../src/database/database.service.js';
import type { SqlExecutor } from '../../src/database/sql-executor.js';
import { ProjectsRepository } from '../../src/projects/projects.repository.js';

export interface TestUser {
  user_id: string;
  email: string | null;
  display_name: string | null;
  /** Headers that authenticate as this user. */
  headers: Record<string, string>;
}

/** Creates a user through the public API and returns it with the headers that act as it. */
export async function createUser(
  app: NestFastifyApplication,
  fields: { email?: string; display_name?: string; avatar_url?: string } = {},
): Promise<TestUser> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/users',
    payload: { display_name: 'Test user', email: `user-${randomUUID()}@example.test`, ...fields },
  });
  if (response.statusCode !== 201) throw new Error(`createUser: ${response.statusCode} ${response.body}`);
  const user = response.json();
  return { ...user, headers: { 'x-user-id': user.user_id } };
}

export interface TestProject {
  project_id: string;
  title: string | null;
}

/**
 * Creates a project with the user as its member, through the same repository code (and RLS context) the
 * API uses.
 */
export async function createProject(
  app: NestFastifyApplication,
  user: TestUser,
  title: string | null = 'Test project',
): Promise<TestProject> {
  const project = await app
    .get(DatabaseService)
    .asUser({ userId: user.user_id, via: 'header' }, (tx) =>
      app.get(ProjectsRepository).createForUser(tx, user.user_id, title),
    );
  return { project_id: project.projectId, title: project.title };
}

export interface TestSession {
  session_id: string;
  project_id: string | null;
  title: string | null;
  is_active: boolean;
  message_count: number;
  last_message_preview: string | null;
  last_message_at: string;
  created_at: string;
  updated_at: string;
}

/** Creates an empty session through POST /api/v1/sessions (in a new project unless one is named). */
export async function createSession(
  app: NestFastifyApplication,
  user: TestUser,
  fields: { project_id?: string; title?: string } = {},
): Promise<TestSession> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/sessions',
    headers: user.headers,
    payload: { title: 'Test session', ...fields },
  });
  if (response.statusCode !== 201) throw new Error(`createSession: ${response.statusCode} ${response.body}`);
  return response.json();
}

export interface NewTestMessage {
  role?: 'user' | 'assistant' | 'system';
  content: string;
  metadata?: Record<string, unknown> | null;
  /** A timestamptz literal; by default the statement's time, shared by every row of one call. */
  created_at?: string;
  turn_id?: string;
}

export interface TestMessage {
  message_id: string;
  role: string;
  content: string;
  /** PostgreSQL's text for created_at (microsecond precision). */
  created_at: string;
}

/**
 * Inserts messages into a session in ONE multi-row INSERT statement (so the statement-level trigger runs
 * once), through the maintenance executor. `n` makes n messages `message 1`..`message n`, alternating user
 * and assistant. Rows are inserted, and returned, in the order given.
 */
export async function addMessages(
  sql: SqlExecutor,
  sessionId: string,
  messages: number | Array<string | NewTestMessage>,
): Promise<TestMessage[]> {
  const list: NewTestMessage[] =
    typeof messages === 'number'
      ? Array.from({ length: messages }, (_, i) => ({
          role: i % 2 === 0 ? 'user' : 'assistant',
          content: `message ${i + 1}`,
        }))
      : messages.map((m) => (typeof m === 'string' ? { content: m } : m));
  return sql.query<TestMessage>(
    `WITH input AS (
       SELECT r.*, o.ord
         FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS o(item, ord),
              jsonb_to_record(o.item) AS r(role text, content text, metadata jsonb, created_at timestamptz, turn_id uuid)
     ), inserted AS (
       INSERT INTO chat_messages (session_id, role, content, metadata, created_at, turn_id)
       SELECT $1::uuid, COALESCE(role, 'user'), content, metadata, COALESCE(created_at, current_timestamp), turn_id
         FROM input ORDER BY ord
       RETURNING message_id, role, content, created_at, seq
     )
     SELECT message_id, role, content, created_at::text AS created_at FROM inserted ORDER BY seq`,
    [sessionId, JSON.stringify(list)],
  );
}
