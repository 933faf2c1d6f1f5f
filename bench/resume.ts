/**
 * Resumable replies (issue 14 §3), on a PostgreSQL database of its own (created, dropped afterwards):
 *
 * - resume: a paced streamed reply is dropped after 30% of its text, and read again with GET
 *   /api/v1/chat/{session_id}/stream on the same instance and on another one; time to the first byte and to
 *   the first replayed text, over --rounds rounds.
 * - streams: --streams concurrent paced replies on one instance (each --seconds long), every one read to its
 *   end; all must end with `finish` and be persisted, the chunk table must be empty afterwards; RSS is sampled
 *   (idle, peak, after). Chunk batches are one statement per 100 ms whatever the number of streams: the rows
 *   they wrote and the chunk table's inserts are reported.
 *
 *   npm run bench:resume -- --streams 10000 --seconds 20
 *   npm run bench:resume -- --only resume
 *
 * Options: --only resume|streams, --streams <n> (10000), --seconds <s> (20), --ramp-ms <ms> (2 per stream),
 * --rounds <n> (20),
 * --database-url <superuser url> (BENCH_ADMIN_URL, else postgresql://postgres@127.0.0.1:5432/postgres).
 */
import { Agent, request as httpRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort, rssMb, sampleRss, startServer, type Server } from './processes.js';

interface Options {
  only?: string;
  streams: number;
  seconds: number;
  rounds: number;
  /** Over how long the streams are opened (default 2 ms a stream: 20 s for 10,000). */
  rampMs: number;
  adminUrl: string;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    only: value('only'),
    streams: Number(value('streams') ?? 10000),
    seconds: Number(value('seconds') ?? 20),
    rounds: Number(value('rounds') ?? 20),
    rampMs: Number(value('ramp-ms') ?? Math.max(2000, Number(value('streams') ?? 10000) * 2)),
    adminUrl:
      value('database-url') ?? process.env.BENCH_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
};

interface StreamRead {
  ok: boolean;
  status: number;
  firstByteMs: number;
  firstTextMs: number;
  deltas: number;
  text: string;
  sessionId?: string;
  error?: string;
}

/**
 * One HTTP request answered by a UI message stream, read as it comes; `dropAfterDeltas` disconnects after
 * that many text deltas.
 */
function readStream(
  url: string,
  agent: Agent,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  dropAfterDeltas = Infinity,
): Promise<StreamRead> {
  const started = performance.now();
  return new Promise((resolve) => {
    let firstByteMs = NaN;
    let firstTextMs = NaN;
    let deltas = 0;
    let text = '';
    let finished = false;
    let done = false;
    let buffer = '';
    let settled = false;
    const settle = (read: Omit<StreamRead, 'firstByteMs' | 'firstTextMs' | 'deltas' | 'text'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...read, firstByteMs, firstTextMs, deltas, text });
    };
    const req = httpRequest(
      url,
      {
        method: init.method,
        agent,
        headers: {
          ...init.headers,
          ...(init.body ? { 'content-length': Buffer.byteLength(init.body) } : {}),
        },
      },
      (res) => {
        const sessionId = res.headers['x-session-id'] as string | undefined;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - started;
          buffer += chunk;
          let index: number;
          while ((index = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, index);
            buffer = buffer.slice(index + 2);
            const data =
              event
                .split('\n')
                .find((line) => line.startsWith('data: '))
                ?.slice(6) ?? '';
            if (data === '[DONE]') {
              done = true;
              continue;
            }
            const part = JSON.parse(data) as { type: string; delta?: string };
            if (part.type === 'text-delta') {
              if (Number.isNaN(firstTextMs)) firstTextMs = performance.now() - started;
              deltas++;
              text += part.delta ?? '';
              if (deltas >= dropAfterDeltas) {
                settle({ ok: true, status: res.statusCode ?? 0, sessionId });
                req.destroy();
                return;
              }
            } else if (part.type === 'finish') finished = true;
          }
        });
        res.on('end', () =>
          settle({
            ok: (res.statusCode === 200 && done && finished) || res.statusCode === 204,
            status: res.statusCode ?? 0,
            sessionId,
            error:
              done && finished ? undefined : `status ${res.statusCode}, done ${done}, finish ${finished}`,
          }),
        );
        res.on('error', (error) => settle({ ok: false, status: res.statusCode ?? 0, error: error.message }));
      },
    );
    req.on('error', (error) => settle({ ok: false, status: 0, error: error.message }));
    req.end(init.body);
  });
}

