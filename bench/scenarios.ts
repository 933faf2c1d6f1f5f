/**
 * What the harness measures. Each scenario is a request source (the same sequence is sent to Parley and to
 * the bare server), the statements of its first request for pgbench, and the target it is held to.
 */
import type { Fixtures, OwnedSession } from './fixtures.js';
import type { BenchRequest, RequestSource } from './load.js';
import type { Statement } from './pgbench.js';
import {
  APP_ROLE,
  CONTEXT,
  LIST_PROJECTS,
  LIST_SESSIONS,
  MESSAGE_PAGE,
  PROJECT_VIEW,
  UPDATE_SESSION,
  USER_BY_ID,
} from './queries.js';

/**
 * `read`: a session list or message page, measured against the minimal server too; `pipeline`: a route held
 * to the same-SQL ceiling only (the minimal server does not answer it).
 */
export type ScenarioKind = 'pipeline' | 'read' | 'write' | 'chat' | 'mix';

export interface Scenario {
  id: string;
  title: string;
  kind: ScenarioKind;
  /** Makes a fresh source: every target gets the same sequence of requests. */
  source(): RequestSource;
  /** The statements of one request, for pgbench; absent when the scenario is not a fixed SQL transaction. */
  pgbench?: Statement[];
}

const get = (user: string, path: string): BenchRequest => ({
  method: 'GET',
  path,
  headers: { 'x-user-id': user },
});

const context = (user: string): Statement => ({ sql: CONTEXT, params: [APP_ROLE, user, user] });

/** One fixed request, always the same. */
const fixed =
  (request: BenchRequest): (() => RequestSource) =>
  () =>
  () =>
    request;

/** Cycles through a list of requests. */
const cycle =
  (make: (i: number) => BenchRequest): (() => RequestSource) =>
  () => {
    let i = 0;
    return () => make(i++);
  };

export function listSessionsPath(limit: number, cursor?: string): string {
  return `/api/v1/sessions?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
}

function listStatements(user: string, limit: number, cursor?: string): Statement[] {
  let at: string | null = null;
  let id: string | null = null;
  if (cursor) {
    const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
    at = parts[1];
    id = parts[2];
  }
  return [context(user), { sql: LIST_SESSIONS, params: [user, limit + 1, at, id, null, null, false] }];
}

export interface MessageWindowQuery {
  limit?: number;
  offset?: number;
  before?: string;
  latest?: boolean;
}

export function messagesPath(session: string, q: MessageWindowQuery): string {
  const params = new URLSearchParams();
  if (q.limit !== undefined) params.set('limit', String(q.limit));
  if (q.offset !== undefined) params.set('offset', String(q.offset));
  if (q.before !== undefined) params.set('before', q.before);
  if (q.latest) params.set('latest', 'true');
  const text = params.toString();
  return `/api/v1/sessions/${session}/messages${text ? `?${text}` : ''}`;
}

function messagesStatements(owned: OwnedSession, q: MessageWindowQuery): Statement[] {
  const limit = q.limit ?? 50;
  return [
    context(owned.userId),
    {
      sql: MESSAGE_PAGE,
      params: [
        owned.sessionId,
        limit + 1,
        q.offset ?? 0,
        q.before ?? null,
        null,
        q.latest ?? false,
        owned.userId,
      ],
    },
  ];
}

export function messagesScenario(
  id: string,
  title: string,
  owned: OwnedSession,
  q: MessageWindowQuery,
  kind: ScenarioKind = 'read',
): Scenario {
  return {
    id,
    title,
    kind,
    source: fixed(get(owned.userId, messagesPath(owned.sessionId, q))),
    pgbench: messagesStatements(owned, q),
  };
}

export function listScenario(
  id: string,
  title: string,
  user: string,
  limit: number,
  cursor?: string,
): Scenario {
  return {
    id,
    title,
    kind: 'read',
    source: fixed(get(user, listSessionsPath(limit, cursor))),
    pgbench: listStatements(user, limit, cursor),
  };
}

/** The scenarios measured against Parley and the bare server (and pgbench where the SQL is fixed). */
export function coreScenarios(f: Fixtures): Scenario[] {
  const renameTarget = f.writePool[0];
  return [
    {
      id: 'users-me',
      title: 'GET /users/me (pipeline check)',
      kind: 'pipeline',
      source: fixed(get(f.powerUser, '/api/v1/users/me')),
      pgbench: [context(f.powerUser), { sql: USER_BY_ID, params: [f.powerUser] }],
    },
    {
      id: 'projects-list',
      title: 'GET /projects (first page of 20)',
      kind: 'pipeline',
      source: fixed(get(f.powerUser, '/api/v1/projects')),
      pgbench: [context(f.powerUser), { sql: LIST_PROJECTS, params: [f.powerUser, 21] }],
    },
    {
      id: 'project-get',
      title: 'GET /projects/{id}',
      kind: 'pipeline',
      source: fixed(get(f.powerUser, `/api/v1/projects/${f.powerProject}`)),
      pgbench: [context(f.powerUser), { sql: PROJECT_VIEW, params: [f.powerProject, f.powerUser] }],
    },
    listScenario('list-10', 'list sessions, limit 10, first page', f.powerUser, 10),
    listScenario(
      'list-10-cursor',
      'list sessions, limit 10, cursor page (after 1,000)',
      f.powerUser,
      10,
      f.powerCursors[1000],
    ),
    listScenario('list-100', 'list sessions, limit 100, first page', f.powerUser, 100),
    listScenario(
      'list-100-cursor',
      'list sessions, limit 100, cursor page (after 1,000)',
      f.powerUser,
      100,
      f.powerCursors[1000],
    ),
    messagesScenario('messages-first', 'messages, first page (50 of 50,000)', f.deepSession, {}),
    messagesScenario(
      'messages-offset-40k',
      'messages, offset 40,000 (50,000-message session)',
      f.deepSession,
      {
        offset: 40000,
      },
    ),
    messagesScenario(
      'messages-cursor-40k',
      'messages, cursor 40,000 deep (50,000-message session)',
      f.deepSession,
      {
        before: f.deepAnchors[40000],
      },
    ),
    {
      id: 'rename',
      title: 'rename a session (PUT title)',
      kind: 'write',
      source: cycle((i) => {
        const s = f.writePool[i % f.writePool.length];
        return {
          method: 'PUT',
          path: `/api/v1/sessions/${s.sessionId}/title`,
          headers: { 'x-user-id': s.userId, 'content-type': 'application/json' },
          body: JSON.stringify({ title: `Renamed draft ${i % 997}` }),
        };
      }),
      pgbench: [
        context(renameTarget.userId),
        {
          sql: UPDATE_SESSION,
          params: [renameTarget.sessionId, renameTarget.userId, true, 'Renamed draft', null],
        },
      ],
    },
  ];
}
