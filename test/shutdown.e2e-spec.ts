import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
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

/**
 * Starts the service on a free port; when another process takes the port between the probe and the listen
 * (tests run in parallel), it tries again on another one.
 */
async function startService(env: Record<string, string>): Promise<Service> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServiceOn(await freePort(), env);
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

async function startServiceOn(port: number, env: Record<string, string>): Promise<Service> {
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
  // Started when it says so; a child that exits first fails the test with its output.
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes('Parley listening on')) resolve();
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`the service did not start:\n${output}`)));
    check();
  });
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/** Polls `check` until it returns a value (not undefined): waiting for an event, not for the clock. */
async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface RawResponse {
  status: number;
  body: string;
}

/**
 * A request the server has begun to read but not yet received whole, on a connection of its own: the
 * server counts the connection as busy, so shutting down does not close it as idle, and the test decides
 * when the request completes (during the drain). To know the server has begun it, a complete GET
 * /health/live goes first in the same write (pipelined): once its answer is back, the parser has read the
 * bytes after it too.
 */
interface HeldRequest {
  /** Sends the rest of the request and reads its answer. */
  finish(rest: string): Promise<RawResponse>;
  close(): void;
}

async function holdRequest(base: string, head: string): Promise<HeldRequest> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  let buffer = Buffer.alloc(0);
  let ended = false;
  let notify = () => {};
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    notify();
  });
  socket.on('close', () => {
    ended = true;
    notify();
  });
  socket.on('error', () => undefined);
  /** The next whole response in the buffer (content-length bodies, as Fastify sends them), removed from it. */
  const nextResponse = async (): Promise<RawResponse> => {
    for (;;) {
      const text = buffer.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd !== -1) {
        const status = Number(text.slice(9, 12));
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? -1);
        const bodyStart = headEnd + 4;
        if (length >= 0 && buffer.length >= bodyStart + length) {
          const body = buffer.subarray(bodyStart, bodyStart + length).toString('utf8');
          buffer = buffer.subarray(bodyStart + length);
          return { status, body };
        }
        if (length < 0 && ended) return { status, body: buffer.subarray(bodyStart).toString('utf8') };
      }
      if (ended) throw new Error(`the connection closed before a whole response arrived: ${text}`);
      await new Promise<void>((resolve) => (notify = resolve));
    }
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`GET /health/live HTTP/1.1\r\nHost: ${hostname}\r\n\r\n${head}`);
  const live = await nextResponse();
  if (live.status !== 200) throw new Error(`GET /health/live answered ${live.status}`);
  return {
    finish: async (rest) => {
      socket.write(rest);
      return nextResponse();
    },
    close: () => socket.destroy(),
  };
}

