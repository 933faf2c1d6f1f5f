/**
 * `npm run bench`: builds Parley, loads (or reuses) the bench database, starts the built Parley and the bare
 * ceiling server on loopback, checks that both send the same SQL, drives both with autocannon scenario by
 * scenario (and pgbench on the same SQL), then runs the flat-with-size curves, the many-users test and the
 * streams test; writes bench/results/<run>.json and prints the markdown it also writes into
 * docs/performance.md.
 *
 * Flags: --only <ids> (scenario ids or groups: core, flat, many, streams), --skip-build, --data-only,
 * --no-pgbench, --no-docs, --list.
 */
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadBenchConfig, type BenchConfig } from './config.js';
import { ensureDataset } from './dataset.js';
import { ANCHOR_DEPTHS, loadFixtures, type Fixtures } from './fixtures.js';
import { runLoad, summarize, type LoadStats, type RequestSource } from './load.js';
import { runClosedLoopHttp, runOpenLoop } from './openloop.js';
import { pgbenchAvailable, runPgbench, type PgbenchStats } from './pgbench.js';
import { freePort, rssMb, startServer, type Server } from './processes.js';
import {
  markdown,
  writeIntoDocs,
  type CurvePoint,
  type Machine,
  type ManyUsersFigures,
  type ManyUsersResult,
  type RunReport,
  type ScenarioResult,
  type StreamsResult,
  type TargetResult,
} from './report.js';
import { chatScenarios, mixScenario } from './chat.js';
import { coreScenarios, listScenario, messagesScenario, type Scenario } from './scenarios.js';
import { compareSql, type SqlCheck } from './sqlcheck.js';
import { probeReplyChunks, runStreams } from './streams.js';
import { startPgBouncer } from './pgbouncer.js';

const log = (line: string) => console.log(`[bench] ${line}`);

interface Flags {
  only?: string;
  skipBuild?: boolean;
  dataOnly?: boolean;
  pgbench: boolean;
  docs: boolean;
  list?: boolean;
}

/**
 * Rate limits stay on (their guard is part of every request's cost) with ceilings no benchmark reaches: one
 * user sends thousands of requests a second here.
 */
const UNLIMITED = { RATE_LIMIT_MAX: '1000000', RATE_LIMIT_CHAT_MAX: '1000000' };

/** Parley's environment for the benchmark: the built service as deployed, on the bench database. */
function parleyEnv(
  config: BenchConfig,
  port: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    DATABASE_URL: config.databaseUrl,
    DB_POOL_MAX: String(config.poolMax),
    LLM_PROVIDER: 'builtin',
    BUILTIN_LLM_DELAY_MS: '0',
    ...UNLIMITED,
    ...extra,
  };
}

/** Every server this run started, so a failing run does not leave them behind. */
const running = new Set<Server>();

async function track(starting: Promise<Server>): Promise<Server> {
  const server = await starting;
  running.add(server);
  server.child.once('exit', () => running.delete(server));
  return server;
}

function killRunning(): void {
  for (const server of running) server.child.kill('SIGKILL');
}

async function startParley(
  config: BenchConfig,
  logDir: string,
  name: string,
  extra: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<Server> {
  const port = await freePort();
  return track(
    startServer({
      name,
      args: [...nodeArgs, 'dist/src/main.js'],
      env: parleyEnv(config, port, extra),
      port,
      cwd: config.root,
      logDir,
      readyPath: '/api/v1/users/me',
    }),
  );
}

async function startBare(
  config: BenchConfig,
  logDir: string,
  name: string,
  nodeArgs: string[] = [],
  extra: Record<string, string> = {},
): Promise<Server> {
  const port = await freePort();
  return track(
    startServer({
      name,
      args: [...nodeArgs, 'dist/bench/bare-server.js'],
      env: {
        NODE_ENV: 'production',
        PORT: String(port),
        HOST: '127.0.0.1',
        BARE_DATABASE_URL: config.databaseUrl,
        POOL_MAX: String(config.poolMax),
        ...extra,
      },
      port,
      cwd: config.root,
      logDir,
      readyPath: '/api/v1/users/me',
    }),
  );
}

/**
 * The minimal server (bench/minimal-server.ts): the second reference, for the read scenarios. It answers
 * the readiness probe on /ready (it has no users/me).
 */
async function startMinimal(config: BenchConfig, logDir: string, name: string): Promise<Server> {
  const port = await freePort();
  return track(
    startServer({
      name,
      args: ['dist/bench/minimal-server.js'],
      env: {
        NODE_ENV: 'production',
        PORT: String(port),
        HOST: '127.0.0.1',
        BARE_DATABASE_URL: config.databaseUrl,
        POOL_MAX: String(config.poolMax),
      },
      port,
      cwd: config.root,
      logDir,
      readyPath: '/ready',
    }),
  );
}

/** The minimal server answers the read scenarios (a session list or a message page) only. */
const hasMinimal = (scenario: Scenario): boolean => scenario.kind === 'read';

async function describeMachine(config: BenchConfig): Promise<Machine> {
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  const version = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]
    .v;
  await client.end();
  const ps = spawnSync('ps', ['-eo', 'pcpu=,comm=', '--sort=-pcpu'], { encoding: 'utf8' });
  const busy = (ps.stdout ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [cpu, ...name] = l.split(/\s+/);
      return { cpu: Number(cpu), name: name.join(' ') };
    })
    .filter((p) => p.cpu >= 10 && !/^ps$/.test(p.name))
    .slice(0, 6)
    .map((p) => `${p.name} ${p.cpu}%`);
  const load = loadavg();
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 1024 ** 3,
    postgres: version,
    node: process.version,
    pgbench: await pgbenchAvailable(),
    os: `${platform()} ${release()}`,
    loadAverageAtStart: load,
    loadAverageAtEnd: [],
    busyAtStart: busy,
    shared: load[0] > 0.5 || busy.length > 0,
  };
}

