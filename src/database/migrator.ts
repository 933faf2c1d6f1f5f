import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlExecutor } from './sql-executor.js';

/** Where the migrations live: prisma/migrations at the repository root, from src/ or from dist/src/. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url)).replace(
  /\/dist\/prisma\/migrations$/,
  '/prisma/migrations',
);

/** Prisma Migrate's own advisory lock key, so this runner and `prisma migrate deploy` never run together. */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;

export interface MigrationFile {
  name: string;
  checksum: string;
  sql: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
  /** Applied migrations of a later release than this one (expand/contract: this release still runs). */
  newer: string[];
}

export class MigrationError extends Error {}

/** The table Prisma Migrate keeps its history in, with Prisma's own column definitions. */
const CREATE_HISTORY_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum"              VARCHAR(64) NOT NULL,
  "finished_at"           TIMESTAMPTZ,
  "migration_name"        VARCHAR(255) NOT NULL,
  "logs"                  TEXT,
  "rolled_back_at"        TIMESTAMPTZ,
  "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

interface HistoryRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
}

/**
 * Applies pending migrations in name order, each in its own transaction, under Prisma's advisory lock, and
 * records them in _prisma_migrations exactly as Prisma Migrate does (so `prisma migrate status` agrees).
 * Refuses to go on when an applied migration's file has changed or an earlier attempt failed half-way.
 */
export async function migrate(db: SqlExecutor, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = await readMigrations(dir);
  await db.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
  try {
    await db.exec(CREATE_HISTORY_TABLE);
    const history = await db.query<HistoryRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    const applied = new Map<string, HistoryRow>();
    for (const row of history) {
      if (row.rolled_back_at) continue;
      if (!row.finished_at) {
        throw new MigrationError(
          `Migration ${row.migration_name} failed earlier and was not rolled back; resolve it before starting Parley`,
        );
      }
      applied.set(row.migration_name, row);
    }
    const newest = files.at(-1)?.name ?? '';
    const newer: string[] = [];
    for (const [name, row] of applied) {
      const file = files.find((f) => f.name === name);
      // A migration newer than all of this release's is a later release's (expand/contract: this release
      // keeps working on the expanded schema, e.g. an instance restarted during a rolling upgrade or a
      // rollback). One older than that was removed or renamed since it was applied: refuse.
      if (!file && name > newest) {
        newer.push(name);
        continue;
      }
      if (!file) {
        throw new MigrationError(`Migration ${name} is applied to the database but missing from ${dir}`);
      }
      if (file.checksum !== row.checksum) {
        throw new MigrationError(`Migration ${name} was modified after it was applied (checksum mismatch)`);
      }
    }
    const pending = files.filter((f) => !applied.has(f.name));
    for (const file of pending) {
      const id = randomUUID();
      await db.exec('BEGIN');
      try {
        await db.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), 0)`,
          [id, file.checksum, file.name],
        );
        await db.exec(file.sql);
        await db.query(
          `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
          [id],
        );
        await db.exec('COMMIT');
      } catch (error) {
        await db.exec('ROLLBACK');
        throw new MigrationError(`Migration ${file.name} failed: ${(error as Error).message}`);
      }
    }
    return { applied: pending.map((f) => f.name), alreadyApplied: applied.size - newer.length, newer };
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
  }
}

/** Applied, pending and changed migrations, without writing anything (the readiness check uses it). */
export async function migrationStatus(
  db: SqlExecutor,
  dir = MIGRATIONS_DIR,
): Promise<{ pending: string[]; upToDate: boolean }> {
  const files = await readMigrations(dir);
  const exists = await db.query<{ present: boolean }>(
    `SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`,
  );
  if (!exists[0]?.present) return { pending: files.map((f) => f.name), upToDate: false };
  const rows = await db.query<HistoryRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"',
  );
  const done = new Set(
    rows
      .filter(
        (r) =>
          r.finished_at &&
          !r.rolled_back_at &&
          files.some((f) => f.name === r.migration_name && f.checksum === r.checksum),
      )
      .map((r) => r.migration_name),
  );
  const pending = files.filter((f) => !done.has(f.name)).map((f) => f.name);
  return { pending, upToDate: pending.length === 0 };
}
