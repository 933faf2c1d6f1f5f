import { randomUUID } from 'node:crypto';
import { DatabaseService } from '../src/database/database.service.js';
import { StreamLimiter } from '../src/limits/stream-limiter.js';
import { createOpsTestApp, type OpsTestApp } from './support/ops-app.js';
import { IN_CI, redisServerUnavailable, startRedisServer, type RedisServer } from './support/redis-server.js';
import { DATABASE_KIND } from './support/test-app.js';
import type { SqlExecutor } from '../src/database/sql-executor.js';

/** A user made directly in the database, so creating it spends no request budget. */
async function insertUser(sql: SqlExecutor): Promise<{ id: string; headers: Record<string, string> }> {
  const id = randomUUID();
  await sql.query(`INSERT INTO users (user_id, display_name) VALUES ($1, 'limits test')`, [id]);
  return { id, headers: { 'x-user-id': id } };
}

describe(`abuse limits (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    t = await createOpsTestApp({
      RATE_LIMIT_MAX: '5',
      RATE_LIMIT_CHAT_MAX: '2',
      RATE_LIMIT_WINDOW_MS: '60000',
      REQUEST_TIMEOUT_MS: '1500', // below Prisma's 2 s transaction wait on the embedded database
      DB_CONNECT_TIMEOUT_MS: '10000', // so the request timeout, not the wait for a connection, ends the held request
      BODY_LIMIT_BYTES: '2048',
      CORS_ORIGINS: 'https://app.example.test',
      TRUST_PROXY: 'true',
      SWAGGER_ENABLED: 'true',
      STREAMS_PER_USER_MAX: '1',
      BUILTIN_LLM_DELAY_MS: '60', // a chat lasts ~4 s, longer than REQUEST_TIMEOUT_MS: chat is exempt
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
  });

  const me = (headers: Record<string, string>) =>
    t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers });

  it('a user over RATE_LIMIT_MAX gets 429 with Retry-After, in the error shape; another user is not affected', async () => {
    const a = await insertUser(t.sql);
    const b = await insertUser(t.sql);
    let reset = 60;
    for (let i = 1; i <= 5; i++) {
      const ok = await me(a.headers);
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['x-ratelimit-limit']).toBe('5');
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(5 - i));
      // X-RateLimit-Reset: whole seconds until this window ends, within the window, never growing in it.
      const announced = Number(ok.headers['x-ratelimit-reset']);
      expect(Number.isInteger(announced)).toBe(true);
      expect(announced).toBeGreaterThanOrEqual(1);
      expect(announced).toBeLessThanOrEqual(reset);
      reset = announced;
    }
    const refused = await me(a.headers);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(reset);
    expect(refused.headers['x-ratelimit-reset']).toBe(refused.headers['retry-after']);
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.json()).toEqual({
      statusCode: 429,
      error: 'rate_limited',
      message: expect.stringMatching(/Too many requests/),
      request_id: expect.any(String),
    });
    // The budget is the user's, across routes, and not the client address's (all of these come from one).
    expect(
      (await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: a.headers, payload: {} }))
        .statusCode,
    ).toBe(429);
    expect((await me(b.headers)).statusCode).toBe(200);
  });

  it('chat has its own budget (RATE_LIMIT_CHAT_MAX) and a cap on open streams (STREAMS_PER_USER_MAX), both 429', async () => {
    const user = await insertUser(t.sql);
    const chat = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/chat',
        headers: user.headers,
        payload: { text: 'Tell me a story' },
      });
    // The first stream is open once its first bytes have arrived (not after a guessed pause).
    const first = await openStream(t, '/api/v1/chat', user.headers, { text: 'Tell me a story' });
    expect(first.response.status).toBe(200);
    expect(first.response.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(first.response.headers.get('x-ratelimit-limit')).toBe('2');
    const second = await chat();
    expect(second.statusCode).toBe(429);
    expect(second.json()).toMatchObject({
      error: 'rate_limited',
      message: expect.stringMatching(/open streams/),
    });
    expect(await first.rest()).toContain('[DONE]');
    // Two chats spent the chat budget (the refused one counted too); reads have their own.
    const third = await chat();
    expect(third.statusCode).toBe(429);
    expect(third.json().message).toMatch(/Too many chat requests/);
    expect(third.headers['retry-after']).toBeDefined();
    const read = await me(user.headers);
    expect(read.statusCode).toBe(200);
    expect(read.headers['x-ratelimit-limit']).toBe('5');
    await waitFor(() => t.app.get(StreamLimiter).size === 0); // released when the response has closed
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/parley_rate_limited_total\{limit="streams"\} 1/);
    expect(metrics).toMatch(/parley_rate_limited_total\{limit="chat"\} 1/);
    expect(metrics).toMatch(/parley_open_streams 0/);
    expect(metrics).toMatch(
      /parley_llm_request_duration_seconds_count\{provider="builtin",model="[^"]+",outcome="ok"\} 1/,
    );
    expect(metrics).toMatch(
      /parley_chat_tokens_total\{provider="builtin",model="[^"]+",direction="output"\} \d+/,
    );
  });

  it('public routes are limited per client address (X-Forwarded-For with TRUST_PROXY)', async () => {
    const client = (ip: string) => (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/v1/users', headers: { 'x-forwarded-for': ip }, payload });
    const first = client('203.0.113.7');
    for (let i = 0; i < 5; i++) expect((await first({ display_name: `n${i}` })).statusCode).toBe(201);
    const refused = await first({ display_name: 'one too many' });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await client('203.0.113.8')({ display_name: 'another client' })).statusCode).toBe(201);
  });

  it('health probes and metrics are never rate limited', async () => {
    for (let i = 0; i < 8; i++) {
      expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    }
    const live = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(live.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('a body over BODY_LIMIT_BYTES is 413 in the error shape', async () => {
    const user = await insertUser(t.sql);
    const response = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: user.headers,
      payload: { display_name: 'x'.repeat(4096) },
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ statusCode: 413, error: 'payload_too_large' });
  });

  it('a non-streaming request that runs past REQUEST_TIMEOUT_MS is answered 503 in the error shape, not left hanging', async () => {
    const user = await insertUser(t.sql);
    const database = t.app.get(DatabaseService);
    // The row stays held far longer than the timeout: the answer must come while it is still held.
    const { answer: response, whileHeld } = await holdUserRow(database, user.id, 20000, () =>
      t.app.inject({
        method: 'PATCH',
        url: '/api/v1/users/me',
        headers: user.headers,
        payload: { display_name: 'late' },
      }),
    );
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/did not finish within 1500 ms/),
    });
    expect(whileHeld).toBe(true);
  });

  it('the handler of a timed-out request finishes quietly: its answer is dropped, never sent twice, no warning', async () => {
    const quiet = await createOpsTestApp({
      LOG_LEVEL: 'warn',
      REQUEST_TIMEOUT_MS: '1500',
      DB_CONNECT_TIMEOUT_MS: '10000',
    });
    try {
      const user = await insertUser(quiet.sql);
      const database = quiet.app.get(DatabaseService);
      // The event to wait for: Nest handing the handler's late answer to the adapter after the 503 went out.
      type Adapter = { reply(response: { sent?: boolean }, body: unknown, status?: number): unknown };
      const adapter = quiet.app.getHttpAdapter() as unknown as Adapter;
      const reply = adapter.reply.bind(adapter);
      let lateAnswer!: () => void;
      const late = new Promise<void>((resolve) => (lateAnswer = resolve));
      adapter.reply = (response, body, status) => {
        const alreadySent = response.sent === true;
        const result = reply(response, body, status);
        if (alreadySent) lateAnswer();
        return result;
      };
      const { answer: response, whileHeld } = await holdUserRow(database, user.id, 20000, () =>
        quiet.app.inject({
          method: 'PATCH',
          url: '/api/v1/users/me',
          headers: user.headers,
          payload: { display_name: 'late' },
        }),
      );
      expect(response.statusCode).toBe(503);
      expect(whileHeld).toBe(true);
      expect(response.headers['x-request-id']).toBe(response.json<{ request_id: string }>().request_id);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      const name = async () =>
        (
          await quiet.sql.query<{ display_name: string }>(
            'SELECT display_name FROM users WHERE user_id = $1',
            [user.id],
          )
        )[0].display_name;
      // The row is free again: the handler's transaction goes through (its work is not cancelled), and
      // its late answer is dropped.
      await late;
      expect(await name()).toBe('late');
      expect(quiet.logs.raw.filter((line) => /already sent|FST_ERR_REP_ALREADY_SENT/i.test(line))).toEqual(
        [],
      );
    } finally {
      await quiet.close();
    }
  });

  it('security headers on every response, with a content security policy Swagger UI works under', async () => {
    const api = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(api.headers['x-content-type-options']).toBe('nosniff');
    expect(api.headers['strict-transport-security']).toBeDefined();
    expect(api.headers['x-frame-options']).toBe('SAMEORIGIN');
    const csp = String(api.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(api.headers['x-powered-by']).toBeUndefined();

    const docs = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-security-policy']).toBe(csp);
    // script-src 'self': every script of the page is a same-origin file, none inline, and each loads.
    const scripts = [...docs.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, inline] of scripts) {
      expect(inline.trim()).toBe('');
      const src = /src=["']([^"']+)["']/.exec(attributes)?.[1];
      expect(src).toBeDefined();
      expect(src).not.toMatch(/^(https?:)?\/\//);
      const url = new URL(src!, 'http://localhost/docs').pathname;
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(200);
    }
    expect((await t.app.inject({ method: 'GET', url: '/docs-json' })).statusCode).toBe(200);
  });

  it('CORS answers the configured origin and nobody else', async () => {
    const preflight = (origin: string) =>
      t.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/users/me',
        headers: {
          origin,
          'access-control-request-method': 'PATCH',
          'access-control-request-headers': 'x-user-id,content-type',
        },
      });
    const allowed = await preflight('https://app.example.test');
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(String(allowed.headers['access-control-allow-headers'])).toContain('x-user-id');
    const other = await preflight('https://evil.example.test');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const user = await insertUser(t.sql);
    const get = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { ...user.headers, origin: 'https://app.example.test' },
    });
    expect(get.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(String(get.headers['access-control-expose-headers'])).toContain('retry-after');
  });
});

describe(`abuse limits without TRUST_PROXY (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    t = await createOpsTestApp({
      TRUST_PROXY: 'false',
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_CHAT_MAX: '2',
      RATE_LIMIT_WINDOW_MS: '60000',
      LEGACY_CHAT_ENABLED: 'true',
    });
  });
  afterAll(() => t?.close());

  it('a client rotating X-Forwarded-For is still one client: its own address is counted', async () => {
    const create = (i: number) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        remoteAddress: '198.51.100.10',
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
        payload: { display_name: `spoofer ${i}` },
      });
    for (let i = 1; i <= 3; i++) expect((await create(i)).statusCode).toBe(201);
    const refused = await create(4);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toBe('rate_limited');
    // Another address has its own budget (so the refusal is about the address, not the route).
    const other = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      remoteAddress: '198.51.100.11',
      headers: { 'x-forwarded-for': '203.0.113.4' },
      payload: { display_name: 'another client' },
    });
    expect(other.statusCode).toBe(201);
  });

  it('anonymous legacy POST /chat spends the chat budget of the client address (RATE_LIMIT_CHAT_MAX)', async () => {
    const legacy = (remoteAddress: string) =>
      t.app.inject({ method: 'POST', url: '/chat', remoteAddress, payload: { text: 'An old client' } });
    for (let i = 1; i <= 2; i++) {
      const ok = await legacy('198.51.100.20');
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['x-ratelimit-limit']).toBe('2');
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(2 - i));
    }
    const refused = await legacy('198.51.100.20');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toMatch(/Too many chat requests/);
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await legacy('198.51.100.21')).statusCode).toBe(200);
    // The address's other budget is untouched.
    const read = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      remoteAddress: '198.51.100.20',
      payload: { display_name: 'same address, other budget' },
    });
    expect(read.statusCode).toBe(201);
  });
});

