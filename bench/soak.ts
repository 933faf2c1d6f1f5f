/**
 * Soak test (not part of CI): the built service (`node dist/src/main.js`) on a real PostgreSQL, under mixed
 * traffic for a long time: 32 keep-alive connections by default, 5% of requests invalid on purpose. It fails
 * (exit code 1) unless there is no 5xx, every valid request succeeds and every invalid one is refused with a
 * 4xx, every write that answered 2xx is in the database afterwards (chat messages of JSON and streamed chats,
 * created sessions), the database invariants hold, the service's resident memory stays flat, and SIGTERM
 * stops it cleanly.
 *
 *   npm run soak                      # 10 minutes
 *   npm run soak -- --duration 60     # 1 minute
 *
 * Options: --duration <s>, --connections <n>, --invalid <fraction>, --users <n>, --database-url <url> (a
 * superuser URL of the server; a database `parley_soak_*` is created there and dropped afterwards unless
 * --keep-database), --sample <s> (RSS sampling interval). Rate limits stay on, with limits far above this
 * traffic, so their in-memory counters are part of what must not grow.
 */
import { Command } from 'commander';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pgExecutor } from '../src/database/sql-executor.js';
import { findInvariantViolations } from '../test/support/db-invariants.js';

const program = new Command()
  .name('soak')
  .option('--duration <seconds>', 'how long to run the traffic', '600')
  .option('--connections <n>', 'concurrent keep-alive connections', '32')
  .option('--invalid <fraction>', 'share of requests that are invalid on purpose', '0.05')
  .option('--users <n>', 'users the traffic is spread over', '64')
  .option('--sample <seconds>', 'RSS sampling interval', '5')
  .option(
    '--database-url <url>',
    'superuser URL of the PostgreSQL server',
    process.env.SOAK_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
  )
  .option('--keep-database', 'keep the soak database afterwards')
  .parse();
const opts = program.opts<{
  duration: string;
  connections: string;
  invalid: string;
  users: string;
  sample: string;
  databaseUrl: string;
  keepDatabase?: boolean;
}>();
const DURATION_MS = Number(opts.duration) * 1000;
const CONNECTIONS = Number(opts.connections);
const INVALID_RATE = Number(opts.invalid);
const USERS = Number(opts.users);
const SAMPLE_MS = Number(opts.sample) * 1000;
for (const [name, value] of Object.entries({ DURATION_MS, CONNECTIONS, INVALID_RATE, USERS, SAMPLE_MS }))
  if (!Number.isFinite(value) || value < 0) throw new Error(`invalid option ${name}`);

const root = resolve(new URL('../..', import.meta.url).pathname);

// ---------------------------------------------------------------------------------------------------------
// HTTP over a fixed pool of keep-alive connections
// ---------------------------------------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS });
let baseUrl = '';

interface Reply {
  status: number;
  body: string;
  ms: number;
}

