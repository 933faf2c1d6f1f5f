/**
 * Streams: many SSE chats held open at once. A Parley of its own runs with the built-in provider paced so
 * each reply streams for BENCH_STREAM_SECONDS (20 s); BENCH_STREAMS (1,000) users each open one chat in their
 * newest session, launched over BENCH_STREAM_RAMP_MS (2 s). Every stream must end with `finish` and `[DONE]`
 * and no `error` part, and both messages of every exchange must be persisted. Parley's RSS is sampled
 * throughout: idle (after a warm-up), peak, and after the streams end (polled until it settles).
 */
import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { chatRequest } from './chat.js';
import type { BenchConfig } from './config.js';
import type { Fixtures, OwnedSession } from './fixtures.js';
import { percentile, runLoad } from './load.js';
import { rssMb, sampleRss, type Server } from './processes.js';
import type { StreamsResult } from './report.js';
import { listSessionsPath } from './scenarios.js';

interface StreamOutcome {
  ok: boolean;
  status: number;
  deltas: number;
  firstByteMs: number;
  durationMs: number;
  error?: string;
}

/** One SSE chat, read to the end. */
export function sseChat(
  baseUrl: string,
  agent: Agent,
  owned: OwnedSession,
  timeoutMs: number,
): Promise<StreamOutcome> {
  const req = chatRequest(owned, 'sse');
  const url = new URL(req.path, baseUrl);
  const started = performance.now();
  return new Promise((resolve) => {
    let firstByteMs = NaN;
    let deltas = 0;
    let done = false;
    let finished = false;
    let errorText: string | undefined;
    let buffer = '';
    const finish = (outcome: Omit<StreamOutcome, 'durationMs' | 'firstByteMs' | 'deltas'>) =>
      resolve({ ...outcome, deltas, firstByteMs, durationMs: performance.now() - started });
    const request = httpRequest(
      url,
      {
        method: req.method,
        headers: { ...req.headers, 'content-length': Buffer.byteLength(req.body ?? '') },
        agent,
      },
      (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - started;
          buffer += chunk;
          let index: number;
          while ((index = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, index);
            buffer = buffer.slice(index + 2);
            const data = event.startsWith('data: ') ? event.slice(6) : '';
            if (data === '[DONE]') {
              done = true;
              continue;
            }
            try {
              const part = JSON.parse(data) as { type?: string; errorText?: string };
              if (part.type === 'text-delta') deltas++;
              else if (part.type === 'finish') finished = true;
              else if (part.type === 'error') errorText = part.errorText ?? 'error part';
            } catch {
              errorText = `unparsable event: ${event.slice(0, 80)}`;
            }
          }
        });
        response.on('end', () => {
          const ok = response.statusCode === 200 && done && finished && errorText === undefined;
          finish({
            ok,
            status: response.statusCode ?? 0,
            error: ok
              ? undefined
              : (errorText ?? `status ${response.statusCode}, done ${done}, finish ${finished}`),
          });
        });
        response.on('error', (error) =>
          finish({ ok: false, status: response.statusCode ?? 0, error: error.message }),
        );
      },
    );
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error) => finish({ ok: false, status: 0, error: error.message }));
    request.end(req.body);
  });
}

/** Text deltas of one reply of the built-in provider (unpaced), to pace it to the wanted duration. */
export async function probeReplyChunks(baseUrl: string, owned: OwnedSession): Promise<number> {
  const agent = new Agent({ keepAlive: false });
  const outcome = await sseChat(baseUrl, agent, owned, 30000);
  agent.destroy();
  if (!outcome.ok) throw new Error(`probe chat failed: ${outcome.error}`);
  return outcome.deltas;
}

async function newestSessions(databaseUrl: string, users: string[]): Promise<OwnedSession[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = await client.query<{ user_id: string; session_id: string }>(
      `SELECT DISTINCT ON (user_id) user_id, session_id FROM sessions WHERE user_id = ANY($1::uuid[])
        ORDER BY user_id, last_message_at DESC, session_id DESC`,
      [users],
    );
    const byUser = new Map(rows.rows.map((r) => [r.user_id, r.session_id]));
    return users.filter((u) => byUser.has(u)).map((u) => ({ userId: u, sessionId: byUser.get(u) as string }));
  } finally {
    await client.end();
  }
}

