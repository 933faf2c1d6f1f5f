/**
 * Load generation with autocannon, and the statistics the report uses. autocannon's own latency histogram
 * counts whole milliseconds; the harness records every 2xx response's time itself (autocannon's `response`
 * event carries it in fractional milliseconds) and computes exact percentiles.
 */
import autocannon, { type AutocannonRequest } from 'autocannon';
import { cpuMeter, sampleRss } from './processes.js';

export interface BenchRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Makes the next request; called once per request, so it can rotate users, sessions and cursors. */
export type RequestSource = () => BenchRequest;

export interface LoadOptions {
  url: string;
  connections: number;
  durationSec: number;
  next: RequestSource;
  /** Open loop: this many requests per second in total, whatever the latency. */
  overallRate?: number;
  /** Samples this process's RSS and CPU during the run. */
  pid?: number;
  /** Measures the CPU of this database's backends during the run. */
  database?: string;
  timeoutSec?: number;
}

export interface LoadStats {
  /** 2xx responses per second. */
  rps: number;
  ok: number;
  /** Non-2xx responses, connection errors and timeouts: any of them makes the figure suspect. */
  failed: number;
  statuses: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
  durationSec: number;
  rssMaxMb: number | null;
  /** Server CPU (user + system) per 2xx response, in ms: the cost of a request, least disturbed by noise. */
  cpuMsPerRequest: number | null;
  /** PostgreSQL backends' CPU per 2xx response, in ms (all backends of the bench database). */
  dbCpuMsPerRequest: number | null;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

/** The figures of one round from its 2xx latencies (ms) and what the meters measured over it. */
export function loadStats(
  latencies: number[],
  round: {
    failed: number;
    statuses: Record<string, number>;
    durationSec: number;
    rssMaxMb: number | null;
    used: { serverMs: number | null; dbMs: number | null };
  },
): LoadStats {
  const sorted = Float64Array.from(latencies).sort();
  const ok = latencies.length;
  const { used } = round;
  return {
    rps: ok / round.durationSec,
    ok,
    failed: round.failed,
    statuses: round.statuses,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: ok ? latencies.reduce((a, b) => a + b, 0) / ok : NaN,
    max: ok ? sorted[sorted.length - 1] : NaN,
    durationSec: round.durationSec,
    rssMaxMb: round.rssMaxMb,
    cpuMsPerRequest: used.serverMs !== null && ok > 0 ? used.serverMs / ok : null,
    dbCpuMsPerRequest: used.dbMs !== null && ok > 0 ? used.dbMs / ok : null,
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadStats> {
  const latencies: number[] = [];
  const request: AutocannonRequest = {
    setupRequest: (req) => {
      const next = options.next();
      req.method = next.method;
      req.path = next.path;
      req.headers = next.headers;
      req.body = next.body;
      return req;
    },
  };
  const rss = options.pid ? sampleRss(options.pid) : null;
  const cpu = cpuMeter(options.pid, options.database);
  const started = performance.now();
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSec,
    timeout: options.timeoutSec ?? 30,
    requests: [request],
    ...(options.overallRate ? { overallRate: options.overallRate, ignoreCoordinatedOmission: true } : {}),
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const elapsed = (performance.now() - started) / 1000;
  const rssMaxMb = rss ? rss.stop() : null;
  const used = cpu.stop();
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
  return loadStats(latencies, {
    failed: result.non2xx + result.errors + result.timeouts,
    statuses,
    durationSec: result.duration || elapsed,
    rssMaxMb,
    used,
  });
}

function pickNullable(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? median(present) : null;
}

/** Medians over rounds (each field separately), plus the worst failure count and RSS of any round. */
export function summarize(rounds: LoadStats[]): LoadStats {
  const pick = (f: (s: LoadStats) => number) => median(rounds.map(f));
  const statuses: Record<string, number> = {};
  for (const round of rounds)
    for (const [code, n] of Object.entries(round.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const rss = rounds.map((r) => r.rssMaxMb).filter((v): v is number => v !== null);
  return {
    rps: pick((s) => s.rps),
    ok: rounds.reduce((a, s) => a + s.ok, 0),
    failed: rounds.reduce((a, s) => a + s.failed, 0),
    statuses,
    p50: pick((s) => s.p50),
    p90: pick((s) => s.p90),
    p99: pick((s) => s.p99),
    mean: pick((s) => s.mean),
    max: Math.max(...rounds.map((s) => s.max)),
    durationSec: rounds.reduce((a, s) => a + s.durationSec, 0),
    rssMaxMb: rss.length ? Math.max(...rss) : null,
    cpuMsPerRequest: pickNullable(rounds.map((r) => r.cpuMsPerRequest)),
    dbCpuMsPerRequest: pickNullable(rounds.map((r) => r.dbCpuMsPerRequest)),
  };
}