type TargetKey = 'parley' | 'bare' | 'minimal';

interface Measured {
  parley: LoadStats[];
  bare: LoadStats[];
  minimal: LoadStats[];
}

/** A closed-loop load round on one server, with the server's CPU, its backends' CPU and its RSS measured. */
function loadOn(
  config: BenchConfig,
  server: Server,
  next: RequestSource,
  connections: number,
  seconds: number,
  overallRate?: number,
): Promise<LoadStats> {
  return runLoad({
    url: server.url,
    connections,
    durationSec: seconds,
    next,
    pid: server.pid,
    database: config.databaseName,
    overallRate,
  });
}

/**
 * Warm-up, then `rounds` rounds alternating the targets, each with a fresh request source so all see the
 * same sequence. With two targets, Parley goes first in even rounds and the bare server in odd ones; with
 * three (the minimal server too), the order rotates by one each round, so each target runs first, second
 * and third equally often.
 */
async function measure(
  config: BenchConfig,
  scenario: { source(): RequestSource },
  targets: { parley: Server; bare: Server | null; minimal?: Server | null },
  connections: number,
  overallRate?: number,
): Promise<Measured> {
  const list = (['parley', 'bare', 'minimal'] as const).filter((k) => (targets[k] ?? null) !== null);
  const run = (key: TargetKey, seconds: number) =>
    loadOn(config, targets[key] as Server, scenario.source(), connections, seconds, overallRate);
  for (const key of list) if (config.warmupSec > 0) await run(key, config.warmupSec);
  const out: Measured = { parley: [], bare: [], minimal: [] };
  for (let round = 0; round < config.rounds; round++) {
    const shift = round % list.length;
    const order =
      list.length === 2
        ? round % 2 === 0
          ? list
          : [...list].reverse()
        : [...list.slice(shift), ...list.slice(0, shift)];
    for (const key of order) out[key].push(await run(key, config.durationSec));
  }
  return out;
}

/**
 * Requests measured against each other on one server: each warmed up, then `rounds` rounds that run every
 * request once, in an order rotated by the round, so drifting outside load lands on all of them.
 */
async function measureInterleaved(
  config: BenchConfig,
  scenarios: Scenario[],
  server: Server,
  connections: number,
): Promise<Record<string, LoadStats[]>> {
  const run = (scenario: Scenario, seconds: number) =>
    loadOn(config, server, scenario.source(), connections, seconds);
  if (config.warmupSec > 0) for (const s of scenarios) await run(s, config.warmupSec);
  const out: Record<string, LoadStats[]> = Object.fromEntries(scenarios.map((s) => [s.id, []]));
  for (let round = 0; round < config.rounds; round++) {
    const shift = round % scenarios.length;
    for (const s of [...scenarios.slice(shift), ...scenarios.slice(0, shift)]) {
      out[s.id].push(await run(s, config.durationSec));
    }
  }
  return out;
}

function selected(only: string | undefined, id: string, group: string): boolean {
  if (!only) return true;
  const wanted = only.split(',').map((s) => s.trim());
  return wanted.includes(id) || wanted.includes(group);
}

