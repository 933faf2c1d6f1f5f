// The `npm run migrate:legacy` command (entry point: import.cli.ts): options, the database connection, the
// owners file, progress, the summary and the exit status. The work itself is LegacyImporter's.
// A maintenance tool, separate from request traffic: it connects on its own, as the role in DATABASE_URL
// (which must bypass row-level security), or opens the embedded database directory. See docs/legacy-import.md.
import { PGlite } from '@electric-sql/pglite';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { pgExecutor, pgliteExecutor } from '../database/sql-executor.js';
import { LegacyImportRepository } from './legacy-import.repository.js';
import {
  ImportPreconditionError,
  importExitCode,
  LegacyImporter,
  verifyExitCode,
} from './legacy-import.runner.js';
import {
  DEFAULT_BATCH_TURNS,
  type ImportConnection,
  type LegacyImportOptions,
} from './legacy-import.types.js';
import { parseOwnersCsv, resolveOwners } from './owners-file.js';
import { createProgressDisplay, type ProgressStream } from './progress.js';
import { formatImportSummary, formatVerifySummary } from './summary.js';

/** Exit codes: 0 done, 1 something importable was not imported (or --verify found a mismatch), 2 cannot start. */
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

interface CliOptions {
  dryRun?: boolean;
  batchSize: number;
  owners?: string;
  project?: string;
  verify?: boolean;
  jobs: number;
  json?: boolean;
  progressInterval: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('must be a whole number of at least 1');
  }
  return n;
}

function uuid(value: string): string {
  if (!UUID.test(value)) throw new InvalidArgumentError('must be a dossier id (UUID)');
  return value.toLowerCase();
}

