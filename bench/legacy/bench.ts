// `npm run bench:legacy -- [options]`: the legacy import benchmark. It creates a database of its own on a
// PostgreSQL server, fills the pre-sessions tables with the generator (default: 100,000 dossiers, 1,000,000
// turns), applies Parley's migrations as an upgrade would, then runs the real command
// (`node dist/src/turns-import/import.cli.js`) as an operator does, verifies the result with `--verify`, runs the
// import a second time (it must change nothing), prints the figures and drops the database.
import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '../../src/database/migrator.js';
import { pgExecutor } from '../../src/database/sql-executor.js';
import type { ImportSummary, VerifySummary } from '../../src/turns-import/legacy-import.types.js';
import { createLegacySchema, generateLegacyDataset, type LegacyDatasetStats } from './generator.js';

const CLI = fileURLToPath(new URL('../../src/turns-import/import.cli.js', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

interface Options {
  url: string;
  dossiers: number;
  turns: number;
  maxTurns: number;
  seed: number;
  batchSize?: number;
  keep?: boolean;
}

interface CliRun<T> {
  code: number;
  ms: number;
  result: T;
  stderr: string;
}

/** The 1-minute load average, sampled every 2 s while `work` runs: the machine is shared, so say how busy. */
async function sampleLoad<T>(
  work: () => Promise<T>,
): Promise<{ result: T; load: { mean: number; max: number } }> {
  const samples: number[] = [loadavg()[0]];
  const timer = setInterval(() => samples.push(loadavg()[0]), 2000);
  try {
    const result = await work();
    return {
      result,
      load: { mean: samples.reduce((a, b) => a + b, 0) / samples.length, max: Math.max(...samples) },
    };
  } finally {
    clearInterval(timer);
  }
}

function runCli<T>(databaseUrl: string, args: string[]): Promise<CliRun<T>> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, '--json', '--progress-interval', '15', ...args], {
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      try {
        resolve({ code: code ?? -1, ms, result: JSON.parse(stdout) as T, stderr });
      } catch {
        reject(new Error(`the import command printed no JSON summary (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const options = new Command()
    .name('npm run bench:legacy --')
    .description(
      'Generates a legacy database, imports it with the real command, verifies, and prints the timing.',
    )
    .option(
      '--url <url>',
      'PostgreSQL server (a database of the bench own is created there)',
      process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
    )
    .option('--dossiers <n>', 'dossiers with turns', positiveInt, 100_000)
    .option('--turns <n>', 'turns in them', positiveInt, 1_000_000)
    .option('--max-turns <n>', 'most turns in one dossier', positiveInt, 5_000)
    .option('--seed <n>', 'generator seed', positiveInt, 1)
    .option('--batch-size <turns>', 'passed to the import command', positiveInt)
    .option('--keep', 'keep the database afterwards (its name is printed)')
    .parse()
    .opts<Options>();

  const name = `parley_legacy_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: options.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(options.url);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const loadBefore = loadavg();
  console.error(`bench: database ${name}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

  try {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    let dataset: LegacyDatasetStats;
    let migrateMs: number;
    try {
      const sql = pgExecutor(client);
      console.error(`bench: generating ${fmt(options.dossiers)} dossiers, ${fmt(options.turns)} turns ...`);
      await createLegacySchema(sql);
      dataset = await generateLegacyDataset(sql, {
        dossiers: options.dossiers,
        turns: options.turns,
        maxTurnsPerDossier: options.maxTurns,
        seed: options.seed,
      });
      console.error(`bench: generated in ${secs(dataset.generateMs)}`);
      console.error('bench: applying migrations (the upgrade) ...');
      const t0 = Date.now();
      await migrate(sql);
      migrateMs = Date.now() - t0;
    } finally {
      await client.end();
    }

    const batchArgs = options.batchSize ? ['--batch-size', String(options.batchSize)] : [];
    console.error('bench: importing ...');
    const { result: first, load: importLoad } = await sampleLoad(() =>
      runCli<ImportSummary>(databaseUrl, batchArgs),
    );
    console.error('bench: verifying ...');
    const verify = await runCli<VerifySummary>(databaseUrl, ['--verify']);
    console.error('bench: importing again (must change nothing) ...');
    const second = await runCli<ImportSummary>(databaseUrl, batchArgs);

    const imported = first.result;
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memoryGb: Math.round(totalmem() / 2 ** 30),
        loadBefore,
        loadDuringImport: importLoad,
      },
      command: `node dist/src/turns-import/import.cli.js --json ${batchArgs.join(' ')}`.trim(),
      dataset,
      migrateMs,
      import: {
        exitCode: first.code,
        wallMs: first.ms,
        turnsPerSecond: imported.turnsLinked / (first.ms / 1000),
        summary: imported,
      },
      verify: { exitCode: verify.code, wallMs: verify.ms, summary: verify.result },
      secondRun: { exitCode: second.code, wallMs: second.ms, summary: second.result },
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = `${RESULTS_DIR}legacy-import-${report.date.replace(/[:.]/g, '-')}.json`;
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);

    const v = verify.result;
    const lines = [
      '',
      `Legacy import benchmark (${cpus().length} cores; 1-minute load average during the import: mean ${importLoad.mean.toFixed(1)}, max ${importLoad.max.toFixed(1)})`,
      `| step | figure |`,
      `| --- | --- |`,
      `| dataset | ${fmt(dataset.dossiers)} dossiers, ${fmt(dataset.turns)} turns (${fmt(dataset.importableTurns)} importable, ${fmt(dataset.orphanTurns)} orphans), largest dossier ${fmt(dataset.largestDossier)} turns, longest text ${fmt(dataset.longestText)} chars |`,
      `| generate | ${secs(dataset.generateMs)} (rows never vacuumed: the import's first step does it) |`,
      `| migrate (upgrade) | ${secs(migrateMs)} |`,
      `| **import** | **${secs(first.ms)}**, ${fmt(report.import.turnsPerSecond)} turns/s, exit ${first.code}: ${fmt(imported.sessionsCreated)} sessions, ${fmt(imported.usersCreated)} users, ${fmt(imported.messagesWritten)} messages, ${fmt(imported.turnsLinked)} turns linked, ${fmt(imported.batches)} batches |`,
      `| verify | ${secs(verify.ms)}, exit ${verify.code}: ${fmt(v.dossiersChecked)} dossiers, ${fmt(v.turnsChecked)} turns, ${fmt(v.messagesChecked)} messages, ${v.mismatches.length} mismatches |`,
      `| second run | ${secs(second.ms)}, exit ${second.code}: ${fmt(second.result.turnsLinked)} turns linked, ${fmt(second.result.sessionsCreated)} sessions created |`,
      '',
      `Results: ${file}`,
    ];
    console.log(lines.join('\n'));
    if (first.code !== 0 || verify.code !== 0 || second.code !== 0 || second.result.turnsLinked !== 0) {
      process.exitCode = 1;
    }
  } finally {
    if (options.keep) {
      console.error(`bench: kept database ${name} (${databaseUrl})`);
    } else {
      const drop = new pg.Client({ connectionString: options.url });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await drop.end();
    }
  }
}

main().catch((error: unknown) => {
  console.error(`bench:legacy failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