async function main(): Promise<void> {
  const program = new Command()
    .option('--only <ids>', 'scenario ids or groups (core, flat, many, streams), comma-separated')
    .option('--skip-build', 'use the existing dist/')
    .option('--data-only', 'load (or check) the bench database and stop')
    .option('--no-pgbench', 'leave pgbench out')
    .option('--no-docs', 'do not rewrite docs/performance.md')
    .option('--list', 'list the scenarios and stop')
    .parse();
  const flags = program.opts<Flags>();
  const config = loadBenchConfig();
  const started = new Date();
  const runId = started.toISOString().replace(/[:.]/g, '-').replace(/Z$/, 'Z');
  const logDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const notes: string[] = [];

  if (!flags.skipBuild && !flags.dataOnly && !flags.list) {
    log('building Parley (npm run build)...');
    const build = spawnSync('npm', ['run', 'build'], { cwd: config.root, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
  const machine = await describeMachineSafe(config);
  const dataset = await ensureDataset(config, log);
  log(
    `data set v${dataset.generatorVersion}: ${dataset.consistency.users} users, ${dataset.consistency.sessions} sessions, ` +
      `${dataset.consistency.messages} messages, consistent (${dataset.reused ? 'reused' : 'loaded now'}; the load took ` +
      `${dataset.recordedLoadSeconds.toFixed(1)} s); ${JSON.stringify(dataset.sizes)}`,
  );
  if (flags.dataOnly) return;
  const machineInfo = machine ?? (await describeMachine(config));

  const fixtures = await loadFixtures(config.databaseUrl);
  const core = [...coreScenarios(fixtures), ...chatScenarios(fixtures), mixScenario(fixtures)];
  const flat = flatScenarios(fixtures);
  if (flags.list) {
    for (const s of core) console.log(`core     ${s.id.padEnd(22)} ${s.title}`);
    for (const s of flat) console.log(`flat     ${s.id.padEnd(22)} ${s.title}`);
    console.log('many     many-users             list sessions over 1,000 users, 1 vs 64 connections');
    console.log('streams  streams                concurrent SSE chats held open');
    console.log(
      'scale    scale                  list, message page and chat through PgBouncer vs direct (--only scale)',
    );
    return;
  }
  // Opt-in (not in the full run, which must stay under 15 minutes): Parley through PgBouncer beside Parley
  // connected directly, the same requests (so the same SQL), alternating rounds.
  if (flags.only?.split(',').includes('scale')) {
    await measureThroughPgBouncer(config, logDir, core, notes);
    for (const note of notes) log(note);
    return;
  }
  const coreRun = core.filter((s) => selected(flags.only, s.id, 'core'));
  const flatRun = flat.filter((s) => selected(flags.only, s.id, 'flat'));
  const runMany = selected(flags.only, 'many-users', 'many');
  const runStreamsTest = selected(flags.only, 'streams', 'streams');

  // 1. Same SQL: throw-away traced servers, one request per scenario.
  const sqlChecks = new Map<string, SqlCheck>();
  if (coreRun.length > 0) {
    log('checking that Parley and the bare server send the same SQL...');
    const parleyTrace = join(logDir, 'parley-sql.trace');
    const bareTrace = join(logDir, 'bare-sql.trace');
    writeFileSync(parleyTrace, '');
    writeFileSync(bareTrace, '');
    const tracedParley = await startParley(
      config,
      logDir,
      'parley-traced',
      { BENCH_SQL_TRACE: parleyTrace },
      ['--import', './dist/bench/trace-sql.js'],
    );
    const tracedBare = await startBare(
      config,
      logDir,
      'bare-traced',
      ['--import', './dist/bench/trace-sql.js'],
      {
        BENCH_SQL_TRACE: bareTrace,
      },
    );
    try {
      for (const s of coreRun) {
        if (s.kind === 'mix') continue;
        const request = s.source()();
        try {
          const check = await compareSql(
            { url: tracedParley.url, traceFile: parleyTrace },
            { url: tracedBare.url, traceFile: bareTrace },
            request,
          );
          sqlChecks.set(s.id, check);
          log(`  ${s.id}: ${check.same ? 'same SQL' : 'SQL DIFFERS'} (${check.parley.length} statements)`);
          if (!check.same)
            notes.push(`${s.id}: Parley and the bare server sent different SQL (see the JSON).`);
        } catch (error) {
          log(`  ${s.id}: check failed: ${(error as Error).message}`);
          notes.push(`${s.id}: SQL check failed: ${(error as Error).message}`);
        }
      }
    } finally {
      await tracedParley.stop();
      await tracedBare.stop();
    }
  }

  // 2. The measured servers.
  const parley = await startParley(config, logDir, 'parley');
  const bare = await startBare(config, logDir, 'bare');
  const minimal = coreRun.some(hasMinimal) ? await startMinimal(config, logDir, 'minimal') : null;
  log(
    `Parley pid ${parley.pid} at ${parley.url}; bare server pid ${bare.pid} at ${bare.url}` +
      `${minimal ? `; minimal server pid ${minimal.pid} at ${minimal.url}` : ''}; logs in ${logDir}`,
  );
  await sleep(1000);
  const parleyIdleRssMb = rssMb(parley.pid);
  const pgbench = flags.pgbench ? machineInfo.pgbench : null;
  if (flags.pgbench && !pgbench) notes.push('pgbench is not installed: its column is empty.');

  // Warm-up of every code path before anything is measured: V8 keeps optimizing a large application for
  // several thousand requests (Parley's CPU per request halves over the first ~10 s), a small one sooner.
  if (config.globalWarmupSec > 0 && (coreRun.length > 0 || flatRun.length > 0 || runMany)) {
    log(`warming both servers up for ${config.globalWarmupSec} s each...`);
    const all = [...core, ...flat];
    const everything = () => {
      const sources = all.map((s) => s.source());
      let i = 0;
      return () => sources[i++ % sources.length]();
    };
    for (const server of [parley, bare]) {
      await runLoad({
        url: server.url,
        connections: config.connections,
        durationSec: config.globalWarmupSec,
        next: everything(),
      });
    }
    if (minimal) {
      const reads = core.filter(hasMinimal);
      let i = 0;
      const sources = reads.map((s) => s.source());
      await runLoad({
        url: minimal.url,
        connections: config.connections,
        durationSec: config.globalWarmupSec,
        next: () => sources[i++ % sources.length](),
      });
    }
  }

  const scenarios: ScenarioResult[] = [];
  const flatPoints: CurvePoint[] = [];
  const cursorCurve: CurvePoint[] = [];
  const offsetCurve: CurvePoint[] = [];
  let manyUsers: ManyUsersResult | null = null;
  let streams: StreamsResult | null = null;
  let replyChunks = 0;
  try {
    for (const s of coreRun) {
      log(`scenario ${s.id}...`);
      const m = await measure(
        config,
        s,
        { parley, bare, minimal: hasMinimal(s) ? minimal : null },
        config.connections,
      );
      const pgRounds: PgbenchStats[] = [];
      if (pgbench && s.pgbench) {
        for (let round = 0; round < config.curveRounds; round++) {
          pgRounds.push(
            await runPgbench({
              databaseUrl: config.databaseUrl,
              statements: s.pgbench,
              clients: config.poolMax,
              durationSec: config.curveDurationSec,
            }),
          );
        }
      }
      const p = summarize(m.parley);
      const b = m.bare.length ? summarize(m.bare) : null;
      const mn = m.minimal.length ? summarize(m.minimal) : null;
      const pgb = pgRounds.length
        ? {
            tps: medianOf(pgRounds.map((r) => r.tps)),
            p50: medianOf(pgRounds.map((r) => r.p50)),
            p99: medianOf(pgRounds.map((r) => r.p99)),
            transactions: pgRounds.reduce((a, r) => a + r.transactions, 0),
            failed: pgRounds.reduce((a, r) => a + r.failed, 0),
          }
        : null;
      const result: ScenarioResult = {
        id: s.id,
        title: s.title,
        kind: s.kind,
        connections: config.connections,
        parley: p,
        bare: b,
        pgbench: pgb,
        ratio: b ? p.rps / b.rps : null,
        p99Ratio: b ? p.p99 / b.p99 : null,
        minimal: mn,
        minimalRatio: mn ? p.rps / mn.rps : null,
        minimalP99Ratio: mn ? p.p99 / mn.p99 : null,
        sql: sqlChecks.get(s.id) ?? null,
        rounds: { parley: m.parley, bare: m.bare, minimal: m.minimal, pgbench: pgRounds },
      };
      scenarios.push(result);
      log(
        `  Parley ${p.rps.toFixed(0)} req/s p50 ${p.p50.toFixed(2)} p99 ${p.p99.toFixed(2)} ms cpu ${p.cpuMsPerRequest?.toFixed(2)}/${p.dbCpuMsPerRequest?.toFixed(2)} ms` +
          ` | bare ${b?.rps.toFixed(0)} req/s p50 ${b?.p50.toFixed(2)} p99 ${b?.p99.toFixed(2)} ms cpu ${b?.cpuMsPerRequest?.toFixed(2)}/${b?.dbCpuMsPerRequest?.toFixed(2)} ms` +
          ` | ratio ${result.ratio?.toFixed(2)}` +
          (mn
            ? ` | minimal ${mn.rps.toFixed(0)} req/s p99 ${mn.p99.toFixed(2)} ms cpu ${mn.cpuMsPerRequest?.toFixed(2)}/${mn.dbCpuMsPerRequest?.toFixed(2)} ms` +
              ` | vs minimal ${result.minimalRatio?.toFixed(2)} / p99 ${result.minimalP99Ratio?.toFixed(2)}`
            : '') +
          ` | pgbench ${pgb?.tps.toFixed(0) ?? '-'} tps` +
          (p.failed || b?.failed ? ` | FAILED ${p.failed}/${b?.failed}` : ''),
      );
    }

    const curveConfig = {
      ...config,
      rounds: config.curveRounds,
      durationSec: config.curveDurationSec,
      warmupSec: Math.min(config.warmupSec, 1),
    };
    // The flat-with-size requests are compared with each other, so their rounds are interleaved (round r
    // runs every request once, in an order rotated by r): outside load then falls on all of them alike,
    // and each pair's ratio is the median of its per-round ratios.
    const flatGroup = flatRun.filter((s) => !s.id.startsWith('curve-'));
    if (flatGroup.length > 0) {
      log(`flat with size: ${flatGroup.length} requests, ${config.flatRounds} interleaved rounds...`);
      const rounds = await measureInterleaved(
        { ...curveConfig, rounds: config.flatRounds, durationSec: config.flatDurationSec },
        flatGroup,
        parley,
        config.connections,
      );
      for (const s of flatGroup) {
        const stats = summarize(rounds[s.id]);
        flatPoints.push({
          id: s.id,
          title: s.title,
          depth: depthOf(s.id),
          stats,
          roundRps: rounds[s.id].map((r) => r.rps),
        });
        log(
          `  ${s.id}: ${stats.rps.toFixed(0)} req/s p50 ${stats.p50.toFixed(2)} p99 ${stats.p99.toFixed(2)} ms${stats.failed ? ` FAILED ${stats.failed}` : ''}`,
        );
      }
    }
    for (const s of flatRun.filter((x) => x.id.startsWith('curve-'))) {
      log(`curve ${s.id}...`);
      const m = await measure(curveConfig, s, { parley, bare: null }, config.connections);
      const stats = summarize(m.parley);
      const point: CurvePoint = { id: s.id, title: s.title, depth: depthOf(s.id), stats };
      if (s.id.startsWith('curve-cursor-')) cursorCurve.push(point);
      else offsetCurve.push(point);
      log(
        `  ${stats.rps.toFixed(0)} req/s p50 ${stats.p50.toFixed(2)} p99 ${stats.p99.toFixed(2)} ms${stats.failed ? ` FAILED ${stats.failed}` : ''}`,
      );
    }

    if (runMany) {
      log('many users...');
      manyUsers = await measureManyUsers(config, fixtures, { parley, bare });
      const figures: [string, ManyUsersFigures | undefined][] = [
        ['Parley', manyUsers],
        ['bare', manyUsers.bare],
      ];
      for (const [name, r] of figures) {
        if (!r) continue;
        log(
          `  ${name}: 1 connection p99 ${r.one.p99.toFixed(2)} ms at ${r.one.rps.toFixed(0)} req/s; 64 connections ` +
            `p99 ${r.many.p99.toFixed(2)} ms at ${r.rate.toFixed(0)} req/s offered (ratio ${r.p99Ratio.toFixed(2)})`,
        );
      }
    }
    if (runStreamsTest) {
      try {
        replyChunks = await probeReplyChunks(parley.url, fixtures.writePool[fixtures.writePool.length - 1]);
      } catch (error) {
        notes.push(`streams not run: ${(error as Error).message}`);
      }
    }
  } finally {
    await parley.stop();
    await bare.stop();
    await minimal?.stop();
  }

  if (runStreamsTest && replyChunks > 0) {
    log(`streams: ${config.streams} concurrent SSE chats of ${config.streamSeconds} s...`);
    streams = await runStreams(
      config,
      fixtures,
      replyChunks,
      (extra) => startParley(config, logDir, 'parley-streams', { ...extra, ...UNLIMITED }),
      log,
    );
    log(
      `  ${streams.completed}/${streams.streams} completed, ${streams.failed} failed, ${streams.messagesPersisted} messages ` +
        `persisted; RSS idle ${streams.rssIdleMb.toFixed(0)} MB, peak ${streams.rssMaxMb.toFixed(0)} MB, after ` +
        `${streams.rssAfterMb.toFixed(0)} MB${streams.errors.length ? `; errors: ${streams.errors.join(' | ')}` : ''}`,
    );
  }

  machineInfo.loadAverageAtEnd = loadavg();
  const finished = new Date();
  const report: RunReport = {
    runId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    wallSeconds: (finished.getTime() - started.getTime()) / 1000,
    command: `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineInfo,
    settings: { ...config, adminUrl: undefined, freeMemoryGiB: freemem() / 1024 ** 3 },
    dataset: dataset as unknown as Record<string, unknown>,
    parleyIdleRssMb,
    scenarios,
    flat: flatPoints,
    offsetCurve,
    cursorCurve,
    manyUsers,
    streams,
    targets: [],
    notes,
  };
  report.targets = evaluateTargets(report);
  const resultsDir = join(config.root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonFile = join(resultsDir, `${runId}.json`);
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  const table = markdown(report);
  console.log(`\n${table}`);
  log(`results: ${jsonFile}`);
  if (flags.docs && !flags.only) {
    await writeIntoDocs(join(config.root, 'docs', 'performance.md'), table);
    log('docs/performance.md updated');
  }
}

/**
 * The `scale` group: Parley with DATABASE_URL through a PgBouncer of the run's own (transaction pooling, a
 * pool of config.poolMax server connections, DATABASE_DIRECT_URL for the migrator) beside Parley connected
 * directly, on the same scenarios, measured in alternating rounds like Parley and the ceiling. Prints a
 * markdown table (docs/scaling.md). Reads on a replica are not measured here: the bench database lives on a
 * server this harness cannot make a streaming replica of (docs/scaling.md says what was measured instead).
 */
async function measureThroughPgBouncer(
  config: BenchConfig,
  logDir: string,
  core: Scenario[],
  notes: string[],
): Promise<void> {
  const ids = ['list-10', 'messages-first', 'rename', 'chat-json'];
  const scenarios = core.filter((s) => ids.includes(s.id));
  const bouncer = await startPgBouncer(config.databaseUrl, config.poolMax);
  const direct = await startParley(config, logDir, 'parley-direct');
  const pooled = await startParley(config, logDir, 'parley-pgbouncer', {
    DATABASE_URL: bouncer.urlFor(config.databaseUrl),
    DATABASE_DIRECT_URL: config.databaseUrl,
  });
  const rows: string[] = [
    '| Scenario | direct req/s | through PgBouncer req/s | ratio | p99 direct / PgBouncer (ms) | failed (direct / PgBouncer) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  try {
    for (const s of scenarios) {
      log(`scale: ${s.id} through PgBouncer vs direct...`);
      // measure() alternates its two targets; here "bare" is Parley connected directly.
      const m = await measure(config, s, { parley: pooled, bare: direct }, config.connections);
      const viaBouncer = summarize(m.parley);
      const straight = summarize(m.bare);
      rows.push(
        `| ${s.title} | ${Math.round(straight.rps)} | ${Math.round(viaBouncer.rps)} | ${(viaBouncer.rps / straight.rps).toFixed(2)} | ` +
          `${straight.p99.toFixed(1)} / ${viaBouncer.p99.toFixed(1)} | ${straight.failed} / ${viaBouncer.failed} |`,
      );
    }
  } finally {
    await pooled.stop();
    await direct.stop();
    await bouncer.stop();
  }
  notes.push(
    `Through PgBouncer (transaction pooling, ${config.poolMax} server connections):\n${rows.join('\n')}`,
  );
}

async function describeMachineSafe(config: BenchConfig): Promise<Machine | null> {
  // Load average and busy processes are read before anything of the benchmark runs; the database may not
  // exist yet, so PostgreSQL's version is asked through the admin connection.
  try {
    return await describeMachine({ ...config, databaseUrl: config.adminUrl });
  } catch {
    return null;
  }
}

function medianOf(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function depthOf(id: string): number | null {
  const match = /-(\d+)$/.exec(id);
  return match ? Number(match[1]) : null;
}

/** The flat-with-size pairs and the paging-depth curves (Parley only). */
function flatScenarios(f: Fixtures): Scenario[] {
  const out: Scenario[] = [
    listScenario(
      'flat-list-heavy',
      'list 10 sessions, user whose sessions hold 50,000 messages',
      f.heavyUser,
      10,
    ),
    listScenario(
      'flat-list-light',
      'list 10 sessions, user whose sessions hold 10 messages',
      f.lightUser,
      10,
    ),
    messagesScenario('flat-msg-small-first', 'first page of a 10-message session', f.lightSession, {}),
    messagesScenario('flat-msg-latest', 'latest 50 messages of a 50,000-message session', f.deepSession, {
      latest: true,
    }),
    // The same pages with 10 messages, as many as the 10-message session's page holds: equal payloads.
    messagesScenario('flat-msg-latest-10', 'latest 10 messages of a 50,000-message session', f.deepSession, {
      latest: true,
      limit: 10,
    }),
    messagesScenario('flat-msg-cursor-40k-10', '10 messages 40,000 deep by cursor', f.deepSession, {
      before: f.deepAnchors[40000],
      limit: 10,
    }),
    messagesScenario('flat-msg-cursor-40k', '50 messages 40,000 deep by cursor', f.deepSession, {
      before: f.deepAnchors[40000],
    }),
    messagesScenario(
      'flat-msg-latest-busy-user',
      `latest page of a short session of a user with ${f.powerUserSessions.toLocaleString('en-US')} sessions`,
      f.powerSession,
      { latest: true },
    ),
  ];
  for (const depth of ANCHOR_DEPTHS) {
    out.push(
      messagesScenario(
        `curve-cursor-${depth}`,
        `cursor page ${depth.toLocaleString('en-US')} deep`,
        f.deepSession,
        {
          before: f.deepAnchors[depth],
        },
      ),
    );
  }
  for (const depth of [0, ...ANCHOR_DEPTHS.slice(1)]) {
    out.push(
      messagesScenario(`curve-offset-${depth}`, `offset ${depth.toLocaleString('en-US')}`, f.deepSession, {
        offset: depth,
      }),
    );
  }
  return out;
}

/**
 * Many users: list sessions (limit 10) as one of the 1,000 users per request. First one connection, closed
 * loop; then the same request rate arriving as a Poisson process over 64 connections (open loop, see
 * openloop.ts), so the p99s compare what concurrency across users costs, not queueing (64 connections flat
 * out on 2 cores queue by Little's law: that figure is reported beside it).
 */
async function measureManyUsers(
  config: BenchConfig,
  f: Fixtures,
  targets: { parley: Server; bare: Server },
): Promise<ManyUsersResult> {
  const source = () => {
    let i = 0;
    return () => {
      // A stride that is coprime with 1,000 visits every user before repeating, in a scattered order.
      const user = f.users[(i++ * 7919) % f.users.length];
      return { method: 'GET' as const, path: '/api/v1/sessions?limit=10', headers: { 'x-user-id': user } };
    };
  };
  // One connection in a closed loop and 64 with random arrivals go through the same HTTP client, so the
  // two p99s differ by the arrival pattern only.
  const closed = (server: Server, seconds: number) =>
    runClosedLoopHttp({
      url: server.url,
      connections: 1,
      durationSec: seconds,
      next: source(),
      pid: server.pid,
      database: config.databaseName,
    });
  const open = (server: Server, rate: number, seconds: number, seed: number) =>
    runOpenLoop({
      url: server.url,
      connections: 64,
      rate,
      durationSec: seconds,
      next: source(),
      pid: server.pid,
      database: config.databaseName,
      seed,
    });
  const saturate = (server: Server, seconds: number) => loadOn(config, server, source(), 64, seconds);
  const keys = ['parley', 'bare'] as const;
  if (config.warmupSec > 0) {
    for (const key of keys) {
      await saturate(targets[key], config.warmupSec);
      await open(targets[key], 200, config.warmupSec, 1);
    }
  }
  const one = { parley: [] as LoadStats[], bare: [] as LoadStats[] };
  const many = { parley: [] as LoadStats[], bare: [] as LoadStats[] };
  const saturated: LoadStats[] = [];
  // The two servers take turns round by round (the same seeds), so outside load falls on both alike.
  for (let round = 0; round < config.manyRounds; round++) {
    for (const key of round % 2 === 0 ? keys : [...keys].reverse()) {
      const single = await closed(targets[key], config.curveDurationSec);
      one[key].push(single);
      many[key].push(await open(targets[key], Math.max(1, single.rps), config.curveDurationSec, 42 + round));
      if (key === 'parley') saturated.push(await saturate(targets.parley, config.curveDurationSec));
    }
  }
  const result = (key: 'parley' | 'bare') => {
    const o = summarize(one[key]);
    const m = summarize(many[key]);
    return { one: o, many: m, rate: o.rps, p99Ratio: m.p99 / o.p99 };
  };
  return { ...result('parley'), manySaturated: summarize(saturated), bare: result('bare') };
}

/** Issue 11's targets: reads against the minimal server, every route against the same-SQL ceiling. */
const MINIMAL_THROUGHPUT = 0.85;
const MINIMAL_P99 = 1.3;
const CEILING_THROUGHPUT = 0.85;

function evaluateTargets(report: RunReport): TargetResult[] {
  const out: TargetResult[] = [];
  for (const s of report.scenarios.filter((x) => x.kind === 'read')) {
    const ratio = s.minimalRatio ?? null;
    const p99 = s.minimalP99Ratio ?? null;
    out.push({
      target: `read: ${s.title} — throughput vs minimal`,
      measured: ratio === null ? '–' : ratio.toFixed(2),
      limit: `≥ ${MINIMAL_THROUGHPUT.toFixed(2)}`,
      pass: ratio === null ? null : ratio >= MINIMAL_THROUGHPUT,
    });
    out.push({
      target: `read: ${s.title} — p99 vs minimal`,
      measured: p99 === null ? '–' : p99.toFixed(2),
      limit: `≤ ${MINIMAL_P99.toFixed(2)}`,
      pass: p99 === null ? null : p99 <= MINIMAL_P99,
    });
  }
  for (const s of report.scenarios.filter((x) => x.bare !== null)) {
    out.push({
      target: `${s.title} — throughput vs same-SQL ceiling`,
      measured: s.ratio === null ? '–' : s.ratio.toFixed(2),
      limit: `≥ ${CEILING_THROUGHPUT.toFixed(2)}`,
      pass: s.ratio === null ? null : s.ratio >= CEILING_THROUGHPUT,
    });
  }
  const flat = (id: string) => report.flat.find((p) => p.id === id);
  // Cost is 1 / throughput at the same concurrency: the median of the per-round ratios when the two were
  // measured in interleaved rounds, else the ratio of the medians.
  const cost = (small?: CurvePoint, big?: CurvePoint) => {
    if (!small || !big) return null;
    const a = small.roundRps;
    const b = big.roundRps;
    if (a && b && a.length === b.length && a.length > 0) return medianOf(a.map((rps, i) => rps / b[i]));
    return small.stats.rps / big.stats.rps;
  };
  const pairs: [string, string, string, number][] = [
    [
      'list 10 sessions: 50,000-message sessions vs 10-message sessions',
      'flat-list-light',
      'flat-list-heavy',
      1.2,
    ],
    [
      'latest 50 of 50,000 vs first page of a 10-message session',
      'flat-msg-small-first',
      'flat-msg-latest',
      1.5,
    ],
    [
      'cursor page 40,000 deep vs first page of a 10-message session',
      'flat-msg-small-first',
      'flat-msg-cursor-40k',
      1.5,
    ],
    // Supplementary: the same pages cut to the 10 messages the small session's page holds.
    [
      'latest 10 of 50,000 vs first page of a 10-message session (equal payloads)',
      'flat-msg-small-first',
      'flat-msg-latest-10',
      1.5,
    ],
    [
      '10 messages 40,000 deep by cursor vs first page of a 10-message session (equal payloads)',
      'flat-msg-small-first',
      'flat-msg-cursor-40k-10',
      1.5,
    ],
  ];
  for (const [label, small, big, limit] of pairs) {
    const r = cost(flat(small), flat(big));
    if (r === null) continue;
    out.push({
      target: `flat: ${label} (cost ratio)`,
      measured: r.toFixed(2),
      limit: `≤ ${limit.toFixed(2)}`,
      pass: r <= limit,
    });
  }
  if (report.manyUsers) {
    const r = report.manyUsers.p99Ratio;
    out.push({
      target: 'many users: p99 at 64 connections over 1,000 users vs 1 connection',
      measured: r.toFixed(2),
      limit: '< 3',
      pass: r < 3,
    });
  }
  if (report.streams) {
    const st = report.streams;
    out.push({
      target: `streams: ${st.streams} concurrent SSE chats complete without error`,
      measured: `${st.completed} completed, ${st.failed} failed, ${st.messagesPersisted} messages persisted`,
      limit: `${st.streams} completed, ${2 * st.streams} persisted`,
      pass: st.completed === st.streams && st.failed === 0 && st.messagesPersisted === 2 * st.streams,
    });
    out.push({
      target: 'streams: Parley RSS peak',
      measured: `${st.rssMaxMb.toFixed(0)} MB`,
      limit: '< 400 MB',
      pass: st.rssMaxMb < 400,
    });
    out.push({
      target: 'streams: RSS back near idle afterwards',
      measured: `${st.rssAfterMb.toFixed(0)} MB vs ${st.rssIdleMb.toFixed(0)} MB idle`,
      limit: 'within 10%',
      pass: st.rssAfterMb <= st.rssIdleMb * 1.1,
    });
  }
  return out;
}

process.once('SIGINT', () => {
  killRunning();
  process.exit(130);
});

main().catch((error: unknown) => {
  console.error(`[bench] failed: ${(error as Error).stack ?? String(error)}`);
  killRunning();
  process.exit(1);
});
