/**
 * Open-loop load: requests arrive at a given rate whatever the latency, as independent users do, each sent
 * on whichever of `connections` keep-alive connections is free (queued in the client when all are busy).
 * Arrivals are a Poisson process (exponential gaps, seeded), not the synchronized ticks of autocannon's
 * per-connection rate limit, which fire all connections together and measure their own bursts. A response's
 * latency is counted from its scheduled arrival, so time spent waiting for a connection is included.
 */
import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadStats, type LoadStats, type RequestSource } from './load.js';
import { cpuMeter, sampleRss } from './processes.js';
import { seededRandom } from './random.js';

/** What both loops share: one keep-alive agent, the latencies and statuses, and the server's meters. */
function recorder(options: { url: string; connections: number; pid?: number; database?: string }) {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const base = new URL(options.url);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let failed = 0;
  const rss = options.pid ? sampleRss(options.pid) : null;
  const cpu = cpuMeter(options.pid, options.database);
  const start = performance.now();
  return {
    start,
    /** Sends one request; resolves when it has been answered (or failed), latency counted from `since`. */
    send(req: ReturnType<RequestSource>, since: number): Promise<void> {
      return new Promise<void>((resolve) => {
        const r = httpRequest(
          {
            host: base.hostname,
            port: base.port,
            path: req.path,
            method: req.method,
            headers: req.headers,
            agent,
          },
          (response) => {
            response.resume();
            response.on('end', () => {
              const status = response.statusCode ?? 0;
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (status >= 200 && status < 300) latencies.push(performance.now() - since);
              else failed++;
              resolve();
            });
          },
        );
        r.on('error', () => {
          failed++;
          resolve();
        });
        r.end(req.body);
      });
    },
    finish(): LoadStats {
      const elapsed = (performance.now() - start) / 1000;
      agent.destroy();
      const used = cpu.stop();
      const rssMaxMb = rss ? rss.stop() : null;
      return loadStats(latencies, { failed, statuses, durationSec: elapsed, rssMaxMb, used });
    },
  };
}

/**
 * The same client in a closed loop: `connections` callers, each sending its next request when the previous
 * one has answered. For comparing against runOpenLoop with nothing but the arrival pattern changed.
 */
export async function runClosedLoopHttp(options: {
  url: string;
  connections: number;
  durationSec: number;
  next: RequestSource;
  pid?: number;
  database?: string;
}): Promise<LoadStats> {
  const load = recorder(options);
  const end = load.start + options.durationSec * 1000;
  const caller = async () => {
    while (performance.now() < end) await load.send(options.next(), performance.now());
  };
  await Promise.all(Array.from({ length: options.connections }, caller));
  return load.finish();
}

export async function runOpenLoop(options: {
  url: string;
  connections: number;
  rate: number;
  durationSec: number;
  next: RequestSource;
  pid?: number;
  database?: string;
  seed?: number;
}): Promise<LoadStats> {
  const load = recorder(options);
  const rand = seededRandom(options.seed ?? 42);
  const inFlight = new Set<Promise<void>>();
  const end = load.start + options.durationSec * 1000;
  let due = load.start;
  while (due < end) {
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const done = load.send(options.next(), due);
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
    due += (-Math.log(1 - rand()) / options.rate) * 1000;
  }
  await Promise.all(inFlight);
  return load.finish();
}
