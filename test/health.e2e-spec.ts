import { createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createUser } from './support/factories.js';
import { createOpsTestApp, type OpsTestApp } from './support/ops-app.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from './support/test-app.js';

describe(`health probes (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  beforeAll(async () => {
    t = await createOpsTestApp({
      HEALTH_TIMEOUT_MS: '1000',
      AUTH_HEADER_ENABLED: 'false',
      JWT_SECRET: 'x'.repeat(32),
    });
  });
  afterAll(() => t?.close());

  it('GET /health/live answers 200 without any identity', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('GET /health/ready is 200 when the database answers and every migration is applied', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', checks: { database: 'up', migrations: 'up' } });
  });

  it('GET /health/ready is 503 naming the pending migration when the schema is behind, and 200 once it is applied', async () => {
    const [row] = await t.sql.query<Record<string, unknown>>(
      `DELETE FROM "_prisma_migrations" WHERE migration_name = (SELECT max(migration_name) FROM "_prisma_migrations") RETURNING *`,
    );
    try {
      const response = await t.app.inject({ method: 'GET', url: '/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({
        statusCode: 503,
        error: 'unavailable',
        details: [{ field: 'migrations', message: `pending: ${String(row.migration_name)}` }],
      });
    } finally {
      await t.sql.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          row.id,
          row.checksum,
          row.finished_at,
          row.migration_name,
          row.logs,
          row.rolled_back_at,
          row.started_at,
          row.applied_steps_count,
        ],
      );
    }
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});

/**
 * A TCP proxy in front of PostgreSQL that the test can break: `refuse` closes every connection and refuses
 * new ones (a stopped server), `blackhole` accepts and forwards nothing (a hung server or a network
 * partition), `restore` forwards again.
 */
class FaultyProxy {
  mode: 'forward' | 'refuse' | 'blackhole' = 'forward';
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (this.mode === 'refuse') return void client.destroy();
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      if (this.mode === 'blackhole') return;
      const upstream = new Socket();
      upstream.connect(this.target.port, this.target.host);
      this.sockets.add(upstream);
      upstream.on('close', () => {
        this.sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as AddressInfo).port;
  }

  /** Breaks every open connection and applies `mode` to new ones. */
  set(mode: FaultyProxy['mode']): void {
    this.mode = mode;
    if (mode !== 'forward') for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

(DATABASE_KIND === 'postgres' ? describe : describe.skip)('database outage (postgres)', () => {
  let database: TestDatabase;
  let proxy: FaultyProxy;
  let t: OpsTestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.env.DATABASE_URL);
    proxy = new FaultyProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(await proxy.start());
    url.hostname = '127.0.0.1';
    t = await createOpsTestApp(
      {
        HEALTH_TIMEOUT_MS: '500',
        DB_CONNECT_TIMEOUT_MS: '500',
        DB_STATEMENT_TIMEOUT_MS: '1000',
        REQUEST_TIMEOUT_MS: '10000',
      },
      { env: { DATABASE_URL: url.toString() }, drop: async () => undefined },
    );
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.stop();
    await database?.drop();
  });

  // No wall-clock bounds (the machine may be busy): what must hold is which mechanism ended a request. The
  // generic request timeout (REQUEST_TIMEOUT_MS, 10 s, "did not finish within") is the fallback that would end
  // a request the database timeouts failed to end; the answers must come from the database's own handling.
  const get = (url: string, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'GET', url, headers });

  it('a stopped database: requests end with the database error 503 (not the request timeout), readiness turns 503, and both recover on their own', async () => {
    const user = await createUser(t.app);
    proxy.set('refuse');
    const request = await get('/api/v1/users/me', user.headers);
    expect(request.statusCode).toBe(503);
    expect(request.json()).toMatchObject({
      error: 'unavailable',
      message: 'The database is unavailable; try again shortly',
    });
    const ready = await get('/health/ready');
    expect(ready.statusCode).toBe(503);
    expect(ready.json().details).toContainEqual({ field: 'database', message: 'unreachable' });
    expect(ready.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|password/);
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    proxy.set('forward');
    const back = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    expect(back.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });

  it('a hung database: the database timeouts, not the request timeout, end requests and probes with 503', async () => {
    const user = await createUser(t.app);
    proxy.set('blackhole');
    const request = await get('/api/v1/users/me', user.headers);
    expect(request.statusCode).toBe(503);
    expect(request.json()).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/database/i),
    });
    expect(request.json().message).not.toMatch(/did not finish within/);
    const ready = await get('/health/ready');
    expect(ready.statusCode).toBe(503);
    // HEALTH_TIMEOUT_MS (500) ended the probe's check, not the request timeout.
    expect(ready.json().details).toContainEqual({ field: 'database', message: 'timeout of 500ms exceeded' });
    proxy.set('forward');
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers })).statusCode,
    ).toBe(200);
  });
});
