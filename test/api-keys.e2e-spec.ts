import { createSession, createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

describe(`API keys (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_ENABLED: 'false' });
  });
  afterAll(() => t?.close());

  const createKey = async (user: TestUser, body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/users/me/api-keys', headers: user.headers, payload: body });
  const withKey = (key: string) => ({ authorization: `Bearer ${key}` });

  it('creates a key shown once (pk_ prefix), lists it without the secret, and the key acts as its owner', async () => {
    const user = await createUser(t.app);
    const created = await createKey(user, { name: 'script', scopes: ['read', 'write'] });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body.key).toMatch(/^pk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(body.key.startsWith(`${body.prefix}_`)).toBe(true);
    expect(body).toMatchObject({
      name: 'script',
      scopes: ['read', 'write'],
      last_used_at: null,
      expires_at: null,
    });

    const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: withKey(body.key) });
    expect(me.statusCode).toBe(200);
    expect(me.json().user_id).toBe(user.user_id);

    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/api-keys',
      headers: user.headers,
    });
    expect(list.statusCode).toBe(200);
    const [listed] = list.json().data;
    expect(listed).toMatchObject({ key_id: body.key_id, prefix: body.prefix, name: 'script' });
    expect(listed.key).toBeUndefined();
    expect(list.body).not.toContain(body.key.slice(body.prefix.length + 1));
    expect(listed.last_used_at).not.toBeNull();

    // Only the hash is stored.
    const [row] = await t.sql.query<{ hash: string }>(
      `SELECT encode(secret_hash, 'hex') AS hash FROM api_keys WHERE key_id = $1`,
      [body.key_id],
    );
    expect(row.hash).toHaveLength(64);
    expect(row.hash).not.toContain(body.key);
  });

  it("enforces scopes: read covers GET, write other methods, chat the model's routes; others are 403", async () => {
    const user = await createUser(t.app);
    const readOnly = (await createKey(user, { name: 'r', scopes: ['read'] })).json().key;
    const writeOnly = (await createKey(user, { name: 'w', scopes: ['write'] })).json().key;
    const chatOnly = (await createKey(user, { name: 'c', scopes: ['chat'] })).json().key;
    const session = await createSession(t.app, user);

    const get = (key: string) =>
      t.app.inject({ method: 'GET', url: `/api/v1/sessions/${session.session_id}`, headers: withKey(key) });
    const patch = (key: string) =>
      t.app.inject({
        method: 'PATCH',
        url: `/api/v1/sessions/${session.session_id}`,
        headers: withKey(key),
        payload: { title: 'renamed' },
      });
    const chat = (key: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/chat?stream=false',
        headers: withKey(key),
        payload: { text: 'hello', session_id: session.session_id },
      });

    expect((await get(readOnly)).statusCode).toBe(200);
    expect((await patch(readOnly)).statusCode).toBe(403);
    expect((await chat(readOnly)).statusCode).toBe(403);
    expect((await get(writeOnly)).statusCode).toBe(403);
    expect((await patch(writeOnly)).statusCode).toBe(200);
    expect((await chat(writeOnly)).statusCode).toBe(403);
    expect((await get(chatOnly)).statusCode).toBe(403);
    expect((await patch(chatOnly)).statusCode).toBe(403);
    const chatted = await chat(chatOnly);
    expect(chatted.statusCode).toBe(200);
    expect(chatted.json().assistant_message.content.length).toBeGreaterThan(0);

    const refused = await get(writeOnly);
    expect(refused.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining("'read'") });
  });

  it('a key cannot manage keys (403), whatever its scopes', async () => {
    const user = await createUser(t.app);
    const key = (await createKey(user, { name: 'all', scopes: ['read', 'write', 'chat'] })).json();
    for (const request of [
      { method: 'GET' as const, url: '/api/v1/users/me/api-keys' },
      { method: 'POST' as const, url: '/api/v1/users/me/api-keys', payload: { name: 'x', scopes: ['read'] } },
      { method: 'DELETE' as const, url: `/api/v1/users/me/api-keys/${key.key_id}` },
    ]) {
      const response = await t.app.inject({ ...request, headers: withKey(key.key) });
      expect([request.method, response.statusCode]).toEqual([request.method, 403]);
    }
  });

  it('revocation is immediate: the next request with the key is 401', async () => {
    const user = await createUser(t.app);
    const key = (await createKey(user, { name: 'gone', scopes: ['read'] })).json();
    const me = () => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: withKey(key.key) });
    expect((await me()).statusCode).toBe(200);
    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/me/api-keys/${key.key_id}`,
      headers: user.headers,
    });
    expect(revoked.statusCode).toBe(204);
    const after = await me();
    expect(after.statusCode).toBe(401);
    expect(after.json().message).toBe('The API key is invalid, revoked or expired');
    const again = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/me/api-keys/${key.key_id}`,
      headers: user.headers,
    });
    expect(again.statusCode).toBe(404);
  });

  it("another user's key id is 404 and stays alive; a forged secret with a real prefix is 401", async () => {
    const owner = await createUser(t.app);
    const other = await createUser(t.app);
    const key = (await createKey(owner, { name: 'mine', scopes: ['read'] })).json();
    const stolen = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/me/api-keys/${key.key_id}`,
      headers: other.headers,
    });
    expect(stolen.statusCode).toBe(404);
    const forged = `${key.prefix}_${'A'.repeat(43)}`;
    for (const credential of [forged, 'pk_short', `${key.key}x`]) {
      const response = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: withKey(credential),
      });
      expect(response.statusCode).toBe(401);
    }
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: withKey(key.key) })).statusCode,
    ).toBe(200);
  });

  it('an expired key is 401; expires_at in the past, unknown scopes and empty names are 400', async () => {
    const user = await createUser(t.app);
    const key = (
      await createKey(user, {
        name: 'soon',
        scopes: ['read'],
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      })
    ).json();
    await t.sql.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_id = $1`, [
      key.key_id,
    ]);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: withKey(key.key) })).statusCode,
    ).toBe(401);
    for (const [payload, field] of [
      [{ name: 'x', scopes: ['read'], expires_at: '2001-01-01T00:00:00Z' }, 'expires_at'],
      [{ name: 'x', scopes: ['admin'] }, 'scopes'],
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: '  ', scopes: ['read'] }, 'name'],
    ] as const) {
      const response = await createKey(user, payload);
      expect(response.statusCode).toBe(400);
      expect(response.json().details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });
});
