import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { EnvironmentVariables } from '../src/config/app-config.js';
import { DatabaseService } from '../src/database/database.service.js';
import { StreamLimiter } from '../src/limits/stream-limiter.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { createUser } from './support/factories.js';
import { createOpsTestApp, type OpsTestApp } from './support/ops-app.js';
import { DATABASE_KIND } from './support/test-app.js';

const SECRET = 'metrics-test-secret-of-at-least-32-chars';

/** The value of one sample in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

async function metricsOf(t: OpsTestApp): Promise<string> {
  const response = await t.app.inject({ method: 'GET', url: '/metrics' });
  return response.body;
}

describe(`metrics and logs (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    // The default log level: what a production deployment writes is what the log assertions below see.
    t = await createOpsTestApp({ LOG_LEVEL: new EnvironmentVariables().LOG_LEVEL, JWT_SECRET: SECRET });
  });
  afterAll(() => t?.close());

  const metrics = async () => {
    const response = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    return response.body;
  };

  it('GET /metrics is public and counts requests by route template and status', async () => {
    const user = await createUser(t.app);
    for (let i = 0; i < 3; i++)
      await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-user-id': randomUUID() } });
    await t.app.inject({ method: 'GET', url: `/no/such/route/${randomUUID()}` });
    const text = await metrics();
    const me = { method: 'GET', route: '/api/v1/users/me' };
    expect(sample(text, 'parley_http_request_duration_seconds_count', { ...me, status: '200' })).toBe(3);
    expect(sample(text, 'parley_http_request_duration_seconds_count', { ...me, status: '401' })).toBe(1);
    expect(
      sample(text, 'parley_http_request_duration_seconds_bucket', { ...me, status: '200', le: '+Inf' }),
    ).toBe(3);
    // An unknown path is one label value, never the path itself (bounded cardinality).
    expect(
      sample(text, 'parley_http_request_duration_seconds_count', { route: 'unmatched', status: '404' }),
    ).toBe(1);
    expect(text).not.toContain('/no/such/route');
  });

  it('exposes database pool usage on PostgreSQL, process metrics everywhere', async () => {
    const text = await metrics();
    expect(sample(text, 'parley_process_resident_memory_bytes')).toBeGreaterThan(0);
    const max = sample(text, 'parley_db_pool_max_connections');
    if (DATABASE_KIND === 'postgres') {
      expect(max).toBe(t.config.DB_POOL_MAX);
      expect(sample(text, 'parley_db_pool_connections')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'parley_db_pool_waiting_requests')).toBe(0);
    } else {
      expect(max ?? 0).toBe(0);
    }
  });

  (DATABASE_KIND === 'postgres' ? it : it.skip)(
    `keeps DB_POOL_MIN connections through idle time and closes the rest after DB_POOL_IDLE_TIMEOUT_MS${DATABASE_KIND === 'postgres' ? '' : ' [skipped: PGlite has no connection pool]'}`,
    async () => {
      // The same JWT_SECRET: passport's strategies are process-wide, and the other tests here sign with it.
      const pooled = await createOpsTestApp({
        JWT_SECRET: SECRET,
        DB_POOL_MAX: '4',
        DB_POOL_MIN: '2',
        DB_POOL_IDLE_TIMEOUT_MS: '1000',
      });
      try {
        const user = await createUser(pooled.app);
        const connections = () =>
          metricsOf(pooled).then((text) => sample(text, 'parley_db_pool_connections'));
        // Every connection the pool closes, with the pool's count after it (listening before any can close).
        const database = pooled.app.get(DatabaseService);
        const closings: number[] = [];
        let expected = Infinity;
        let closedDownToMin!: () => void;
        const closed = new Promise<void>((resolve) => (closedDownToMin = resolve));
        database.onConnectionClosed(({ total }) => {
          closings.push(total);
          if (closings.length >= expected) closedDownToMin();
        });
        // Concurrent requests make the pool open more than DB_POOL_MIN connections...
        await Promise.all(
          Array.from({ length: 12 }, () =>
            pooled.app.inject({ method: 'GET', url: '/api/v1/sessions', headers: user.headers }),
          ),
        );
        const opened = (await connections()) ?? 0;
        expect(opened).toBeGreaterThan(2);
        // ...and once they have sat idle for DB_POOL_IDLE_TIMEOUT_MS, the pool closes all but DB_POOL_MIN of
        // them: wait for those closings (the events, not the clock), then 2 are left. They went idle
        // together, so their idle timers fire together: had the pool ignored DB_POOL_MIN, the rest would be
        // closing by then too.
        expected = opened + closings.length - 2;
        if (closings.length >= expected) closedDownToMin();
        await closed;
        expect(await connections()).toBe(2);
        expect(database.poolStats()).toMatchObject({ total: 2, idle: 2 });
        expect(Math.min(...closings)).toBe(2);
      } finally {
        await pooled.close();
      }
    },
  );

  it('open streams, chat tokens and provider calls come from the helpers features call', async () => {
    const service = t.app.get(MetricsService);
    const streams = t.app.get(StreamLimiter);
    const lease = streams.acquire(randomUUID());
    expect(sample(await metrics(), 'parley_open_streams')).toBe(1);
    lease.release();
    lease.release(); // idempotent
    expect(sample(await metrics(), 'parley_open_streams')).toBe(0);

    service.recordTokens('builtin', 'parley-echo', { input: 12, output: 30 });
    service.recordProviderCall('builtin', 'parley-echo', 'ok', 0.2);
    service.recordProviderCall('builtin', 'parley-echo', 'timeout', 60);
    const text = await metrics();
    const model = { provider: 'builtin', model: 'parley-echo' };
    expect(sample(text, 'parley_chat_tokens_total', { ...model, direction: 'input' })).toBe(12);
    expect(sample(text, 'parley_chat_tokens_total', { ...model, direction: 'output' })).toBe(30);
    expect(sample(text, 'parley_llm_request_duration_seconds_count', { ...model, outcome: 'ok' })).toBe(1);
    expect(sample(text, 'parley_llm_errors_total', { ...model, kind: 'timeout' })).toBe(1);
  });

  it('logs one JSON line per request with request id, method, route, status, latency and user id', async () => {
    const user = await createUser(t.app);
    const requestId = `trace-${randomUUID()}`;
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me?debug=1',
      headers: { ...user.headers, 'x-request-id': requestId },
    });
    expect(response.headers['x-request-id']).toBe(requestId);
    const line = t.logs.lines.find((l) => l.request_id === requestId && l.msg === 'request completed');
    expect(line).toMatchObject({
      level: 'info',
      method: 'GET',
      route: '/api/v1/users/me',
      path: '/api/v1/users/me',
      status: 200,
      user_id: user.user_id,
      latency_ms: expect.any(Number),
    });
  });

  it('never logs message content, tokens or the Authorization header at the levels the default configuration writes', async () => {
    // The app logs at the default level (beforeAll), so this sees every line production would write.
    const content = `private-content-${randomUUID()}`;
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { display_name: content },
    });
    expect(created.statusCode).toBe(201);
    const userId: string = created.json().user_id;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    const authorization = `Bearer ${token}`;
    const me = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: { authorization },
      payload: { display_name: `${content}-2` },
    });
    expect(me.statusCode).toBe(200);
    // A chat in both modes, its text carrying the marker (the built-in model's reply may quote it).
    const chatIds = [`chat-json-${randomUUID()}`, `chat-stream-${randomUUID()}`];
    const json = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { authorization, accept: 'application/json', 'x-request-id': chatIds[0] },
      payload: { text: `Please keep this secret: ${content}` },
    });
    expect(json.statusCode).toBe(200);
    expect(json.json().user_message.content).toContain(content);
    const streamed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { authorization, 'x-request-id': chatIds[1] },
      payload: { text: `And this one: ${content}`, session_id: json.json().session.session_id },
    });
    expect(streamed.statusCode).toBe(200);
    expect(streamed.body).toContain('[DONE]');
    // The requests were logged (with the caller's id)...
    for (const id of chatIds)
      expect(t.logs.lines.find((l) => l.request_id === id && l.msg === 'request completed')).toMatchObject({
        user_id: userId,
        route: '/api/v1/chat',
      });
    // ...without what the user wrote, the token, or the header.
    const all = t.logs.raw.join('\n');
    expect(all).not.toContain(content);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]); // not even the signature alone
    expect(all).not.toMatch(/bearer/i);
  });

  it("Nest's own log lines are JSON too, with their context", () => {
    const boot = t.logs.lines.find((l) => l.context === 'Database');
    expect(boot).toMatchObject({ level: 'info', msg: expect.stringMatching(/PostgreSQL|PGlite/) });
  });
});

describe(`metrics switched off (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    t = await createOpsTestApp({ METRICS_ENABLED: 'false' });
  });
  afterAll(() => t?.close());

  it('GET /metrics is 404 with METRICS_ENABLED=false', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(404);
  });
});