function send(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
  timeoutMs = 60_000,
): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      `${baseUrl}${path}`,
      {
        method,
        agent,
        headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolvePromise({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${path}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const json = (value: unknown) => JSON.stringify(value);
const JSON_HEADERS = { 'content-type': 'application/json' };

// ---------------------------------------------------------------------------------------------------------
// The service and its database
// ---------------------------------------------------------------------------------------------------------
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

async function waitReady(limitMs: number): Promise<void> {
  const since = Date.now();
  while (Date.now() - since < limitMs) {
    try {
      if ((await send('GET', '/health/ready', {}, undefined, 2000)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`the service was not ready within ${limitMs} ms`);
}

// ---------------------------------------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------------------------------------
interface SoakUser {
  userId: string;
  headers: Record<string, string>;
  projectId: string;
  sessionIds: string[];
}

interface Stats {
  requests: number;
  byStatus: Map<number, number>;
  latencies: Map<string, number[]>;
  serverErrors: string[];
  /** Valid requests that did not get a 2xx, and invalid ones that did not get a 4xx. */
  unexpected: string[];
  invalidSent: number;
  transportErrors: string[];
  /** Ids reported by 2xx writes: they must all be in the database at the end. */
  writes: { messages: string[]; sessions: string[] };
}

const stats: Stats = {
  requests: 0,
  byStatus: new Map(),
  latencies: new Map(),
  serverErrors: [],
  unexpected: [],
  invalidSent: 0,
  transportErrors: [],
  writes: { messages: [], sessions: [] },
};

function note(kind: string, reply: Reply, expect: 'ok' | 'refused'): boolean {
  stats.requests++;
  stats.byStatus.set(reply.status, (stats.byStatus.get(reply.status) ?? 0) + 1);
  const list = stats.latencies.get(kind) ?? [];
  list.push(reply.ms);
  stats.latencies.set(kind, list);
  if (reply.status >= 500) {
    if (stats.serverErrors.length < 20)
      stats.serverErrors.push(`${kind}: ${reply.status} ${reply.body.slice(0, 300)}`);
    return false;
  }
  const ok = reply.status >= 200 && reply.status < 300;
  const good = expect === 'ok' ? ok : reply.status >= 400 && reply.status < 500;
  if (!good && stats.unexpected.length < 50)
    stats.unexpected.push(
      `${kind} (${expect === 'ok' ? 'valid' : 'invalid'}): ${reply.status} ${reply.body.slice(0, 200)}`,
    );
  return ok;
}

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

/** Reads a UI message stream: the assistant message id (start part) and the user message id (data-session). */
function idsFromStream(body: string): { complete: boolean; ids: string[] } {
  const ids: string[] = [];
  const events = body
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice(6));
  for (const data of events) {
    if (data === '[DONE]') continue;
    const part = JSON.parse(data) as {
      type: string;
      messageId?: string;
      data?: { user_message_id?: string };
    };
    if (part.type === 'start' && part.messageId) ids.push(part.messageId);
    if (part.type === 'data-session' && part.data?.user_message_id) ids.push(part.data.user_message_id);
    if (part.type === 'error') return { complete: false, ids };
  }
  return { complete: events.at(-1) === '[DONE]' && ids.length === 2, ids };
}

async function validRequest(users: SoakUser[]): Promise<void> {
  const user = pick(users);
  const session = pick(user.sessionIds);
  const r = Math.random();
  if (r < 0.25) {
    const reply = await send(
      'POST',
      '/api/v1/chat',
      { ...user.headers, ...JSON_HEADERS, accept: 'application/json' },
      json({
        session_id: session,
        text: `soak ${randomUUID()} ${'lorem ipsum '.repeat(Math.floor(Math.random() * 20))}`,
      }),
    );
    if (note('chat json', reply, 'ok')) {
      const body = JSON.parse(reply.body) as {
        user_message: { message_id: string };
        assistant_message: { message_id: string };
      };
      stats.writes.messages.push(body.user_message.message_id, body.assistant_message.message_id);
    }
  } else if (r < 0.35) {
    const reply = await send(
      'POST',
      '/api/v1/chat',
      { ...user.headers, ...JSON_HEADERS, accept: 'text/event-stream' },
      json({ session_id: session, text: `soak stream ${randomUUID()}` }),
    );
    if (note('chat stream', reply, 'ok')) {
      const { complete, ids } = idsFromStream(reply.body);
      if (!complete)
        stats.unexpected.push(`chat stream: incomplete or error part: ${reply.body.slice(-300)}`);
      stats.writes.messages.push(...ids);
    }
  } else if (r < 0.55) {
    note('list sessions', await send('GET', '/api/v1/sessions?limit=10', user.headers), 'ok');
  } else if (r < 0.7) {
    note(
      'list messages',
      await send('GET', `/api/v1/sessions/${session}/messages?latest=true&limit=50`, user.headers),
      'ok',
    );
  } else if (r < 0.8) {
    note('get session', await send('GET', `/api/v1/sessions/${session}`, user.headers), 'ok');
  } else if (r < 0.85) {
    const reply = await send(
      'POST',
      '/api/v1/sessions',
      { ...user.headers, ...JSON_HEADERS },
      json({ project_id: user.projectId, title: `soak ${randomUUID()}` }),
    );
    if (note('create session', reply, 'ok')) {
      const id = (JSON.parse(reply.body) as { session_id: string }).session_id;
      stats.writes.sessions.push(id);
      if (user.sessionIds.length < 8) user.sessionIds.push(id);
    }
  } else if (r < 0.9) {
    note(
      'rename session',
      await send(
        'PUT',
        `/api/v1/sessions/${session}/title`,
        { ...user.headers, ...JSON_HEADERS },
        json({ title: `renamed ${Date.now()}` }),
      ),
      'ok',
    );
  } else if (r < 0.95) {
    note('get me', await send('GET', '/api/v1/users/me', user.headers), 'ok');
  } else {
    note('list projects', await send('GET', '/api/v1/projects?limit=10', user.headers), 'ok');
  }
}

/** Requests a client gets wrong: each must be refused with a 4xx, never a 5xx and never accepted. */
async function invalidRequest(users: SoakUser[]): Promise<void> {
  stats.invalidSent++;
  const user = pick(users);
  const other = pick(users.filter((u) => u !== user));
  const cases: Array<() => Promise<Reply>> = [
    () => send('GET', '/api/v1/sessions/not-a-uuid', user.headers),
    () => send('GET', `/api/v1/sessions/${pick(other.sessionIds)}`, user.headers),
    () => send('GET', '/api/v1/users/me', { 'x-user-id': randomUUID() }),
    () => send('GET', '/api/v1/sessions?limit=100000', user.headers),
    () =>
      send(
        'POST',
        '/api/v1/chat',
        { ...user.headers, ...JSON_HEADERS, accept: 'application/json' },
        json({ text: '   ' }),
      ),
    () => send('POST', '/api/v1/chat', { ...user.headers, ...JSON_HEADERS }, '{"text": "unterminated'),
    () =>
      send(
        'POST',
        '/api/v1/sessions',
        { ...user.headers, ...JSON_HEADERS },
        json({ title: 'x', owner: 'admin' }),
      ),
    () => send('POST', '/api/v1/sessions', { ...user.headers, 'content-type': 'text/plain' }, 'title=x'),
    () =>
      send(
        'POST',
        '/api/v1/chat',
        { ...user.headers, ...JSON_HEADERS, accept: 'application/json' },
        json({ session_id: pick(other.sessionIds), text: 'not mine' }),
      ),
    () =>
      send(
        'PATCH',
        `/api/v1/sessions/${pick(user.sessionIds)}`,
        { ...user.headers, ...JSON_HEADERS },
        json({ is_active: 'yes' }),
      ),
  ];
  const index = Math.floor(Math.random() * cases.length);
  note(`invalid #${index}`, await cases[index](), 'refused');
}

// ---------------------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------------------
function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const median = (values: number[]) => percentile(values, 50);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * Flat memory: after a warm-up (the first fifth of the run, at least 10 s), the median RSS of the last
 * fifth may exceed the median of the fifth after the warm-up by at most 20% + 16 MB.
 */
function memoryVerdict(samples: Array<{ t: number; rss: number }>) {
  const warm = Math.max(10_000, DURATION_MS / 5);
  const after = samples.filter((s) => s.t >= warm);
  const fifth = Math.max(1, Math.floor(after.length / 4));
  const baseline = median(after.slice(0, fifth).map((s) => s.rss));
  const final = median(after.slice(-fifth).map((s) => s.rss));
  const limit = baseline * 1.2 + 16 * 1024 * 1024;
  return { baseline, final, limit, flat: after.length >= 2 && final <= limit, samples: after.length };
}

// ---------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------
async function main(): Promise<number> {
  const dbName = `parley_soak_${Date.now()}`;
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = new URL(opts.databaseUrl);
  dbUrl.pathname = `/${dbName}`;

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const logPath = join(tmpdir(), `${dbName}.log`);
  const log = createWriteStream(logPath);
  const service: ChildProcess = spawn(process.execPath, [join(root, 'dist/src/main.js')], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: dbUrl.toString(),
      LOG_LEVEL: 'warn',
      SWAGGER_ENABLED: 'false',
      LLM_PROVIDER: 'builtin',
      RATE_LIMIT_MAX: '1000000',
      RATE_LIMIT_CHAT_MAX: '1000000',
      STREAMS_PER_USER_MAX: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  service.stdout?.pipe(log);
  service.stderr?.pipe(log);
  let exit: { code: number | null; signal: string | null } | undefined;
  const exited = new Promise<void>((done) =>
    service.once('exit', (code, signal) => {
      exit = { code, signal };
      done();
    }),
  );
  console.log(`soak: service pid ${service.pid} on ${baseUrl}, database ${dbName}, log ${logPath}`);
  const failures: string[] = [];

  try {
    await waitReady(60_000);
    const users: SoakUser[] = [];
    for (let i = 0; i < USERS; i++) {
      const user = await send('POST', '/api/v1/users', JSON_HEADERS, json({ display_name: `Soak ${i}` }));
      if (user.status !== 201) throw new Error(`creating a user: ${user.status} ${user.body}`);
      const userId = (JSON.parse(user.body) as { user_id: string }).user_id;
      const headers = { 'x-user-id': userId };
      const session = await send(
        'POST',
        '/api/v1/sessions',
        { ...headers, ...JSON_HEADERS },
        json({ title: `soak ${i}` }),
      );
      if (session.status !== 201) throw new Error(`creating a session: ${session.status} ${session.body}`);
      const created = JSON.parse(session.body) as { session_id: string; project_id: string };
      users.push({ userId, headers, projectId: created.project_id, sessionIds: [created.session_id] });
    }
    console.log(
      `soak: ${USERS} users ready; ${CONNECTIONS} connections for ${DURATION_MS / 1000} s, ${(INVALID_RATE * 100).toFixed(1)}% invalid`,
    );

    const started = Date.now();
    const rss: Array<{ t: number; rss: number }> = [{ t: 0, rss: rssOf(service.pid!) }];
    const sampler = setInterval(() => {
      rss.push({ t: Date.now() - started, rss: rssOf(service.pid!) });
      const last = rss.at(-1)!;
      const elapsed = Math.round(last.t / 1000);
      const errors = [...stats.byStatus].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
      console.log(
        `  ${String(elapsed).padStart(4)} s  ${stats.requests} requests  5xx ${errors}  rss ${mb(last.rss)}`,
      );
    }, SAMPLE_MS);
    const loops = Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() - started < DURATION_MS) {
        try {
          if (Math.random() < INVALID_RATE) await invalidRequest(users);
          else await validRequest(users);
        } catch (error) {
          if (stats.transportErrors.length < 20) stats.transportErrors.push(String((error as Error).message));
          else stats.transportErrors.push('…');
        }
      }
    });
    await Promise.all(loops);
    clearInterval(sampler);
    rss.push({ t: Date.now() - started, rss: rssOf(service.pid!) });
    const elapsedMs = Date.now() - started;

    // Every 2xx write is in the database, and the data is consistent.
    const client = new pg.Client({ connectionString: dbUrl.toString() });
    await client.connect();
    const { rows: messages } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM chat_messages WHERE message_id = ANY($1::uuid[])',
      [stats.writes.messages],
    );
    const { rows: sessions } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sessions WHERE session_id = ANY($1::uuid[])',
      [stats.writes.sessions],
    );
    const violations = await findInvariantViolations(pgExecutor(client));
    await client.end();
    const lostMessages = new Set(stats.writes.messages).size - messages[0].n;
    const lostSessions = new Set(stats.writes.sessions).size - sessions[0].n;

    // SIGTERM: the service drains and exits 0 within its grace period.
    const stopping = Date.now();
    service.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    const stopMs = Date.now() - stopping;

    const memory = memoryVerdict(rss);
    const serverErrors = [...stats.byStatus].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
    if (serverErrors > 0) failures.push(`${serverErrors} responses were 5xx`);
    if (stats.unexpected.length > 0) failures.push(`${stats.unexpected.length} unexpected answers`);
    if (stats.transportErrors.length > 0) failures.push(`${stats.transportErrors.length} transport errors`);
    if (lostMessages > 0 || lostSessions > 0)
      failures.push(
        `lost writes: ${lostMessages} messages, ${lostSessions} sessions answered 2xx but are missing`,
      );
    if (violations.length > 0) failures.push(`${violations.length} database invariant violations`);
    if (!memory.flat)
      failures.push(`memory grew: ${mb(memory.baseline)} -> ${mb(memory.final)} (limit ${mb(memory.limit)})`);
    if (!exit || exit.code !== 0)
      failures.push(
        `SIGTERM: the service ${exit ? `exited with ${exit.code ?? exit.signal}` : 'did not exit in 30 s'}`,
      );

    const lines = [
      '',
      `Soak summary (${(elapsedMs / 1000).toFixed(0)} s, ${CONNECTIONS} connections, ${USERS} users)`,
      `  requests        ${stats.requests} (${((stats.requests / elapsedMs) * 1000).toFixed(0)}/s), ${stats.invalidSent} invalid on purpose`,
      `  statuses        ${[...stats.byStatus]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ')}`,
      `  5xx             ${serverErrors}`,
      `  unexpected      ${stats.unexpected.length}`,
      `  writes checked  ${new Set(stats.writes.messages).size} messages, ${new Set(stats.writes.sessions).size} sessions; lost: ${lostMessages + lostSessions}`,
      `  invariants      ${violations.length === 0 ? 'hold' : JSON.stringify(violations.slice(0, 5))}`,
      `  memory (RSS)    start ${mb(rss[0].rss)}, after warm-up ${mb(memory.baseline)}, end ${mb(memory.final)}, max ${mb(Math.max(...rss.map((s) => s.rss)))} (${rss.length} samples): ${memory.flat ? 'flat' : 'GREW'}`,
      `  SIGTERM         exit ${exit ? (exit.code ?? exit.signal) : 'none'} after ${stopMs} ms`,
      '  latency (ms)    kind: p50 / p95 / p99 / max (count)',
      ...[...stats.latencies]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(
          ([kind, values]) =>
            `    ${kind.padEnd(16)} ${percentile(values, 50).toFixed(1)} / ${percentile(values, 95).toFixed(1)} / ${percentile(values, 99).toFixed(1)} / ${Math.max(...values).toFixed(1)} (${values.length})`,
        ),
      ...stats.serverErrors.map((e) => `  5xx: ${e}`),
      ...stats.unexpected.slice(0, 10).map((e) => `  unexpected: ${e}`),
      ...stats.transportErrors.slice(0, 10).map((e) => `  transport: ${e}`),
      '',
      failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`,
    ];
    console.log(lines.join('\n'));
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    const resultPath = join(
      root,
      `bench/results/soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    );
    writeFileSync(
      resultPath,
      JSON.stringify(
        {
          durationS: elapsedMs / 1000,
          connections: CONNECTIONS,
          users: USERS,
          requests: stats.requests,
          byStatus: Object.fromEntries(stats.byStatus),
          invalidSent: stats.invalidSent,
          lost: { messages: lostMessages, sessions: lostSessions },
          invariants: violations,
          memory: { ...memory, series: rss },
          sigterm: { exit, ms: stopMs },
          latencyMs: Object.fromEntries(
            [...stats.latencies].map(([k, v]) => [
              k,
              { p50: percentile(v, 50), p95: percentile(v, 95), p99: percentile(v, 99), count: v.length },
            ]),
          ),
          failures,
        },
        null,
        2,
      ),
    );
    console.log(`results: ${resultPath}`);
  } catch (error) {
    failures.push(String((error as Error).stack ?? error));
    console.error(`soak failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    if (!exit) {
      service.kill('SIGKILL');
      await exited;
    }
    agent.destroy();
    log.end();
    if (!opts.keepDatabase) {
      const cleanup = new pg.Client({ connectionString: opts.databaseUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await cleanup.end();
    }
  }
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