describe(`a short rate-limit window and the stream cap (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    t = await createOpsTestApp({
      TRUST_PROXY: 'false',
      RATE_LIMIT_MAX: '3',
      // Far above what these tests send: the stream cap, not the chat budget, must be what refuses here.
      RATE_LIMIT_CHAT_MAX: '50',
      RATE_LIMIT_WINDOW_MS: '2000',
      STREAMS_PER_USER_MAX: '1',
      BUILTIN_LLM_DELAY_MS: '60', // a reply streams for a few seconds: long enough to hold its slot
      LEGACY_CHAT_ENABLED: 'true',
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
  });

  it('after the window the budget is back, when X-RateLimit-Reset said it would be', async () => {
    const user = await insertUser(t.sql);
    const me = () => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    // Spend the budget; a window may end while doing so, so go on until refused (at most two windows' worth).
    let refused;
    for (let i = 0; i < 7 && !refused; i++) {
      const answer = await me();
      if (answer.statusCode === 429) refused = answer;
      else expect(answer.statusCode).toBe(200);
    }
    expect(refused?.statusCode).toBe(429);
    const reset = Number(refused!.headers['x-ratelimit-reset']);
    expect(reset).toBeGreaterThanOrEqual(1);
    expect(reset).toBeLessThanOrEqual(2);
    expect(refused!.headers['retry-after']).toBe(String(reset));
    await new Promise((resolve) => setTimeout(resolve, reset * 1000));
    const again = await me();
    expect(again.statusCode).toBe(200);
    expect(again.headers['x-ratelimit-remaining']).toBe('2');
  });

  it('a user holds at most STREAMS_PER_USER_MAX streams; the slot is free again when the client goes', async () => {
    const [ada, bob] = [await insertUser(t.sql), await insertUser(t.sql)];
    const streams = t.app.get(StreamLimiter);
    const open = await openStream(t, '/api/v1/chat', ada.headers, { text: 'A long story, please' });
    expect(open.response.status).toBe(200);
    const json = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/chat?stream=false',
        headers: ada.headers,
        payload: { text: 'And another one' },
      });
    const refused = await json();
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toMatch(/open streams: at most 1/);
    // Another user is not held by Ada's stream.
    const bobs = await openStream(t, '/api/v1/chat', bob.headers, { text: 'My own story' });
    expect(bobs.response.status).toBe(200);
    bobs.abort();
    open.abort();
    await waitFor(() => streams.size === 0);
    const next = await openStream(t, '/api/v1/chat', ada.headers, { text: 'Now it fits' });
    expect(next.response.status).toBe(200);
    next.abort();
    await waitFor(() => streams.size === 0);
  });

  it('anonymous legacy streams are capped per client address', async () => {
    const streams = t.app.get(StreamLimiter);
    // Real HTTP from 127.0.0.1: one anonymous stream open, its first bytes received.
    const open = await openStream(t, '/chat', {}, { text: 'An old client, a long answer' });
    expect(open.response.status).toBe(200);
    const legacy = (remoteAddress: string) =>
      t.app.inject({ method: 'POST', url: '/chat', remoteAddress, payload: { text: 'meanwhile' } });
    const refused = await legacy('127.0.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toMatch(/open streams/);
    // X-Forwarded-For is not trusted here: the same address, the same cap.
    const spoofed = await openStream(t, '/chat', { 'x-forwarded-for': '203.0.113.9' }, { text: 'spoofed' });
    expect(spoofed.response.status).toBe(429);
    expect(JSON.parse(await spoofed.rest()).message).toMatch(/open streams/);
    open.abort();
    await waitFor(() => streams.size === 0);
    const another = await legacy('198.51.100.30');
    expect(another.statusCode).toBe(200);
  });
});

/** Waits until `done()` holds (the event), polling; fails after `ms` only as a last resort. */
async function waitFor(done: () => boolean | Promise<boolean>, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('waitFor: the condition never held');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * POSTs `body` to `path` over real HTTP and resolves once the response's first bytes have arrived (for a
 * stream: it is open and running). `rest()` reads it to the end; `abort()` disconnects.
 */
async function openStream(
  t: OpsTestApp,
  path: string,
  headers: Record<string, string>,
  body: object,
): Promise<{ response: Response; first: string; rest(): Promise<string>; abort(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${await t.app.getUrl()}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const chunk = await reader.read();
  const first = chunk.done ? '' : decoder.decode(chunk.value, { stream: true });
  return {
    response,
    first,
    rest: async () => {
      let text = first;
      for (let next = await reader.read(); !next.done; next = await reader.read())
        text += decoder.decode(next.value, { stream: true });
      return text;
    },
    abort: () => controller.abort(),
  };
}

/**
 * Runs `request` while another connection holds `user_id`'s row locked (PostgreSQL) or holds the embedded
 * database's only connection (PGlite), until the request is answered or `ms` have passed (a safety net);
 * returns the answer and whether it came while the row was still held.
 */
async function holdUserRow<T>(
  database: DatabaseService,
  userId: string,
  ms: number,
  request: () => Promise<T>,
): Promise<{ answer: T; whileHeld: boolean }> {
  let holding = true;
  let answered!: () => void;
  const hold = new Promise<void>((resolve) => {
    answered = resolve;
    setTimeout(resolve, ms).unref();
  }).then(() => {
    holding = false;
  });
  const run = async () => {
    try {
      const answer = await request();
      return { answer, whileHeld: holding };
    } finally {
      answered();
    }
  };
  if (database.kind === 'postgres') {
    const pg = (await import('pg')).default;
    const url = (database as unknown as { config: { DATABASE_URL: string } }).config.DATABASE_URL;
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE', [userId]);
      const released = hold.then(() => locker.query('ROLLBACK'));
      const result = await run();
      await released;
      return result;
    } finally {
      await locker.end();
    }
  }
  const pglite = (database as unknown as { pglite: { transaction(fn: () => Promise<void>): Promise<void> } })
    .pglite;
  const held = pglite.transaction(() => hold);
  const result = await run();
  await held;
  return result;
}

/**
 * The shared-limits test gets a redis-server of its own (own port, own temporary directory, nothing saved),
 * or the one TEST_REDIS_URL names. Decided before the tests are declared: without the binary it is skipped
 * with the reason in its name, except in CI (CI=true), where it fails instead: CI must run it.
 */
const REDIS_UNAVAILABLE = process.env.TEST_REDIS_URL ? undefined : redisServerUnavailable();

if (REDIS_UNAVAILABLE && IN_CI)
  describe(`rate limits shared through Redis (${DATABASE_KIND})`, () => {
    it('needs a redis-server in CI', () => {
      throw new Error(`CI=true and no redis-server can be started: ${REDIS_UNAVAILABLE}`);
    });
  });
else
  (REDIS_UNAVAILABLE ? describe.skip : describe)(
    `rate limits shared through Redis (${DATABASE_KIND})${REDIS_UNAVAILABLE ? ` [skipped: ${REDIS_UNAVAILABLE}]` : ''}`,
    () => {
      const prefix = `parley-test-${randomUUID()}:`;
      let redis: RedisServer | undefined;
      let one: OpsTestApp;
      let two: OpsTestApp;
      beforeAll(async () => {
        const url = process.env.TEST_REDIS_URL ?? (redis = await startRedisServer()).url;
        const env = { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, RATE_LIMIT_MAX: '3' };
        one = await createOpsTestApp(env);
        two = await createOpsTestApp(env);
      });
      afterAll(async () => {
        await one?.close();
        await two?.close();
        await redis?.stop();
      });

      it('two instances count one client against one budget', async () => {
        const create = (t: OpsTestApp) =>
          t.app.inject({ method: 'POST', url: '/api/v1/users', payload: { display_name: 'shared budget' } });
        expect((await create(one)).statusCode).toBe(201);
        expect((await create(two)).statusCode).toBe(201);
        expect((await create(one)).statusCode).toBe(201);
        const refused = await create(two);
        expect(refused.statusCode).toBe(429);
        expect(refused.headers['retry-after']).toBeDefined();
        expect((await create(one)).statusCode).toBe(429);
      });
    },
  );

describe(`rate limits with Redis unreachable (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    t = await createOpsTestApp({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_MAX: '1', LOG_LEVEL: 'warn' });
  });
  afterAll(() => t?.close());

  it('requests are still served and limits still enforced (counted in memory), and a warning is logged', async () => {
    const create = () =>
      t.app.inject({ method: 'POST', url: '/api/v1/users', payload: { display_name: 'no redis' } });
    expect((await create()).statusCode).toBe(201);
    const refused = await create();
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(t.logs.lines.some((l) => l.context === 'RateLimit' && l.level === 'warn')).toBe(true);
  });
});
