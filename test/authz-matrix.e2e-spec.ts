/**
 * The authorization matrix, generated from the app's own OpenAPI document: every operation that takes an id
 * (a path parameter, a query parameter or a body field naming a user, project, session or message) is called
 * by user B with user A's ids, and must
 *  - answer 404 (or a 403 the operation documents) for an id in the path or the body, exactly as it answers
 *    for an id that does not exist, and for an id in the query answer exactly as for an id that does not
 *    exist (no existence oracle);
 *  - change nothing of A's (A's user row, projects, memberships, sessions, messages and turns are compared
 *    through the maintenance connection before and after);
 *  - return nothing of A's (no marker from A's titles and messages, no id of A's that B did not send).
 * Three relations are tried: B a stranger to A, B a member of a project A shares (A's sessions there stay
 * private to A), and, on public operations, a caller with no identity. Operations with no id at all (lists,
 * `me` routes) are called by a stranger, a co-member and (if public) nobody: every id in the answer must be
 * the caller's own or shared with the caller (foreignIdsIn()), and a list scoped to a shared project shows
 * each member only their own sessions there. A control request by A with the same ids must not be refused, so the 404 B gets is about
 * who asks, not about a malformed request.
 */
import { randomUUID } from 'node:crypto';
import {
  arrangeSession,
  arrangeWorld,
  foreignIdsIn,
  type ArrangedUser,
  type WorldContext,
} from './support/api-world.js';
import {
  buildUrl,
  exampleValue,
  loadApiDocument,
  pathParameterNames,
  resourceKindOf,
  type ApiOperation,
  type ResourceKind,
} from './support/openapi-driver.js';
import { createTestApp, DATABASE_KIND } from './support/test-app.js';

const t = await createTestApp({ RATE_LIMIT_ENABLED: 'false' });
const doc = await loadApiDocument(t.app);

interface IdLocation {
  in: 'path' | 'query' | 'body';
  name: string;
  /** undefined: a UUID whose resource kind the name does not tell (a failure: teach resourceKindOf). */
  kind?: ResourceKind;
  required: boolean;
}

function idLocations(op: ApiOperation): IdLocation[] {
  const locations: IdLocation[] = [];
  for (const name of pathParameterNames(op))
    locations.push({ in: 'path', name, kind: resourceKindOf(name), required: true });
  for (const p of op.parameters.filter((q) => q.in === 'query'))
    if (resourceKindOf(p.name) || p.schema.format === 'uuid')
      locations.push({ in: 'query', name: p.name, kind: resourceKindOf(p.name), required: p.required });
  const body = op.body?.schema ? doc.resolve(op.body.schema) : undefined;
  for (const [name, field] of Object.entries(body?.properties ?? {}))
    if (resourceKindOf(name) || doc.resolve(field).format === 'uuid')
      locations.push({
        in: 'body',
        name,
        kind: resourceKindOf(name),
        required: (body?.required ?? []).includes(name),
      });
  return locations;
}

const idOperations = doc.operations.filter((op) => idLocations(op).length > 0);
/**
 * Operations with no id anywhere (lists, `me` routes, creations): who calls decides what they touch. Admin
 * operations are refused to every non-admin instead (their own test below).
 */
const idLessOperations = doc.operations.filter((op) => idLocations(op).length === 0 && !op.adminOnly);
/** Administrators-only operations (`x-parley-admin`). */
const adminOperations = doc.operations.filter((op) => op.adminOnly);
/** Reads that take a project id in the query (lists scoped to a project). */
const projectScopedLists = doc.operations.filter(
  (op) => op.method === 'GET' && idLocations(op).some((l) => l.in === 'query' && l.kind === 'project'),
);
const world: WorldContext = { app: t.app, sql: t.sql, doc };

type Ids = Record<ResourceKind, string>;

/** A user's resources in one scope: the private project (and its session), or the shared one. */
function idsOf(user: ArrangedUser, scope: 'private' | 'shared'): Ids {
  const session = scope === 'private' ? user.sessionIds[0] : user.sessionIds[1];
  return {
    user: user.user_id,
    project: scope === 'private' ? user.privateProjectId : user.sharedProjectId,
    session,
    message: user.messagesBySession[session][0],
    api_key: user.apiKeyIds[0],
    import: user.importIds[0],
  };
}

