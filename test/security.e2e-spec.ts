import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { redactProviderDetail } from '../src/chat/chat-generation.js';
import { createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, SERVER_URL, type TestApp } from './support/test-app.js';

/** Issue 12: what an attacker tried as a new user would, fixed; each test failed before its fix. */
describe(`security, round 2 (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let ada: TestUser;
  beforeAll(async () => {
    t = await createTestApp();
    ada = await createUser(t.app, { display_name: 'Ada' });
  });
  afterAll(() => t?.close());

  const inject = (...args: Parameters<TestApp['app']['inject']>) => t.app.inject(...args);

  describe('request bodies are JSON only', () => {
    const forms: [string, string][] = [
      ['application/x-www-form-urlencoded', 'title=From+another+site'],
      ['text/plain', '{"title":"From another site"}'],
      [
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nT\r\n--x--\r\n',
      ],
      ['application/xml', '<title>From another site</title>'],
    ];

    it.each(forms)('%s is 415 in the error shape, and nothing is created', async (type, payload) => {
      const before = await t.sql.query(`SELECT count(*)::int AS n FROM dossier`);
      const response = await inject({
        method: 'POST',
        url: '/api/v1/projects',
        headers: { ...ada.headers, 'content-type': type },
        payload,
      });
      expect(response.statusCode).toBe(415);
      expect(response.json()).toEqual({
        statusCode: 415,
        error: 'unsupported_media_type',
        message: expect.stringContaining('application/json'),
        request_id: response.headers['x-request-id'],
      });
      const after = await t.sql.query(`SELECT count(*)::int AS n FROM dossier`);
      expect(after).toEqual(before);
    });

    it('a form post adding a project member or sending a chat is 415 too', async () => {
      const project = (
        await inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: ada.headers,
          payload: { title: 'P' },
        })
      ).json();
      const stranger = await createUser(t.app);
      const member = await inject({
        method: 'POST',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: { ...ada.headers, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `user_id=${stranger.user_id}`,
      });
      expect(member.statusCode).toBe(415);
      const chat = await inject({
        method: 'POST',
        url: '/api/v1/chat?stream=false',
        headers: { ...ada.headers, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'text=hello',
      });
      expect(chat.statusCode).toBe(415);
      const members = await inject({
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: ada.headers,
      });
      expect(members.json().data.map((m: { user_id: string }) => m.user_id)).toEqual([ada.user_id]);
    });

    it('JSON, with or without a charset, is still accepted', async () => {
      for (const type of ['application/json', 'application/json; charset=utf-8']) {
        const response = await inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: { ...ada.headers, 'content-type': type },
          payload: JSON.stringify({ title: 'JSON' }),
        });
        expect(response.statusCode).toBe(201);
      }
    });
  });

  describe('cursors the API did not issue', () => {
    const cursor = (tag: string, at: string) =>
      Buffer.from(`${tag}|${at}|${randomUUID()}`, 'utf8').toString('base64url');

    it.each([
      ['sessions', 'v1'],
      ['projects', 'p1'],
    ])('a well-formed %s cursor in the year 0000 is 400 naming cursor', async (list, tag) => {
      const response = await inject({
        url: `/api/v1/${list}?cursor=${cursor(tag, '0000-01-01T00:00:00.000000Z')}`,
        headers: ada.headers,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().details).toEqual([{ field: 'cursor', message: expect.any(String) }]);
    });

    it('the earliest instant PostgreSQL and the API both hold (year 0001) is still a cursor', async () => {
      const response = await inject({
        url: `/api/v1/sessions?cursor=${cursor('v1', '0001-01-01T00:00:00.000000Z')}`,
        headers: ada.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ data: [], next_cursor: null });
    });
  });

  describe('deleting an account leaves nothing of theirs readable', () => {
    it('F creates PF, E joins and talks through legacy /chat, F then E delete their accounts: PF and E’s turn are gone', async () => {
      const f = await createUser(t.app, { display_name: 'F' });
      const e = await createUser(t.app, { display_name: 'E' });
      const pf = (
        await inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: f.headers,
          payload: { title: 'PF' },
        })
      ).json();
      const joined = await inject({
        method: 'POST',
        url: `/api/v1/projects/${pf.project_id}/members`,
        headers: f.headers,
        payload: { user_id: e.user_id },
      });
      expect(joined.statusCode).toBe(201);
      const marker = `E's secret plot ${randomUUID()}`;
      const talk = await inject({
        method: 'POST',
        url: '/chat',
        headers: e.headers,
        payload: { text: marker, project_id: pf.project_id },
      });
      expect(talk.statusCode).toBe(200);
      const turnId = talk.headers['x-turn-id'];

      expect(
        (await inject({ method: 'DELETE', url: '/api/v1/users/me', headers: f.headers })).statusCode,
      ).toBe(204);
      // PF still has E: it stays, and so does E's turn.
      expect(await t.sql.query(`SELECT 1 FROM dossier WHERE project_id = $1`, [pf.project_id])).toHaveLength(
        1,
      );
      expect(
        (await inject({ method: 'DELETE', url: '/api/v1/users/me', headers: e.headers })).statusCode,
      ).toBe(204);

      expect(await t.sql.query(`SELECT 1 FROM dossier WHERE project_id = $1`, [pf.project_id])).toEqual([]);
      expect(await t.sql.query(`SELECT 1 FROM turns WHERE turn_id = $1`, [turnId])).toEqual([]);
      expect(await t.sql.query(`SELECT 1 FROM turns WHERE user_text LIKE $1`, [`%${marker}%`])).toEqual([]);
      const anonymous = await inject({
        method: 'POST',
        url: '/chat',
        payload: { text: 'what was said here?', project_id: pf.project_id },
      });
      expect(anonymous.statusCode).toBe(404);
      expect(anonymous.body).not.toContain(marker);
    });

    it('an account deleted while others stay in the project takes its own legacy turns, not the project', async () => {
      const owner = await createUser(t.app);
      const leaver = await createUser(t.app);
      const project = (
        await inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: owner.headers,
          payload: { title: 'Stays' },
        })
      ).json();
      await inject({
        method: 'POST',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: owner.headers,
        payload: { user_id: leaver.user_id },
      });
      const mine = await inject({
        method: 'POST',
        url: '/chat',
        headers: leaver.headers,
        payload: { text: 'leaver text', project_id: project.project_id },
      });
      const theirs = await inject({
        method: 'POST',
        url: '/chat',
        headers: owner.headers,
        payload: { text: 'owner text', project_id: project.project_id },
      });
      await inject({ method: 'DELETE', url: '/api/v1/users/me', headers: leaver.headers });
      expect(
        await t.sql.query(`SELECT 1 FROM turns WHERE turn_id = $1`, [mine.headers['x-turn-id']]),
      ).toEqual([]);
      expect(
        await t.sql.query(`SELECT 1 FROM turns WHERE turn_id = $1`, [theirs.headers['x-turn-id']]),
      ).toHaveLength(1);
      expect(
        await t.sql.query(`SELECT 1 FROM dossier WHERE project_id = $1`, [project.project_id]),
      ).toHaveLength(1);
    });
  });

  describe('a deleted session’s keyed replies are not replayed', () => {
    const keyedChat = (user: TestUser, key: string, text: string) =>
      inject({
        method: 'POST',
        url: '/api/v1/chat?stream=false',
        headers: { ...user.headers, 'idempotency-key': key },
        payload: { text },
      });

    it('chat with a key, delete the session, repeat: a new exchange in a new session, not the deleted one', async () => {
      const user = await createUser(t.app);
      const key = `key-${randomUUID()}`;
      const first = await keyedChat(user, key, 'a private thought');
      expect(first.statusCode).toBe(200);
      const sessionId = first.json().session.session_id;
      const deleted = await inject({
        method: 'DELETE',
        url: `/api/v1/sessions/${sessionId}`,
        headers: user.headers,
      });
      expect(deleted.statusCode).toBe(204);
      expect(await t.sql.query(`SELECT 1 FROM idempotency_keys WHERE key = $1`, [key])).toEqual([]);

      const again = await keyedChat(user, key, 'a private thought');
      expect(again.statusCode).toBe(200);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      expect(again.json().session.session_id).not.toBe(sessionId);
      expect(again.json().assistant_message.message_id).not.toBe(first.json().assistant_message.message_id);
    });

    it('a project deleted by its creator takes a member’s keyed replies in it too', async () => {
      const creator = await createUser(t.app);
      const member = await createUser(t.app);
      const project = (
        await inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: creator.headers,
          payload: { title: 'Shared' },
        })
      ).json();
      await inject({
        method: 'POST',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: creator.headers,
        payload: { user_id: member.user_id },
      });
      const key = `key-${randomUUID()}`;
      const first = await inject({
        method: 'POST',
        url: '/api/v1/chat?stream=false',
        headers: { ...member.headers, 'idempotency-key': key },
        payload: { text: 'in the shared project', project_id: project.project_id },
      });
      expect(first.statusCode).toBe(200);
      await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${project.project_id}`,
        headers: creator.headers,
      });
      expect(await t.sql.query(`SELECT 1 FROM idempotency_keys WHERE key = $1`, [key])).toEqual([]);
    });
  });

  describe('user profiles reveal nothing and point nowhere internal', () => {
    const create = (payload: Record<string, unknown>) =>
      inject({ method: 'POST', url: '/api/v1/users', payload });
    /** What the outside sees of an answer: status, field names, and fields other than the caller's own values. */
    const outside = (response: Awaited<ReturnType<typeof create>>) => ({
      status: response.statusCode,
      fields: Object.keys(response.json()).sort(),
    });

    it('creating a user with a taken email answers exactly like with a free one', async () => {
      const taken = `taken-${randomUUID()}@example.test`;
      await create({ email: taken });
      const withTaken = await create({ email: taken.toUpperCase(), display_name: 'X' });
      const withFree = await create({ email: `free-${randomUUID()}@example.test`, display_name: 'X' });
      expect(outside(withTaken)).toEqual(outside(withFree));
      expect(withTaken.statusCode).toBe(201);
      const changed = await inject({
        method: 'PATCH',
        url: '/api/v1/users/me',
        headers: ada.headers,
        payload: { email: taken },
      });
      expect(changed.statusCode).toBe(200);
    });

    it.each([
      'http://127.0.0.1:5432/x',
      'http://example.test/a.png',
      'ftp://example.test/a.png',
      'javascript:alert(1)',
    ])('avatar_url %s is 400 naming avatar_url (on create and on update)', async (url) => {
      const created = await create({ avatar_url: url });
      expect(created.statusCode).toBe(400);
      expect(created.json().details.map((d: { field: string }) => d.field)).toContain('avatar_url');
      const updated = await inject({
        method: 'PATCH',
        url: '/api/v1/users/me',
        headers: ada.headers,
        payload: { avatar_url: url },
      });
      expect(updated.statusCode).toBe(400);
    });

    it('an https avatar_url is accepted as given', async () => {
      const created = await create({ avatar_url: 'https://cdn.example.test/a.png' });
      expect(created.statusCode).toBe(201);
      expect(created.json().avatar_url).toBe('https://cdn.example.test/a.png');
    });
  });

  describe('probes and metrics ignore identity', () => {
    const identities: [string, Record<string, string>][] = [
      ['a Basic Authorization header', { authorization: 'Basic dXNlcjpwYXNz' }],
      ['a malformed bearer token', { authorization: 'Bearer not.a.jwt' }],
      ['a malformed X-User-ID', { 'x-user-id': 'not-a-uuid' }],
      ['an unknown X-User-ID', { 'x-user-id': randomUUID() }],
    ];
    it.each(identities)('%s: /health/live, /health/ready and /metrics answer 200', async (_name, headers) => {
      for (const url of ['/health/live', '/health/ready', '/metrics']) {
        const response = await inject({ url, headers });
        expect({ url, status: response.statusCode }).toEqual({ url, status: 200 });
      }
    });

    it('the OpenAPI document shows them without a security requirement and without a 401', async () => {
      const document = (await inject({ url: '/docs-json' })).json();
      for (const [path, method] of [
        ['/health/live', 'get'],
        ['/health/ready', 'get'],
        ['/metrics', 'get'],
      ]) {
        const operation = document.paths[path][method];
        expect({ path, security: operation.security, has401: '401' in operation.responses }).toEqual({
          path,
          security: undefined,
          has401: false,
        });
      }
      expect(document.security).toBeUndefined();
    });
  });
});

describe('avatar_url in development (NODE_ENV=development)', () => {
  const nodeEnv = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = nodeEnv;
  });

  it('accepts http: as well as https:, still nothing else', async () => {
    const { plainToInstance } = await import('class-transformer');
    const { validate } = await import('class-validator');
    const { CreateUserDto } = await import('../src/users/users.dto.js');
    const fieldsOf = async (avatar_url: string) =>
      (await validate(plainToInstance(CreateUserDto, { avatar_url }))).map((e) => e.property);
    process.env.NODE_ENV = 'development';
    expect(await fieldsOf('http://localhost:3000/a.png')).toEqual([]);
    expect(await fieldsOf('ftp://localhost/a.png')).toEqual(['avatar_url']);
    process.env.NODE_ENV = 'production';
    expect(await fieldsOf('http://localhost:3000/a.png')).toEqual(['avatar_url']);
  });
});

describe(`rate limits count a caller by address until its identity is proven (${DATABASE_KIND})`, () => {
  const LIMIT = 5;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: String(LIMIT) });
  });
  afterAll(() => t?.close());

  it('random X-User-ID values share the address budget: 401 within it, then 429 without a transaction', async () => {
    const user = await createUser(t.app); // proven: its row was just created
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i += 1) {
      const response = await t.app.inject({
        url: '/api/v1/users/me',
        headers: { 'x-user-id': randomUUID() },
      });
      statuses.push(response.statusCode);
    }
    // POST /users took one request of the address budget.
    expect(statuses).toEqual([...Array<number>(LIMIT - 1).fill(401), ...Array<number>(4).fill(429)]);
    // A proven user is counted per user, so the exhausted address budget does not stop them.
    const me = await t.app.inject({ url: '/api/v1/users/me', headers: user.headers });
    expect(me.statusCode).toBe(200);
    expect(Number(me.headers['x-ratelimit-remaining'])).toBe(LIMIT - 1);
  });
});

describe(`a provider's error text never reaches clients (${DATABASE_KIND})`, () => {
  const KEY = 'sk-proj-Zx81kQ7vLmN0pR2sT4uV';
  const PROVIDER_TEXT = `Incorrect API key provided: ${KEY} (internal gateway gw-7.corp.internal)`;
  let t: TestApp;
  let provider: Server;
  beforeAll(async () => {
    // A provider that refuses the key with a message echoing it, as OpenAI's does.
    provider = createServer((request, response) => {
      request.resume();
      response
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { message: PROVIDER_TEXT, type: 'invalid_request_error' } }));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const { port } = provider.address() as AddressInfo;
    t = await createTestApp({
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: `http://127.0.0.1:${port}/v1`,
      LLM_MODEL: 'any',
    });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => provider?.close(resolve));
  });

  const leaks = (text: string) =>
    [KEY, 'Incorrect API key', 'gw-7', 'corp.internal'].filter((secret) => text.includes(secret));

  it('JSON chat: 502 with a generic message and the status class, nothing of the provider’s text', async () => {
    const user = await createUser(t.app);
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: user.headers,
      payload: { text: 'hello' },
    });
    expect(response.statusCode).toBe(502);
    expect(response.json().message).toContain('HTTP 4xx');
    expect(leaks(response.body)).toEqual([]);
  });

  it('streamed chat: the error part is generic', async () => {
    const user = await createUser(t.app);
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: user.headers,
      payload: { text: 'hello' },
    });
    expect(response.body).toContain('"type":"error"');
    expect(response.body).toContain('HTTP 4xx');
    expect(leaks(response.body)).toEqual([]);
  });

  it('anonymous legacy /chat: 502 without the provider’s text', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/chat', payload: { text: 'hello' } });
    expect(response.statusCode).toBe(502);
    expect(leaks(response.body)).toEqual([]);
  });

  it('the detail kept for the log has the key masked', () => {
    const logged = redactProviderDetail(
      `HTTP 401: ${PROVIDER_TEXT} Authorization: Bearer abc.def api_key=xyz`,
    );
    expect(logged).toContain('Incorrect API key provided');
    expect(logged).not.toContain(KEY);
    expect(logged).not.toContain('abc.def');
    expect(logged).not.toContain('xyz');
  });
});