/** The error code of a new TCP connection to the service, or undefined when it connects. */
async function connectError(base: string): Promise<string | undefined> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** A sample of the service's /metrics (Prometheus text), or undefined when absent. */
async function metric(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe(`graceful shutdown on SIGTERM (${DATABASE_KIND})`, () => {
  const databases: TestDatabase[] = [];
  const dataDirs: string[] = [];
  const services: Service[] = [];

  /** A database of its own for each service (a PGlite data directory the test can open after the exit). */
  async function newDatabase(): Promise<{ database: TestDatabase; dataDir?: string }> {
    if (DATABASE_KIND === 'postgres') {
      const database = await createTestDatabase();
      databases.push(database);
      return { database };
    }
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-shutdown-'));
    dataDirs.push(dataDir);
    return { database: { env: { PGLITE_DATA_DIR: dataDir }, drop: async () => undefined }, dataDir };
  }

  afterAll(async () => {
    for (const service of services) if (service.child.exitCode === null) service.child.kill('SIGKILL');
    for (const database of databases) await database.drop();
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  });

  it('during the drain: readiness 503, a new chat 503 and new connections refused; the open stream and the in-flight JSON reply end and are saved (finish_reason "shutdown"); exit 0', async () => {
    const { database, dataDir } = await newDatabase();
    const service = await startService({
      ...database.env,
      BUILTIN_LLM_DELAY_MS: '150',
      SHUTDOWN_GRACE_MS: '60000',
    });
    services.push(service);
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

    // An in-flight JSON chat: under way once it holds its model call (two open model calls in all).
    const inFlight = fetch(`${base}/api/v1/chat?stream=false`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ text: 'Tell me everything about lighthouses, in as many words as you like' }),
    });
    await waitFor(async () => ((await metric(base, 'parley_open_streams')) === 2 ? true : undefined));

    // Two requests begun before the signal, completed during the drain.
    const readiness = await holdRequest(base, `GET /health/ready HTTP/1.1\r\nHost: x\r\n`);
    const chatBody = JSON.stringify({ text: 'A new chat while shutting down' });
    const newChat = await holdRequest(
      base,
      `POST /api/v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\n` +
        `X-User-ID: ${userId}\r\nContent-Length: ${Buffer.byteLength(chatBody)}\r\n`,
    );

    // On PostgreSQL the drain is held open until the test lets go: saving the partial replies updates their
    // sessions, which this lock blocks (taken once both chats' user messages are written). The service then
    // answers from its own handlers, not from Fastify refusing requests once it closes. (PGlite lives inside
    // the service: nothing can hold it from here.)
    const hold = DATABASE_KIND === 'postgres' ? await blockSessionUpdates(database, 2) : undefined;

    service.child.kill('SIGTERM');
    await waitFor(() => (service.output().includes('SIGTERM received') ? true : undefined));
    if (hold) await waitFor(async () => ((await hold.blockedSaves()) > 0 ? true : undefined));
    // The process cannot have exited: these two requests are still open on it.
    const ready = await readiness.finish('\r\n');
    expect(ready.status).toBe(503);
    const refused = await newChat.finish(`\r\n${chatBody}`);
    expect(refused.status).toBe(503);
    if (hold) {
      expect(JSON.parse(ready.body)).toMatchObject({
        error: 'unavailable',
        message: 'Not ready: the service is shutting down',
      });
      expect(JSON.parse(refused.body)).toMatchObject({
        error: 'unavailable',
        message: expect.stringMatching(/shutting down/),
      });
    } else {
      // Answered by the handlers, or by Fastify once the drain has reached closing the server.
      expect(ready.body).toMatch(/shutting down|Service Unavailable/);
      expect(refused.body).toMatch(/shutting down|Service Unavailable/);
    }
    readiness.close();
    newChat.close();
    expect(await connectError(base)).toBe('ECONNREFUSED'); // the listening socket is closed
    await hold?.release();

    // The stream ends properly (a finish part, then [DONE]), not cut.
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      events += Buffer.from(value).toString();
    }
    expect(events).toMatch(/"finishReason":"[^"]*"/);
    expect(events).toContain('data: [DONE]');

    // The in-flight JSON chat is answered with its partial reply.
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    const json = (await answered.json()) as {
      assistant_message: { message_id: string; content: string; metadata: { finish_reason: string } };
    };
    expect(json.assistant_message.metadata.finish_reason).toBe('shutdown');

    const { code } = await service.exited;
    expect(code).toBe(0);
    expect(service.output()).toMatch(/"msg":"Stopped"/);
    expect(service.output()).not.toMatch(/did not finish within/);
    await expect(fetch(`${base}/health/live`)).rejects.toThrow();

    // Both partial replies were saved, marked as ended by the shutdown; the JSON one as it was answered.
    const rows = await assistantReplies(database, dataDir);
    const streamed = rows.filter((r) => r.session_id === sessionId);
    expect(streamed).toHaveLength(1);
    expect(streamed[0].finish_reason).toBe('shutdown');
    expect(streamed[0].content.length).toBeGreaterThan(0);
    const saved = rows.find((r) => r.message_id === json.assistant_message.message_id);
    expect(saved).toEqual({
      message_id: json.assistant_message.message_id,
      session_id: expect.any(String),
      content: json.assistant_message.content,
      finish_reason: 'shutdown',
    });
    // The chat refused during the drain wrote nothing.
    expect(rows).toHaveLength(2);
  }, 180_000);

  it('exits 1 when a request is still open at the end of SHUTDOWN_GRACE_MS', async () => {
    const { database } = await newDatabase();
    const grace = 1000;
    const service = await startService({ ...database.env, SHUTDOWN_GRACE_MS: String(grace) });
    services.push(service);
    // A request that never completes keeps the HTTP server from closing.
    const held = await holdRequest(service.base, `GET /health/ready HTTP/1.1\r\nHost: x\r\n`);
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    held.close();
    expect(code).toBe(1);
    expect(service.output()).toContain(`Shutdown did not finish within ${grace} ms; exiting`);
    expect(service.output()).not.toMatch(/"msg":"Stopped"/);
    expect(at - signalledAt).toBeGreaterThanOrEqual(grace); // not before the grace period ended
  }, 180_000);
});

/**
 * Once `userMessages` user messages are in the service's database (PostgreSQL), takes a SHARE lock on
 * `sessions`: message inserts still run, but their trigger's session update waits, so saving a reply blocks
 * until `release()`.
 */
async function blockSessionUpdates(
  database: TestDatabase,
  userMessages: number,
): Promise<{ blockedSaves(): Promise<number>; release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
  await client.connect();
  await waitFor(async () => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM chat_messages WHERE role = 'user'`,
    );
    return rows[0].n >= userMessages ? true : undefined;
  });
  await client.query('BEGIN');
  await client.query('LOCK TABLE sessions IN SHARE MODE');
  return {
    blockedSaves: async () =>
      (
        await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
        )
      ).rows[0].n,
    release: async () => {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

async function assistantReplies(
  database: TestDatabase,
  dataDir: string | undefined,
): Promise<{ message_id: string; session_id: string; content: string; finish_reason: string }[]> {
  const sql = `SELECT message_id, session_id, content, metadata->>'finish_reason' AS finish_reason
                 FROM chat_messages WHERE role = 'assistant' ORDER BY seq`;
  if (dataDir) {
    const db = await PGlite.create(dataDir);
    try {
      return (
        await db.query<{ message_id: string; session_id: string; content: string; finish_reason: string }>(
          sql,
        )
      ).rows;
    } finally {
      await db.close();
    }
  }
  const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}