interface Probe {
  method: ApiOperation['method'];
  url: string;
  payload?: string;
  /** The ids this request sends, for the echo allowance. */
  sent: string[];
}

/**
 * The request: `chosen` locations take their id from `chosen`, the other required ids come from `rest`, other
 * optional ids are left out; the rest of the body is a valid example (every declared field).
 */
/**
 * Required query parameters that need a telling value rather than the schema's example: a search for words
 * every arranged user's titles and messages hold (`session …`, `message …`, `… shared …`), so a search that
 * leaked would show another user's rows.
 */
const QUERY_VALUES: Record<string, string> = { q: 'session or message or shared' };

function probe(op: ApiOperation, target: IdLocation[], chosen: (l: IdLocation) => string, rest: Ids): Probe {
  const locations = idLocations(op);
  const targeted = (l: IdLocation) => target.some((x) => x.in === l.in && x.name === l.name);
  const value = (l: IdLocation) => (targeted(l) ? chosen(l) : rest[l.kind!]);
  const included = locations.filter((l) => targeted(l) || l.required);
  const path = Object.fromEntries(included.filter((l) => l.in === 'path').map((l) => [l.name, value(l)]));
  const query = included.filter((l) => l.in === 'query').map((l) => [l.name, value(l)] as [string, string]);
  for (const p of op.parameters)
    if (p.in === 'query' && p.required && !locations.some((l) => l.name === p.name))
      query.push([p.name, String(QUERY_VALUES[p.name] ?? exampleValue(doc, p.schema))]);
  let payload: string | undefined;
  if (op.body?.schema) {
    const body = exampleValue(doc, op.body.schema) as Record<string, unknown>;
    for (const l of locations.filter((x) => x.in === 'body')) delete body[l.name];
    for (const l of included.filter((x) => x.in === 'body')) body[l.name] = value(l);
    payload = JSON.stringify(body);
  }
  return { method: op.method, url: buildUrl(op, path, query), payload, sent: included.map(value) };
}