async function maxSeq(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ m: string }>('SELECT max(seq)::text AS m FROM chat_messages')).rows[0].m;
  } finally {
    await client.end();
  }
}

async function countSince(databaseUrl: string, seq: string, sessions: string[]): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM chat_messages WHERE seq > $1 AND session_id = ANY($2::uuid[])',
      [seq, sessions],
    );
    return r.rows[0].n;
  } finally {
    await client.end();
  }
}

export async function runStreams(
  config: BenchConfig,
  fixtures: Fixtures,
  replyChunks: number,
  start: (extraEnv: Record<string, string>) => Promise<Server>,
  log: (line: string) => void,
): Promise<StreamsResult> {
  // The provider sleeps before every chunk but the first, and once more before it ends.
  const delayMs = Math.max(1, Math.round((config.streamSeconds * 1000) / Math.max(1, replyChunks)));
  const rampMs = Number(process.env.BENCH_STREAM_RAMP_MS ?? 2000);
  const users = fixtures.users.slice(0, config.streams);
  const owned = await newestSessions(config.databaseUrl, users);
  const server = await start({ BUILTIN_LLM_DELAY_MS: String(delayMs) });
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  try {
    // Warm-up: ordinary reads and a handful of paced streams, so "idle" is a warmed-up process.
    await runLoad({
      url: server.url,
      connections: 4,
      durationSec: 2,
      next: (() => {
        let i = 0;
        return () => ({
          method: 'GET' as const,
          path: listSessionsPath(10),
          headers: { 'x-user-id': fixtures.users[i++ % fixtures.users.length] },
        });
      })(),
    });
    const warm = await Promise.all(
      fixtures.writePool
        .slice(0, 20)
        .map((o) => sseChat(server.url, agent, o, config.streamSeconds * 1000 + 60000)),
    );
    if (warm.some((w) => !w.ok)) log(`  warm-up streams: ${warm.filter((w) => !w.ok).length} failed`);
    await sleep(3000);
    const rssIdleMb = rssMb(server.pid) ?? NaN;
    const seqBefore = await maxSeq(config.databaseUrl);

    log(
      `  ${owned.length} streams, ${delayMs} ms between chunks (${replyChunks} chunks), ramp ${rampMs} ms...`,
    );
    const rss = sampleRss(server.pid, 250);
    const began = performance.now();
    const outcomes = await Promise.all(
      owned.map(async (o, i) => {
        await sleep((rampMs * i) / owned.length);
        return sseChat(server.url, agent, o, config.streamSeconds * 1000 + 120000);
      }),
    );
    const wallSeconds = (performance.now() - began) / 1000;
    const rssMaxMb = rss.stop();

    // After: poll until RSS is back within 10% of idle, for at most 30 s.
    let rssAfterMb = rssMb(server.pid) ?? NaN;
    for (let waited = 0; waited < 30 && rssAfterMb > rssIdleMb * 1.1; waited++) {
      await sleep(1000);
      rssAfterMb = rssMb(server.pid) ?? NaN;
    }
    const persisted = await countSince(
      config.databaseUrl,
      seqBefore,
      owned.map((o) => o.sessionId),
    );
    const failed = outcomes.filter((o) => !o.ok);
    const errors = [...new Set(failed.map((o) => o.error ?? 'unknown'))].slice(0, 10);
    const durations = Float64Array.from(outcomes.filter((o) => o.ok).map((o) => o.durationMs / 1000)).sort();
    const firstBytes = Float64Array.from(outcomes.map((o) => o.firstByteMs).filter(Number.isFinite)).sort();
    return {
      streams: owned.length,
      streamSeconds: config.streamSeconds,
      delayMs,
      completed: outcomes.length - failed.length,
      failed: failed.length,
      errors,
      wallSeconds,
      firstByteP99Ms: percentile(firstBytes, 99),
      durationP50Sec: percentile(durations, 50),
      durationMaxSec: durations.length ? durations[durations.length - 1] : NaN,
      rssIdleMb,
      rssMaxMb,
      rssAfterMb,
      messagesPersisted: persisted,
    };
  } finally {
    agent.destroy();
    await server.stop();
  }
}
