import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from './support/test-app.js';

/**
 * SIGTERM against the real service: src/main.ts in a child process (compiled on the fly by SWC, as jest
 * does, through test/support/swc-register.mjs), on a database this test reads afterwards.
 */

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Service {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

async function startService(env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', './test/support/swc-register.mjs', 'src/main.ts'], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      SWAGGER_ENABLED: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, at: Date.now() })),
  );
  const deadline = Date.now() + 90000;
  while (!output.includes('Parley listening on')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the service did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited };
}

describe(`graceful shutdown on SIGTERM (${DATABASE_KIND})`, () => {
  let database: TestDatabase;
  let dataDir: string | undefined;
  let service: Service | undefined;

  beforeAll(async () => {
    if (DATABASE_KIND === 'postgres') database = await createTestDatabase();
    else {
      dataDir = await mkdtemp(join(tmpdir(), 'parley-shutdown-'));
      database = { env: { PGLITE_DATA_DIR: dataDir }, drop: async () => undefined };
    }
  });
  afterAll(async () => {
    if (service && service.child.exitCode === null) service.child.kill('SIGKILL');
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('ends open streams with their partial replies saved (finish_reason "shutdown"), answers the in-flight request, refuses new connections, exits 0 within the grace period', async () => {
    service = await startService({
      ...database.env,
      BUILTIN_LLM_DELAY_MS: '150',
      SHUTDOWN_GRACE_MS: '8000',
    });
    const { base } = service;
    const created = await fetch(`${base}/api/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ display_name: 'Shutdown test' }),
    });
    expect(created.status).toBe(201);
    const { user_id: userId } = (await created.json()) as { user_id: string };
    const headers = { 'content-type': 'application/json', 'x-user-id': userId };

    // An open stream: read until some text has arrived.
    const stream = await fetch(`${base}/api/v1/chat`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ text: 'Write a long story about a lighthouse keeper and the sea' }),
    });
    expect(stream.status).toBe(200);
    const sessionId = stream.headers.get('x-session-id');
    const reader = stream.body!.getReader();
    let events = '';
    while (!events.includes('text-delta')) {
      const { value, done } = await reader.read();
      if (done) break;
      events += Buffer.from(value).toString();
    }
    expect(events).toContain('text-delta');

    // An in-flight JSON chat, then SIGTERM.
    const inFlight = fetch(`${base}/api/v1/chat?stream=false`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ text: 'Hi' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');

    // The stream ends properly (a finish part, then [DONE]), not cut.
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      events += Buffer.from(value).toString();
    }
    expect(events).toMatch(/"finishReason":"[^"]*"/);
    expect(events).toContain('data: [DONE]');

    const answered = await inFlight;
    expect([200, 503]).toContain(answered.status);

    const { code, at } = await service.exited;
    expect(code).toBe(0);
    expect(at - signalledAt).toBeLessThan(8000);
    expect(service.output()).toMatch(/SIGTERM received/);
    expect(service.output()).toMatch(/"msg":"Stopped"/);
    await expect(fetch(`${base}/health/live`)).rejects.toThrow();

    // The partial reply was saved, marked as ended by the shutdown.
    const rows = await assistantReplies(database, dataDir, sessionId!);
    expect(rows).toHaveLength(1);
    expect(rows[0].finish_reason).toBe('shutdown');
    expect(rows[0].content.length).toBeGreaterThan(0);
  });
});

async function assistantReplies(
  database: TestDatabase,
  dataDir: string | undefined,
  sessionId: string,
): Promise<{ content: string; finish_reason: string }[]> {
  const sql = `SELECT content, metadata->>'finish_reason' AS finish_reason FROM chat_messages
               WHERE session_id = $1 AND role = 'assistant'`;
  if (dataDir) {
    const db = await PGlite.create(dataDir);
    try {
      return (await db.query<{ content: string; finish_reason: string }>(sql, [sessionId])).rows;
    } finally {
      await db.close();
    }
  }
  const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql, [sessionId])).rows;
  } finally {
    await client.end();
  }
}
