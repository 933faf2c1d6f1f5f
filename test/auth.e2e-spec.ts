import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { createUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const SECRET = 'test-secret-of-at-least-thirty-two-characters';
const key = new TextEncoder().encode(SECRET);

const token = (claims: { sub?: string; exp?: number; nbf?: number }, secret = key) => {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  jwt.setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 300);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(secret);
};

describe(`authentication with HS256 JWTs and X-User-ID (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ JWT_SECRET: SECRET });
  });
  afterAll(() => t?.close());

  const me = (headers: Record<string, string>) =>
    t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers });

  it('a valid token for an existing user authenticates as its subject', async () => {
    const user = await createUser(t.app);
    const response = await me({ authorization: `Bearer ${await token({ sub: user.user_id })}` });
    expect(response.statusCode).toBe(200);
    expect(response.json().user_id).toBe(user.user_id);
  });

  it('POST /api/v1/users with a token creates the profile of its subject once, then returns it (idempotent)', async () => {
    const sub = randomUUID();
    const headers = { authorization: `Bearer ${await token({ sub })}` };
    const first = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers,
      payload: { display_name: 'JWT user' },
    });
    expect(first.statusCode).toBe(201);
    expect(first.json().user_id).toBe(sub);
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers,
      payload: { display_name: 'Other' },
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ user_id: sub, display_name: 'JWT user' });
  });

  it('two first POST /api/v1/users with the same token at once create one profile: one 201, one 200', async () => {
    const sub = randomUUID();
    const headers = { authorization: `Bearer ${await token({ sub })}` };
    const responses = await Promise.all(
      [1, 2].map(() =>
        t.app.inject({ method: 'POST', url: '/api/v1/users', headers, payload: { display_name: 'Racer' } }),
      ),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, 201]);
    expect(responses.map((r) => r.json().user_id)).toEqual([sub, sub]);
  });

  it.each([
    ['an expired token', async () => token({ sub: randomUUID(), exp: Math.floor(Date.now() / 1000) - 60 })],
    [
      'a token signed with another secret',
      async () => token({ sub: randomUUID() }, new TextEncoder().encode('x'.repeat(40))),
    ],
    ['a token without sub', async () => token({})],
    ['a token whose sub is not a UUID', async () => token({ sub: 'admin' })],
    ['a token for a user that does not exist', async () => token({ sub: randomUUID() })],
    ['a malformed token', async () => 'not.a.jwt'],
  ])('%s is 401', async (_name, make) => {
    const response = await me({ authorization: `Bearer ${await make()}` });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ statusCode: 401, error: 'unauthorized' });
  });

  it('an Authorization header that is not a bearer token is 401', async () => {
    const response = await me({ authorization: 'Basic dXNlcjpwYXNz' });
    expect(response.statusCode).toBe(401);
  });
});

describe(`authentication with header mode off (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ JWT_SECRET: SECRET, AUTH_HEADER_ENABLED: 'false' });
  });
  afterAll(() => t?.close());

  it('X-User-ID is ignored entirely: the request is unauthenticated', async () => {
    const user = await createUser(t.app);
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    expect(response.statusCode).toBe(401);
    expect(response.json().message).toMatch(/Bearer/);
  });
});

describe(`authentication without JWT_SECRET (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const me = (headers: Record<string, string>) =>
    t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers });

  it('bearer tokens are refused with 401 rather than ignored, even next to a valid X-User-ID', async () => {
    const user = await createUser(t.app);
    // Control: the X-User-ID alone authenticates, so a server that ignored the token would answer 200.
    expect((await me(user.headers)).statusCode).toBe(200);
    const response = await me({
      ...user.headers,
      authorization: `Bearer ${await token({ sub: user.user_id })}`,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({
      statusCode: 401,
      error: 'unauthorized',
      message: 'Bearer tokens are not accepted by this server',
    });
  });

  it('a bearer token for an existing user without X-User-ID is refused as a token, not as a missing identity', async () => {
    const user = await createUser(t.app);
    const response = await me({ authorization: `Bearer ${await token({ sub: user.user_id })}` });
    expect(response.statusCode).toBe(401);
    expect(response.json().message).toBe('Bearer tokens are not accepted by this server');
  });
});