async function createUsers(base: string, n: number): Promise<string[]> {
  const users: string[] = [];
  for (let i = 0; i < n; i++) {
    const response = await fetch(`${base}/api/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ display_name: `bench ${i}` }),
    });
    users.push(((await response.json()) as { user_id: string }).user_id);
  }
  return users;
}

const chatInit = (userId: string, text: string) => ({
  method: 'POST' as const,
  headers: { 'x-user-id': userId, 'content-type': 'application/json' },
  body: JSON.stringify({ text }),
});

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const root = process.cwd();
  const logDir = join(root, 'bench', 'results', `resume-logs-${Date.now()}`);
  mkdirSync(logDir, { recursive: true });
  const name = `parley_bench_resume_${process.pid}`;
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(options.adminUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const servers: Server[] = [];
  const start = async (label: string, extra: Record<string, string>) => {
    const port = await freePort();
    const server = await startServer({
      name: label,
      args: ['dist/src/main.js'],
      env: {
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: databaseUrl,
        DB_POOL_MAX: '10',
        LLM_PROVIDER: 'builtin',
        RATE_LIMIT_ENABLED: 'false',
        STREAMS_PER_USER_MAX: '100000',
        WEB_ENABLED: 'false',
        ...extra,
      },
      port,
      cwd: root,
      logDir,
      readyPath: '/health/live',
      timeoutMs: 120000,
    });
    servers.push(server);
    return server;
  };
  const results: Record<string, unknown> = { at: new Date().toISOString(), options };
  try {
    if (!options.only || options.only === 'resume') {
      // The built-in reply is about 250 words; 20 ms apart it streams for about 5 s.
      const a = await start('resume-a', { BUILTIN_LLM_DELAY_MS: '20' });
      const b = await start('resume-b', { BUILTIN_LLM_DELAY_MS: '20' });
      const [user] = await createUsers(a.url, 1);
      const agent = new Agent({ keepAlive: false });
      const same: StreamRead[] = [];
      const other: StreamRead[] = [];
      for (let round = 0; round < options.rounds; round++) {
        for (const [target, into] of [
          [a, same],
          [b, other],
        ] as const) {
          const first = await readStream(
            `${a.url}/api/v1/chat`,
            agent,
            chatInit(user, `Resume round ${round} of a story about a lighthouse`),
            30,
          );
          const again = await readStream(`${target.url}/api/v1/chat/${first.sessionId}/stream`, agent, {
            method: 'GET',
            headers: { 'x-user-id': user },
          });
          if (!again.ok || again.status !== 200) throw new Error(`resume failed: ${again.error}`);
          into.push(again);
        }
      }
      agent.destroy();
      const summary = (reads: StreamRead[]) => ({
        firstByteP50Ms: percentile(
          reads.map((r) => r.firstByteMs),
          50,
        ),
        firstByteP95Ms: percentile(
          reads.map((r) => r.firstByteMs),
          95,
        ),
        firstTextP50Ms: percentile(
          reads.map((r) => r.firstTextMs),
          50,
        ),
        firstTextP95Ms: percentile(
          reads.map((r) => r.firstTextMs),
          95,
        ),
      });
      results.resume = { rounds: options.rounds, sameInstance: summary(same), otherInstance: summary(other) };
      console.log('resume', JSON.stringify(results.resume));
      for (const server of servers.splice(0)) await server.stop();
    }

    if (!options.only || options.only === 'streams') {
      // Pace the built-in reply (about 250 words) over --seconds.
      const delay = Math.max(1, Math.round((options.seconds * 1000) / 250));
      const server = await start('streams', {
        BUILTIN_LLM_DELAY_MS: String(delay),
        DB_POOL_MAX: '20',
        DB_CONNECT_TIMEOUT_MS: '30000',
      });
      const users = await createUsers(server.url, Math.max(1, Math.ceil(options.streams / 100)));
      await sleep(2000);
      const rssIdleMb = rssMb(server.pid);
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      const inserts = async () =>
        Number(
          (
            await db.query<{ n: string }>(
              `SELECT n_tup_ins::text AS n FROM pg_stat_user_tables WHERE relname = 'chat_generation_chunks'`,
            )
          ).rows[0]?.n ?? 0,
        );
      const insertsBefore = await inserts();
      const rss = sampleRss(server.pid, 250);
      const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
      const rampMs = options.rampMs;
      const began = performance.now();
      const reads = await Promise.all(
        Array.from({ length: options.streams }, async (_, i) => {
          await sleep((rampMs * i) / options.streams);
          return readStream(
            `${server.url}/api/v1/chat`,
            agent,
            chatInit(users[i % users.length], `Stream ${i}: a story about a lighthouse`),
          );
        }),
      );
      const wallSeconds = (performance.now() - began) / 1000;
      const rssMaxMb = rss.stop();
      await sleep(3000);
      const rssAfterMb = rssMb(server.pid);
      // pg_stat counters arrive with a delay.
      await sleep(1000);
      const chunkRows = (await inserts()) - insertsBefore;
      const persisted = Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM chat_messages WHERE role = 'assistant' AND metadata ->> 'finish_reason' = 'stop'`,
          )
        ).rows[0].n,
      );
      const left = Number(
        (await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM chat_generation_chunks`)).rows[0].n,
      );
      await db.end();
      agent.destroy();
      const failed = reads.filter((r) => !r.ok);
      results.streams = {
        streams: options.streams,
        delayMs: delay,
        completed: reads.length - failed.length,
        failed: failed.length,
        errors: [...new Set(failed.map((f) => f.error))].slice(0, 5),
        persisted,
        chunkRowsWritten: chunkRows,
        chunkRowsLeft: left,
        wallSeconds,
        rssIdleMb,
        rssMaxMb,
        rssAfterMb,
      };
      console.log('streams', JSON.stringify(results.streams));
    }
  } finally {
    for (const server of servers) await server.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
  const file = join(root, 'bench', 'results', `resume-${Date.now()}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
