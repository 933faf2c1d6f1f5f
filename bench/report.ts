/**
 * The run's report: the JSON written to bench/results/, and the markdown tables printed at the end and kept
 * in docs/performance.md (between the `bench:results` markers; the prose around them is left alone).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { LoadStats } from './load.js';
import type { PgbenchStats } from './pgbench.js';
import type { SqlCheck } from './sqlcheck.js';
import type { ScenarioKind } from './scenarios.js';

export interface ScenarioResult {
  id: string;
  title: string;
  kind: ScenarioKind;
  connections: number;
  parley: LoadStats;
  bare: LoadStats | null;
  pgbench: PgbenchStats | null;
  /** Parley req/s over bare req/s. */
  ratio: number | null;
  /** Parley p99 over bare p99. */
  p99Ratio: number | null;
  /** The minimal server (bench/minimal-server.ts), for the read scenarios; absent in older results files. */
  minimal?: LoadStats | null;
  /** Parley req/s over the minimal server's. */
  minimalRatio?: number | null;
  /** Parley p99 over the minimal server's p99. */
  minimalP99Ratio?: number | null;
  sql: SqlCheck | null;
  rounds: { parley: LoadStats[]; bare: LoadStats[]; minimal?: LoadStats[]; pgbench: PgbenchStats[] };
}

export interface CurvePoint {
  id: string;
  title: string;
  depth: number | null;
  stats: LoadStats;
  /** Throughput of each round, when the point was measured in rounds interleaved with others. */
  roundRps?: number[];
}

export interface TargetResult {
  target: string;
  measured: string;
  limit: string;
  pass: boolean | null;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  postgres: string;
  node: string;
  pgbench: string | null;
  os: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
  /** Processes outside the benchmark using CPU when it started (name and %CPU), when any. */
  busyAtStart: string[];
  shared: boolean;
}

export interface StreamsResult {
  streams: number;
  streamSeconds: number;
  delayMs: number;
  completed: number;
  failed: number;
  errors: string[];
  wallSeconds: number;
  firstByteP99Ms: number;
  durationP50Sec: number;
  durationMaxSec: number;
  rssIdleMb: number;
  rssMaxMb: number;
  rssAfterMb: number;
  messagesPersisted: number;
}

export interface ManyUsersFigures {
  one: LoadStats;
  many: LoadStats;
  rate: number;
  p99Ratio: number;
}

export interface ManyUsersResult extends ManyUsersFigures {
  manySaturated: LoadStats;
  /** The bare server under the same protocol, for reference (older results files lack it). */
  bare?: ManyUsersFigures;
}

export interface RunReport {
  runId: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  command: string;
  machine: Machine;
  settings: Record<string, unknown>;
  dataset: Record<string, unknown>;
  parleyIdleRssMb: number | null;
  scenarios: ScenarioResult[];
  flat: CurvePoint[];
  offsetCurve: CurvePoint[];
  cursorCurve: CurvePoint[];
  manyUsers: ManyUsersResult | null;
  streams: StreamsResult | null;
  targets: TargetResult[];
  notes: string[];
}

const n0 = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
const n1 = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(1);
const n2 = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2);
const ms = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1);

export function machineLine(m: Machine): string {
  return (
    `${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB.toFixed(1)} GiB RAM, ${m.os}; PostgreSQL ${m.postgres}; ` +
    `Node ${m.node}; ${m.pgbench ?? 'pgbench not installed'}`
  );
}