export function buildProgram(): Command {
  return new Command()
    .name('npm run migrate:legacy --')
    .description(
      'Imports legacy dossiers and turns into users, project memberships, sessions and chat messages. ' +
        'Safe to stop at any moment and to run again: it continues where it stopped, and a run with ' +
        'nothing left to do changes nothing.',
    )
    .option('--dry-run', 'report what would be imported, writing nothing (read-only transactions)')
    .option(
      '--batch-size <turns>',
      'turns per transaction (whole dossiers: a larger dossier is a batch of its own)',
      positiveInt,
      DEFAULT_BATCH_TURNS,
    )
    .option(
      '--owners <file.csv>',
      'CSV of "project_id,owner" lines, owner = an existing user id or email; other dossiers get a new user',
    )
    .option('--project <id>', 'import (or verify) this one dossier only', uuid)
    .option(
      '--jobs <n>',
      'batches imported at the same time, each on its own connection (PostgreSQL; the embedded database uses 1)',
      positiveInt,
      2,
    )
    .option(
      '--verify',
      'check the imported data against the legacy turns, writing nothing; exit 1 on any mismatch',
    )
    .option('--json', 'print the final summary as JSON on stdout')
    .option(
      '--progress-interval <seconds>',
      'seconds between progress lines when not on a terminal',
      positiveInt,
      10,
    )
    .addHelpText(
      'after',
      `
Database: DATABASE_DIRECT_URL, else DATABASE_URL (a PostgreSQL URL, not a transaction pooler; the role
must own the tables and bypass row-level security), else the embedded database in PGLITE_DATA_DIR (default .parley-data; stop the service first).
Migrations must be applied first (npm run db:migrate, or start the service once).

Exit status: 0 everything importable was imported (or verification passed); 1 some dossier failed, or
verification found a mismatch; 2 the run could not start (bad option, owners file, database); 130 stopped
by Ctrl-C or SIGTERM (after the batch in progress; run again to continue).

Examples:
  npm run migrate:legacy -- --dry-run
  npm run migrate:legacy -- --owners owners.csv
  npm run migrate:legacy -- --verify`,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

/**
 * The command's own connection: one pg.Client (never a pool: the importer keeps session state, an advisory
 * lock and temporary tables, so behind a transaction pooler it uses DATABASE_DIRECT_URL), or PGlite.
 */
export async function openImportConnection(): Promise<ImportConnection> {
  const config = loadConfig();
  const url = config.DATABASE_DIRECT_URL ?? config.DATABASE_URL;
  if (url) {
    const client = new pg.Client({
      connectionString: url,
      application_name: 'parley-legacy-import',
      keepAlive: true,
    });
    client.on('error', (error) => process.stderr.write(`database connection failed: ${error.message}\n`));
    await client.connect();
    return { db: pgExecutor(client), close: () => client.end() };
  }
  const dir = config.PGLITE_DATA_DIR.startsWith('memory://')
    ? config.PGLITE_DATA_DIR
    : resolve(config.PGLITE_DATA_DIR);
  const db = await PGlite.create(dir);
  return { db: pgliteExecutor(db), close: () => db.close() };
}

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  /** Opens a connection; tests hand in their own (each is closed by the command). */
  openDatabase: () => Promise<ImportConnection>;
}

/** Runs the command with `argv` (process.argv shape) and returns the exit status. */
export async function runLegacyImportCommand(argv: string[], io: Partial<CommandIo> = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const program = buildProgram().configureOutput({
    writeOut: (text) => stdout.write(text),
    writeErr: (text) => stderr.write(text),
  });
  try {
    program.parse(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    throw error;
  }
  const options = program.opts<CliOptions>();

  const open = io.openDatabase ?? openImportConnection;
  let database: ImportConnection;
  try {
    database = await open();
  } catch (error) {
    const reason = error instanceof ConfigError ? error.message : (error as Error).message;
    stderr.write(`Cannot open the database: ${reason}\n`);
    return EXIT_USAGE;
  }

  let stopRequested = false;
  const onSignal = (signal: string) => {
    if (stopRequested) {
      stderr.write(`\n${signal} again: stopping now; the batch in progress is rolled back.\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    stopRequested = true;
    stderr.write(`\n${signal}: stopping after the batch in progress (press Ctrl-C again to stop at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const progress = createProgressDisplay(stderr, { intervalMs: options.progressInterval * 1000 });
  try {
    const importOptions: LegacyImportOptions = {
      dryRun: options.dryRun,
      batchSize: options.batchSize,
      projectId: options.project,
      jobs: options.jobs,
      openConnection: open,
      onProgress: (p) => progress.update(p),
      shouldStop: () => stopRequested,
    };
    const repo = new LegacyImportRepository(database.db);
    const problem = await repo.prerequisiteProblem();
    if (problem) throw new ImportPreconditionError(problem);
    if (options.owners) {
      const resolved = await resolveOwners(repo, parseOwnersCsv(await readFile(options.owners, 'utf8')));
      for (const warning of resolved.warnings) stderr.write(`owners file: ${warning}\n`);
      if (resolved.problems.length > 0) {
        stderr.write(`The owners file ${options.owners} has problems; nothing was imported:\n`);
        for (const problem of resolved.problems) stderr.write(`  ${problem}\n`);
        return EXIT_USAGE;
      }
      importOptions.owners = resolved.owners;
    }
    if (options.project) {
      const [row] = await database.db.query<{ found: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM dossier WHERE project_id = $1::uuid) AS found',
        [options.project],
      );
      if (!row.found) {
        stderr.write(`There is no dossier ${options.project}.\n`);
        return EXIT_USAGE;
      }
    }

    const importer = new LegacyImporter(database.db, importOptions);
    if (options.verify) {
      const result = await importer.verify();
      progress.stop();
      stdout.write(`${options.json ? JSON.stringify(result, null, 2) : formatVerifySummary(result)}\n`);
      return verifyExitCode(result);
    }
    const summary = await importer.run();
    progress.stop();
    stdout.write(`${options.json ? JSON.stringify(summary, null, 2) : formatImportSummary(summary)}\n`);
    return importExitCode(summary);
  } catch (error) {
    progress.stop();
    if (error instanceof ImportPreconditionError) {
      stderr.write(`Cannot start: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && options.owners) {
      stderr.write(`Cannot read the owners file ${options.owners}\n`);
      return EXIT_USAGE;
    }
    stderr.write(
      `Legacy import stopped: ${(error as Error).message}\n` +
        'Every batch committed before this stays imported; run the command again to continue.\n',
    );
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await database.close().catch(() => undefined);
  }
}
