/**
 * Settings of `npm run bench`, all from the environment (and a few command-line flags read by run.ts).
 * Every figure the harness reports is a ratio or a curve measured in one run, so these only trade precision
 * for wall-clock time; the defaults keep the whole run under 15 minutes on 2 cores.
 */
import { resolve } from 'node:path';

const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a non-negative number (got ${raw})`);
  return value;
};

export interface BenchConfig {
  /** A superuser connection to the PostgreSQL server; the bench database is created and loaded through it. */
  adminUrl: string;
  /** The dedicated database, reused across runs while its generator version matches. */
  databaseName: string;
  databaseUrl: string;
  /** Repository root (npm runs scripts from it). */
  root: string;
  /**
   * Measured rounds per scenario and target; medians are reported. Many short rounds alternating the
   * targets keep a burst of outside load on a shared machine from landing on one target only.
   */
  rounds: number;
  /** Rounds of the flat-with-size and depth points, of the many-users test and of pgbench. */
  curveRounds: number;
  /** Seconds per measured round. */
  durationSec: number;
  /** Seconds per measured round of the flat-with-size and paging-depth points (Parley only). */
  curveDurationSec: number;
  /** Rounds of the many-users test (each: 1 connection, then 64 at its rate, on both servers). */
  manyRounds: number;
  /** Interleaved rounds of the flat-with-size requests, and seconds per round. */
  flatRounds: number;
  flatDurationSec: number;
  /** Seconds of warm-up of each server with every scenario's requests, before the first measurement. */
  globalWarmupSec: number;
  /** Seconds of warm-up per scenario and target, not measured. */
  warmupSec: number;
  /** Concurrent connections of the main scenarios (the targets are stated at 32). */
  connections: number;
  /** Connections of each server's PostgreSQL pool (Parley's DB_POOL_MAX; the bare server uses the same). */
  poolMax: number;
  /** Concurrent SSE chats of the streams test, and how long each stream lasts. */
  streams: number;
  streamSeconds: number;
}

export function loadBenchConfig(): BenchConfig {
  const adminUrl = process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const databaseName = process.env.BENCH_DATABASE_NAME || 'parley_bench';
  if (!/^[a-z_][a-z0-9_]*$/.test(databaseName))
    throw new Error('BENCH_DATABASE_NAME must be a plain identifier');
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  return {
    adminUrl,
    databaseName,
    databaseUrl: url.toString(),
    root: resolve(process.cwd()),
    rounds: Math.max(1, Math.round(int('BENCH_ROUNDS', 6))),
    curveRounds: Math.max(1, Math.round(int('BENCH_CURVE_ROUNDS', 3))),
    durationSec: int('BENCH_DURATION', 2),
    curveDurationSec: int('BENCH_CURVE_DURATION', 3),
    manyRounds: Math.max(1, Math.round(int('BENCH_MANY_ROUNDS', 5))),
    flatRounds: Math.max(1, Math.round(int('BENCH_FLAT_ROUNDS', 6))),
    flatDurationSec: int('BENCH_FLAT_DURATION', 2),
    globalWarmupSec: int('BENCH_GLOBAL_WARMUP', 12),
    warmupSec: int('BENCH_WARMUP', 1.5),
    connections: Math.max(1, Math.round(int('BENCH_CONNECTIONS', 32))),
    poolMax: Math.max(1, Math.round(int('BENCH_POOL_MAX', 10))),
    streams: Math.max(1, Math.round(int('BENCH_STREAMS', 1000))),
    streamSeconds: int('BENCH_STREAM_SECONDS', 20),
  };
}