/** Sends a probe as `user`, or with no identity at all (`undefined`). */
async function send(user: ArrangedUser | undefined, request: Probe) {
  const response = await t.app.inject({
    method: request.method,
    url: request.url,
    headers: {
      ...(user?.headers ?? {}),
      accept: 'application/json',
      ...(request.payload !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(request.payload !== undefined ? { payload: request.payload } : {}),
  });
  return response;
}

/** Everything of A's, as text: compared before and after B's request. */
async function snapshotOf(a: ArrangedUser): Promise<string> {
  const [row] = await t.sql.query<{ snapshot: string }>(
    `WITH projects AS (
       SELECT project_id FROM dossier WHERE created_by = $1
       UNION SELECT project_id FROM user_projects WHERE user_id = $1
     )
     SELECT json_build_object(
       'user', (SELECT to_jsonb(u) FROM users u WHERE u.user_id = $1),
       'projects', (SELECT jsonb_agg(to_jsonb(d) ORDER BY d.project_id) FROM dossier d WHERE d.project_id IN (SELECT project_id FROM projects)),
       'memberships', (SELECT jsonb_agg(to_jsonb(up) ORDER BY up.project_id, up.user_id) FROM user_projects up WHERE up.project_id IN (SELECT project_id FROM projects)),
       'sessions', (SELECT jsonb_agg(to_jsonb(s) ORDER BY s.session_id) FROM sessions s WHERE s.user_id = $1 OR s.project_id IN (SELECT project_id FROM projects)),
       'messages', (SELECT jsonb_agg(to_jsonb(m) ORDER BY m.seq) FROM chat_messages m JOIN sessions s USING (session_id) WHERE s.user_id = $1 OR s.project_id IN (SELECT project_id FROM projects)),
       'turns', (SELECT jsonb_agg(to_jsonb(tu) ORDER BY tu.turn_id) FROM turns tu WHERE tu.user_id = $1 OR tu.project_id IN (SELECT project_id FROM projects)),
       'api_keys', (SELECT jsonb_agg(jsonb_build_object('key_id', k.key_id, 'scopes', k.scopes, 'expires_at', k.expires_at) ORDER BY k.key_id) FROM api_keys k WHERE k.user_id = $1)
     )::text AS snapshot`,
    [a.user_id],
  );
  return row.snapshot;
}

/** A's ids and markers in a response to B, other than the ids B sent. */
function leaksOf(body: string, a: ArrangedUser, sent: string[]): string[] {
  const secrets = [
    a.marker,
    a.user_id,
    a.privateProjectId,
    a.sharedProjectId,
    ...a.sessionIds,
    ...a.messageIds,
    ...a.apiKeyIds,
  ];
  return secrets.filter(
    (secret) => !sent.includes(secret) && body.toLowerCase().includes(secret.toLowerCase()),
  );
}

/** The part of an answer a caller can compare: status, error code and message, with the sent ids blanked. */
function outcome(response: { statusCode: number; body: string }, sent: string[]): string {
  let error = '';
  try {
    const body = JSON.parse(response.body) as { error?: string; message?: string };
    if (response.statusCode >= 400) error = `${body.error}: ${body.message}`;
  } catch {
    // not JSON
  }
  for (const id of sent) error = error.split(id).join('<id>');
  return `${response.statusCode} ${error}`.trim();
}

interface Case {
  relation: 'stranger' | 'co-member' | 'anonymous';
  /** The locations that carry A's ids. */
  target: IdLocation[];
}

function casesFor(op: ApiOperation): Case[] {
  const locations = idLocations(op);
  const cases: Case[] = [];
  // Every id in the path and every required id is A's: the plainest attack.
  const plain = locations.filter((l) => l.in === 'path' || l.required);
  if (plain.length > 0) cases.push({ relation: 'stranger', target: plain });
  // One id at a time is A's, the others B's own. A user id alone is not a resource of A's (a member may
  // add any existing user): it is covered together with A's project above.
  for (const l of locations)
    if (l.kind !== 'user' && !(plain.length === 1 && plain[0].name === l.name))
      cases.push({ relation: 'stranger', target: [l] });
  // B is a member of A's shared project: A's sessions and messages there are still A's alone.
  for (const l of locations)
    if (l.kind === 'session' || l.kind === 'message') cases.push({ relation: 'co-member', target: [l] });
  // A public operation (the legacy chat) is also tried with no identity at all.
  if (op.isPublic)
    for (const l of locations) if (l.kind !== 'user') cases.push({ relation: 'anonymous', target: [l] });
  return cases;
}

const rows: string[] = [];

describe(`authorization matrix from the OpenAPI document (${DATABASE_KIND})`, () => {
  afterAll(async () => {
    console.log(`authorization matrix (${DATABASE_KIND}):\n${rows.join('\n')}`);
    await t.close();
  });

  it('the document has id-bearing and id-less operations, and every UUID parameter names a known kind of resource', () => {
    expect(idOperations.length).toBeGreaterThanOrEqual(5);
    expect(idLessOperations.map((op) => op.operationId)).toEqual(
      expect.arrayContaining(['listProjects', 'getMe', 'updateMe', 'deleteMe']),
    );
    expect(projectScopedLists.map((op) => op.operationId)).toContain('listSessions');
    expect(adminOperations.length).toBeGreaterThanOrEqual(7);
    const unknown = idOperations.flatMap((op) =>
      idLocations(op)
        .filter((l) => !l.kind)
        .map((l) => `${op.operationId} ${l.in} ${l.name}`),
    );
    expect(unknown).toEqual([]);
  });

  it.each(idLessOperations.map((op) => [`${op.method} ${op.path} (${op.operationId})`, op] as const))(
    "%s (no id): each caller gets only their own rows and what is shared with them, and changes nobody else's",
    async (_name, op) => {
      const problems: string[] = [];
      // A and B share a project (each is a member of the other's shared project); C shares nothing.
      const [a, b] = await arrangeWorld(world, 2, { messagesPerSession: 2 });
      const [c] = await arrangeWorld(world, 1, { messagesPerSession: 2 });
      /** Titles and texts of A's that B may not see (A's shared project's own title B may). */
      const privateOf = (u: ArrangedUser) => [
        `private ${u.marker}`,
        `session 0 ${u.marker}`,
        `message 0 ${u.marker}`,
      ];
      const request = probe(op, [], () => '', idsOf(b, 'private'));
      const callers: [string, ArrangedUser | undefined][] = [
        ['stranger C', c],
        ['co-member B', b],
        ...(op.isPublic ? [['anonymous', undefined] as [string, undefined]] : []),
      ];
      for (const [relation, caller] of callers) {
        const label = `${op.operationId} [${relation}]`;
        const others = [a, b, c].filter((u) => u !== caller);
        const before = await Promise.all(others.map(snapshotOf));
        const startedAt = new Date();
        const response = await send(caller, request);
        const after = await Promise.all(others.map(snapshotOf));
        rows.push(`${label.padEnd(80)} ${response.statusCode}`);
        if (response.statusCode >= 500)
          problems.push(`${label}: ${response.statusCode} ${response.body.slice(0, 200)}`);
        // B leaving the world (DELETE /users/me) takes B out of A's shared project: that is B's own row.
        if (caller !== b)
          others.forEach((u, i) => {
            if (after[i] !== before[i]) problems.push(`${label}: ${u.marker}'s data changed`);
          });
        for (const foreign of await foreignIdsIn(t.sql, caller?.user_id, response.body, {
          createdSince: startedAt,
        }))
          problems.push(
            `${label}: the response carries a ${foreign.kind} id the caller may not see (${foreign.id})`,
          );
        const hidden = others.flatMap((u) => (caller === b && u === a ? privateOf(a) : [u.marker]));
        for (const text of hidden)
          if (response.body.includes(text)) problems.push(`${label}: the response shows "${text}"`);
        if (caller && op.path.endsWith('/me') && response.statusCode < 300 && response.body) {
          const body = JSON.parse(response.body) as { user_id?: string };
          if (body.user_id !== caller.user_id) problems.push(`${label}: /me answered user ${body.user_id}`);
        }
        // The operation knows its caller (so "no rows" is not a refusal in disguise); a business rule such as
        // a unique email may still refuse.
        if (caller && [401, 403, 404].includes(response.statusCode))
          problems.push(`${label}: ${response.statusCode} ${response.body.slice(0, 200)}`);
      }
      expect(problems).toEqual([]);
    },
    120_000,
  );

  it.each(adminOperations.map((op) => [`${op.method} ${op.path} (${op.operationId})`, op] as const))(
    '%s (administrators only): a stranger, a co-member and nobody are refused (403 / 401) and change nothing',
    async (_name, op) => {
      const problems: string[] = [];
      const [a, b] = await arrangeWorld(world, 2, { messagesPerSession: 2 });
      const [c] = await arrangeWorld(world, 1);
      const request = probe(op, idLocations(op), () => a.user_id, idsOf(a, 'private'));
      for (const [relation, caller, expected] of [
        ['stranger C', c, 403],
        ['co-member B', b, 403],
        ['anonymous', undefined, 401],
      ] as const) {
        const label = `${op.operationId} [${relation}]`;
        const before = await Promise.all([a, b, c].map(snapshotOf));
        const response = await send(caller, request);
        const after = await Promise.all([a, b, c].map(snapshotOf));
        rows.push(`${label.padEnd(80)} ${response.statusCode}`);
        if (response.statusCode !== expected)
          problems.push(
            `${label}: expected ${expected}, got ${response.statusCode} ${response.body.slice(0, 200)}`,
          );
        if (after.some((snapshot, i) => snapshot !== before[i])) problems.push(`${label}: data changed`);
        if (leaksOf(response.body, a, request.sent).length > 0)
          problems.push(`${label}: the response shows A's data`);
      }
      expect(problems).toEqual([]);
    },
    120_000,
  );

  it.each(projectScopedLists.map((op) => [`${op.method} ${op.path} (${op.operationId})`, op] as const))(
    "%s with a project A shares with B: B sees B's own rows there and none of A's",
    async (_name, op) => {
      const [a, b] = await arrangeWorld(world, 2, { messagesPerSession: 2 });
      const bSession = await arrangeSession(world, b, a.sharedProjectId, `B in a shared project ${b.marker}`);
      const location = idLocations(op).find((l) => l.in === 'query' && l.kind === 'project')!;
      const list = (caller: ArrangedUser) =>
        send(
          caller,
          probe(op, [location], () => a.sharedProjectId, idsOf(caller, 'private')),
        );
      const asB = await list(b);
      expect(asB.statusCode).toBe(200);
      expect(await foreignIdsIn(t.sql, b.user_id, asB.body)).toEqual([]);
      expect(leaksOf(asB.body, a, [a.sharedProjectId, a.user_id])).toEqual([]);
      expect(asB.body).toContain(bSession);
      // And the other way round: A sees A's session there, not B's.
      const asA = await list(a);
      expect(asA.statusCode).toBe(200);
      expect(asA.body).toContain(a.sessionIds[1]);
      expect(asA.body).not.toContain(bSession);
      expect(await foreignIdsIn(t.sql, a.user_id, asA.body)).toEqual([]);
    },
  );

  it.each(idOperations.map((op) => [`${op.method} ${op.path} (${op.operationId})`, op] as const))(
    "%s: user B acting on user A's ids gets 404, sees nothing of A's and changes nothing",
    async (_name, op) => {
      const problems: string[] = [];
      const documented403 = '403' in op.responses;
      for (const c of casesFor(op)) {
        if (c.target.some((l) => !l.kind)) continue;
        const [a, b] = await arrangeWorld({ app: t.app, sql: t.sql, doc }, 2, { messagesPerSession: 2 });
        const scope = c.relation === 'co-member' ? 'shared' : 'private';
        const caller = c.relation === 'anonymous' ? undefined : b;
        const aIds = idsOf(a, scope);
        // B's own resources fill the other ids; as a co-member, the project is the one A shares with B.
        const bIds = {
          ...idsOf(b, 'private'),
          ...(c.relation === 'co-member' ? { project: a.sharedProjectId } : {}),
        };
        const label = `${op.operationId} [${c.relation}: ${c.target.map((l) => `${l.in} ${l.name}`).join(', ')}]`;

        const attack = probe(op, c.target, (l) => aIds[l.kind!], bIds);
        const before = await snapshotOf(a);
        const response = await send(caller, attack);
        const after = await snapshotOf(a);
        const missing = probe(op, c.target, () => randomUUID(), bIds);
        const baseline = await send(caller, missing);

        const answer = outcome(response, attack.sent);
        const randomAnswer = outcome(baseline, missing.sent);
        rows.push(`${label.padEnd(80)} B: ${response.statusCode}  random id: ${baseline.statusCode}`);
        if (after !== before) problems.push(`${label}: A's data changed (B got ${response.statusCode})`);
        const leaks = leaksOf(response.body, a, attack.sent);
        if (leaks.length > 0) problems.push(`${label}: the response shows A's ${leaks.join(', ')}`);
        if (answer !== randomAnswer)
          problems.push(`${label}: A's id answers "${answer}" but an unknown id answers "${randomAnswer}"`);
        const inPathOrBody = c.target.some((l) => l.in !== 'query');
        if (inPathOrBody && !(response.statusCode === 404 || (documented403 && response.statusCode === 403)))
          problems.push(
            `${label}: expected 404${documented403 ? ' or 403' : ''}, got ${response.statusCode} ${response.body.slice(0, 200)}`,
          );
        if (!inPathOrBody && response.statusCode >= 500) problems.push(`${label}: ${response.statusCode}`);

        // Control: for A the same ids (A's own resources elsewhere) name something that exists. A business
        // rule may still refuse A (403: the creator cannot leave their project), but never as not found.
        if (inPathOrBody) {
          const control = await send(
            a,
            probe(op, c.target, (l) => aIds[l.kind!], idsOf(a, scope)),
          );
          if (control.statusCode === 404 || control.statusCode >= 500)
            problems.push(
              `${label}: control request by A got ${control.statusCode} ${control.body.slice(0, 200)}`,
            );
        }
      }
      expect(problems).toEqual([]);
    },
    120_000,
  );
});