export function markdown(report: RunReport): string {
  const out: string[] = [];
  const m = report.machine;
  const s = report.settings as {
    rounds: number;
    curveRounds: number;
    globalWarmupSec: number;
    durationSec: number;
    curveDurationSec: number;
    flatRounds: number;
    flatDurationSec: number;
    manyRounds: number;
    warmupSec: number;
    connections: number;
    poolMax: number;
  };
  out.push(
    `Run \`${report.runId}\` (\`${report.command}\`, ${Math.round(report.wallSeconds)} s wall clock).`,
  );
  out.push('');
  out.push(`- Machine: ${machineLine(m)}.`);
  out.push(
    `- Load average at start ${m.loadAverageAtStart.map(n2).join(' / ')}, at end ${m.loadAverageAtEnd.map(n2).join(' / ')}` +
      (m.shared
        ? ` — **the machine was shared** with other work during this run (${m.busyAtStart.join(', ') || 'see load average'}); absolute figures are depressed and noisier, ratios less so.`
        : '.'),
  );
  const d = report.dataset as {
    generatorVersion: number;
    reused: boolean;
    recordedLoadSeconds: number;
    consistency: { users: number; sessions: number; messages: number };
    sizes: Record<string, string>;
  };
  out.push(
    `- Data: ${n0(d.consistency.users)} users, ${n0(d.consistency.sessions)} sessions, ${n0(d.consistency.messages)} messages ` +
      `(generator v${d.generatorVersion}, database ${d.sizes.database}); load took ${n1(d.recordedLoadSeconds)} s` +
      `${d.reused ? ' when it was loaded (reused by this run)' : ''}; counters verified consistent.`,
  );
  out.push(
    `- Each scenario: ${s.warmupSec} s warm-up per target, then ${s.rounds} rounds of ${s.durationSec} s alternating ` +
      `Parley and the bare server (and, for the reads, the minimal server; the order rotates each round); medians of the rounds. ${s.connections} connections; both servers use a pool of ` +
      `${s.poolMax} PostgreSQL connections; pgbench runs the same transaction on ${s.poolMax} connections ` +
      `(${s.curveRounds} rounds of ${s.curveDurationSec} s). Flat with size: Parley only, ${s.flatRounds} rounds of ` +
      `${s.flatDurationSec} s, each round running every request of the table in turn, ratios the median of the ` +
      `per-round ratios. Depth points: Parley only, ${s.curveRounds} rounds of ${s.curveDurationSec} s. Many users: ` +
      `${s.manyRounds} rounds of ${s.curveDurationSec} s per step, Parley and the bare server taking turns. Before the first scenario each server was warmed up for ` +
      `${s.globalWarmupSec} s with every scenario's requests.`,
  );
  out.push(`- Parley idle RSS ${n0(report.parleyIdleRssMb)} MB.`);
  out.push('');

  out.push(
    '| Scenario | Parley req/s | Ceiling req/s | Ratio | p50 Parley / ceiling (ms) | p99 Parley / ceiling (ms) | p99 ratio | ' +
      'Minimal req/s | Ratio vs minimal | p99 minimal (ms) | p99 ratio vs minimal | ' +
      'Server CPU per request, Parley / ceiling / minimal (ms) | PostgreSQL CPU per request, Parley / ceiling / minimal (ms) | pgbench tps | Parley RSS (MB) |',
  );
  out.push(
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of report.scenarios) {
    const flag = r.sql && !r.sql.same ? ' ⚠ SQL differs' : '';
    const failures = r.parley.failed + (r.bare?.failed ?? 0);
    out.push(
      `| ${r.title}${flag}${failures ? ` (${failures} failed requests)` : ''} | ${n0(r.parley.rps)} | ${n0(r.bare?.rps)} | ${n2(r.ratio)} | ` +
        `${ms(r.parley.p50)} / ${ms(r.bare?.p50)} | ${ms(r.parley.p99)} / ${ms(r.bare?.p99)} | ${n2(r.p99Ratio)} | ` +
        `${n0(r.minimal?.rps)} | ${n2(r.minimalRatio)} | ${ms(r.minimal?.p99)} | ${n2(r.minimalP99Ratio)} | ` +
        `${n2(r.parley.cpuMsPerRequest)} / ${n2(r.bare?.cpuMsPerRequest)}${r.minimal ? ` / ${n2(r.minimal.cpuMsPerRequest)}` : ''} | ` +
        `${n2(r.parley.dbCpuMsPerRequest)} / ${n2(r.bare?.dbCpuMsPerRequest)}${r.minimal ? ` / ${n2(r.minimal.dbCpuMsPerRequest)}` : ''} | ${n0(r.pgbench?.tps)} | ${n0(r.parley.rssMaxMb)} |`,
    );
  }
  out.push('');
  out.push(
    'Ceiling = the bare Fastify + pg server running the same SQL in the same RLS transaction shape. Minimal = ' +
      'plain Fastify + pg sending only `BEGIN; SET LOCAL ROLE`, `set_config(app.user_id)`, the design function ' +
      '(`get_user_sessions` / `get_session_messages`) and `COMMIT` (bench/minimal-server.ts); read scenarios only.',
  );
  out.push('');

  if (report.flat.length > 0 || report.cursorCurve.length > 0) {
    out.push(
      'Flat with size (Parley only, rounds interleaved; cost = 1 / throughput at the same concurrency):',
    );
    out.push('');
    out.push(
      '| Request | req/s | p50 (ms) | p99 (ms) | Server CPU per request (ms) | PostgreSQL CPU per request (ms) |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const p of report.flat) {
      out.push(
        `| ${p.title} | ${n0(p.stats.rps)} | ${ms(p.stats.p50)} | ${ms(p.stats.p99)} | ${n2(p.stats.cpuMsPerRequest)} | ${n2(p.stats.dbCpuMsPerRequest)} |`,
      );
    }
    out.push('');
  }
  if (report.cursorCurve.length > 0 || report.offsetCurve.length > 0) {
    out.push(
      'Paging depth in the 50,000-message session, keyset (`before`) beside `offset` (50 messages a page):',
    );
    out.push('');
    out.push(
      '| Depth (messages skipped) | cursor req/s | cursor p50 (ms) | offset req/s | offset p50 (ms) |',
    );
    out.push('| ---: | ---: | ---: | ---: | ---: |');
    const depths = [...new Set([...report.cursorCurve, ...report.offsetCurve].map((p) => p.depth ?? 0))].sort(
      (a, b) => a - b,
    );
    for (const depth of depths) {
      const c = report.cursorCurve.find((p) => p.depth === depth);
      const o = report.offsetCurve.find((p) => p.depth === depth);
      out.push(
        `| ${n0(depth)} | ${n0(c?.stats.rps)} | ${ms(c?.stats.p50)} | ${n0(o?.stats.rps)} | ${ms(o?.stats.p50)} |`,
      );
    }
    out.push('');
  }
  if (report.manyUsers) {
    const mu = report.manyUsers;
    out.push(
      `Many users (list sessions, limit 10, each request as one of 1,000 users): 1 connection ${n0(mu.one.rps)} req/s, ` +
        `p99 ${ms(mu.one.p99)} ms; the same ${n0(mu.rate)} req/s arriving at random (Poisson) over 64 connections: p99 ${ms(mu.many.p99)} ms ` +
        `(ratio ${n2(mu.p99Ratio)}); 64 connections flat out: ${n0(mu.manySaturated.rps)} req/s, p99 ${ms(mu.manySaturated.p99)} ms.` +
        (mu.bare
          ? ` The bare server under the same protocol, in the same rounds: 1 connection ${n0(mu.bare.one.rps)} req/s, ` +
            `p99 ${ms(mu.bare.one.p99)} ms; 64 connections p99 ${ms(mu.bare.many.p99)} ms (ratio ${n2(mu.bare.p99Ratio)}).`
          : ''),
    );
    out.push('');
  }
  if (report.streams) {
    const st = report.streams;
    out.push(
      `Streams: ${n0(st.streams)} concurrent SSE chats paced to ${st.streamSeconds} s (${st.delayMs} ms between chunks): ` +
        `${n0(st.completed)} completed, ${n0(st.failed)} failed, ${n0(st.messagesPersisted)} messages persisted; ` +
        `duration p50 ${n1(st.durationP50Sec)} s, max ${n1(st.durationMaxSec)} s; first byte p99 ${ms(st.firstByteP99Ms)} ms; ` +
        `Parley RSS idle ${n0(st.rssIdleMb)} MB, peak ${n0(st.rssMaxMb)} MB, after ${n0(st.rssAfterMb)} MB.`,
    );
    out.push('');
  }
  if (report.targets.length > 0) {
    out.push('| Target | Measured | Limit | Met |');
    out.push('| --- | --- | --- | :---: |');
    for (const t of report.targets) {
      out.push(
        `| ${t.target} | ${t.measured} | ${t.limit} | ${t.pass === null ? '–' : t.pass ? 'yes' : '**no**'} |`,
      );
    }
    out.push('');
  }
  for (const note of report.notes) out.push(`- ${note}`);
  if (report.notes.length > 0) out.push('');
  return out.join('\n');
}

export const START_MARKER = '<!-- bench:results:start -->';
export const END_MARKER = '<!-- bench:results:end -->';

/**
 * Replaces the text between the markers of docs/performance.md (appending a section when they are missing),
 * formatted by the project's Prettier when it is installed, so `npm run lint` stays clean.
 */
export async function writeIntoDocs(file: string, table: string): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Performance\n';
  }
  const block = `${START_MARKER}\n\n${table.trimEnd()}\n\n${END_MARKER}`;
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + END_MARKER.length)
      : `${text.trimEnd()}\n\n## Latest run\n\n${block}\n`;
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    text = await prettier.format(text, { ...options, filepath: file });
  } catch {
    // Prettier is a development dependency: without it the file is written as generated.
  }
  writeFileSync(file, text);
}
