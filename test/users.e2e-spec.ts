import { randomUUID } from 'node:crypto';
import { createUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

describe(`users API (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const inject = (...args: Parameters<TestApp['app']['inject']>) => t.app.inject(...args);

  it('POST /api/v1/users creates a user without authentication and returns it in snake_case', async () => {
    const response = await inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'Ada@Example.test', display_name: 'Ada', avatar_url: 'https://example.test/a.png' },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      user_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: 'Ada@Example.test',
      display_name: 'Ada',
      avatar_url: 'https://example.test/a.png',
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('an email another user gave (any letter case) is accepted like a free one: nothing reveals it is taken', async () => {
    await createUser(t.app, { email: 'dup@example.test' });
    const response = await inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'DUP@example.TEST' },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ email: 'DUP@example.TEST' });
  });

  it.each([
    [{ email: 'not-an-email' }, 'email'],
    [{ avatar_url: 'ftp://example.test/a.png' }, 'avatar_url'],
    [{ display_name: 'x'.repeat(101) }, 'display_name'],
    [{ display_name: 42 }, 'display_name'],
    [{ role: 'admin' }, 'role'],
  ])('invalid body %j is 400 naming the field', async (payload, field) => {
    const response = await inject({ method: 'POST', url: '/api/v1/users', payload });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toBe('validation_failed');
    expect(body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('malformed JSON is 400 and a body over the limit is 413, both in the error shape', async () => {
    const bad = await inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { 'content-type': 'application/json' },
      payload: '{"email":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'validation_failed', request_id: expect.any(String) });
    const big = await inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { display_name: 'x'.repeat(t.config.BODY_LIMIT_BYTES) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'payload_too_large' });
  });

  it('GET /api/v1/users/me returns the caller; no identity, a malformed id or an unknown id is 401', async () => {
    const user = await createUser(t.app, { display_name: 'Me' });
    const me = await inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    expect(me.statusCode).toBe(200);
    expect(me.json().user_id).toBe(user.user_id);
    for (const headers of [{}, { 'x-user-id': 'nope' }, { 'x-user-id': randomUUID() }]) {
      const response = await inject({ method: 'GET', url: '/api/v1/users/me', headers });
      expect(response.statusCode).toBe(401);
      expect(response.json().error).toBe('unauthorized');
    }
  });

  it('PATCH /api/v1/users/me changes only the given fields and moves updated_at', async () => {
    const user = await createUser(t.app, { display_name: 'Before' });
    const response = await inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: user.headers,
      payload: { display_name: 'After' },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.display_name).toBe('After');
    expect(body.email).toBe(user.email);
    expect(new Date(body.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(body.created_at).getTime());
  });

  it('PATCH /api/v1/users/me with another user’s email (any letter case) is accepted like a free one', async () => {
    await createUser(t.app, { email: 'taken@example.test' });
    const user = await createUser(t.app, { display_name: 'Keeps' });
    const response = await inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: user.headers,
      payload: { email: 'TAKEN@example.test', display_name: 'Changed' },
    });
    expect(response.statusCode).toBe(200);
    const me = await inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    expect(me.json()).toMatchObject({ email: 'TAKEN@example.test', display_name: 'Changed' });
  });

  it('PATCH /api/v1/users/me: null clears a field, {} changes nothing, unknown fields are 400', async () => {
    const user = await createUser(t.app, { display_name: 'Named', avatar_url: 'https://example.test/a.png' });
    const cleared = await inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: user.headers,
      payload: { avatar_url: null },
    });
    expect(cleared.statusCode).toBe(200);
    expect(cleared.json()).toMatchObject({ avatar_url: null, display_name: 'Named', email: user.email });
    const same = await inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: user.headers,
      payload: {},
    });
    expect(same.statusCode).toBe(200);
    expect(same.json()).toMatchObject({ avatar_url: null, display_name: 'Named', email: user.email });
    const unknown = await inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: user.headers,
      payload: { user_id: randomUUID() },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().details.map((d: { field: string }) => d.field)).toContain('user_id');
  });

  it('DELETE /api/v1/users/me removes the user, everything they own and the legacy text they wrote, leaves others’ turns, and orphans nothing', async () => {
    const user = await createUser(t.app);
    const other = await createUser(t.app);
    const [ids] = await t.sql.query<{ own: string; shared: string; session: string; turn: string }>(
      `WITH own AS (INSERT INTO dossier (title, created_by) VALUES ('own', '${user.user_id}') RETURNING project_id),
            shared AS (INSERT INTO dossier (title, created_by) VALUES ('shared', '${user.user_id}') RETURNING project_id)
       SELECT (SELECT project_id FROM own) AS own, (SELECT project_id FROM shared) AS shared,
              gen_random_uuid() AS session, gen_random_uuid() AS turn`,
    );
    await t.sql.exec(`
      INSERT INTO user_projects (user_id, project_id) VALUES
        ('${user.user_id}', '${ids.own}'), ('${user.user_id}', '${ids.shared}'), ('${other.user_id}', '${ids.shared}');
      INSERT INTO sessions (session_id, user_id, project_id) VALUES ('${ids.session}', '${user.user_id}', '${ids.shared}');
      INSERT INTO chat_messages (session_id, role, content) VALUES ('${ids.session}', 'user', 'hello');
      INSERT INTO turns (turn_id, project_id, user_text, session_id, user_id)
        VALUES ('${ids.turn}', '${ids.shared}', 'hello', '${ids.session}', '${user.user_id}');
      INSERT INTO turns (project_id, user_text) VALUES ('${ids.shared}', 'unclaimed ${ids.turn}');
    `);
    const response = await inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers });
    expect(response.statusCode).toBe(204);
    const [after] = await t.sql.query<Record<string, number | string | null>>(`
      SELECT (SELECT count(*)::int FROM users WHERE user_id = '${user.user_id}') AS users,
             (SELECT count(*)::int FROM dossier WHERE project_id = '${ids.own}') AS own_project,
             (SELECT count(*)::int FROM dossier WHERE project_id = '${ids.shared}') AS shared_project,
             (SELECT count(*)::int FROM sessions WHERE user_id = '${user.user_id}') AS sessions,
             (SELECT count(*)::int FROM chat_messages m WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = m.session_id)) AS orphan_messages,
             (SELECT count(*)::int FROM user_projects WHERE user_id = '${user.user_id}') AS memberships,
             (SELECT session_id::text FROM turns WHERE turn_id = '${ids.turn}') AS turn_session,
             (SELECT count(*)::int FROM turns WHERE turn_id = '${ids.turn}') AS turn,
             (SELECT count(*)::int FROM turns WHERE user_text = 'unclaimed ${ids.turn}') AS unclaimed_turn`);
    expect(after).toEqual({
      users: 0,
      own_project: 0,
      shared_project: 1,
      sessions: 0,
      orphan_messages: 0,
      memberships: 0,
      turn_session: null,
      turn: 0,
      unclaimed_turn: 1,
    });
    const again = await inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    expect(again.statusCode).toBe(401);
  });
});