const missingDatabaseSkip = SERVER_URL ? undefined : 'needs PostgreSQL (TEST_DATABASE_URL)';
(missingDatabaseSkip ? describe.skip : describe)(
  `a missing database is 503 with Retry-After (${missingDatabaseSkip ?? 'postgres'})`,
  () => {
    let t: TestApp;
    let name: string;
    let admin: pg.Client;
    beforeAll(async () => {
      t = await createTestApp({ DB_CONNECT_TIMEOUT_MS: '2000' });
      name = new URL(t.config.DATABASE_URL!).pathname.slice(1);
      admin = new pg.Client({ connectionString: SERVER_URL });
      await admin.connect();
    });
    afterAll(async () => {
      await admin
        ?.query(`ALTER DATABASE ${name}_gone RENAME TO ${name}`)
        .catch(() => undefined)
        .finally(() => admin.end());
      await t?.close();
    });

    it('the database renamed away (SQLSTATE 3D000): the API and readiness answer 503 with Retry-After', async () => {
      const user = await createUser(t.app);
      // Close the pool's connections and rename the database, as an operator moving it away would.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
      await admin.query(`ALTER DATABASE ${name} RENAME TO ${name}_gone`);
      await admin.query(`ALTER DATABASE ${name}_gone ALLOW_CONNECTIONS true`);
      for (const url of ['/api/v1/users/me', '/api/v1/sessions', '/api/v1/users/me']) {
        const response = await t.app.inject({ url, headers: user.headers });
        expect({ url, status: response.statusCode, error: response.json().error }).toEqual({
          url,
          status: 503,
          error: 'unavailable',
        });
        expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
      }
      const ready = await t.app.inject({ url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(Number(ready.headers['retry-after'])).toBeGreaterThan(0);
    });
  },
);
