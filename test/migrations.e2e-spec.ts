import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  migrate,
  MigrationError,
  MIGRATIONS_DIR,
  migrationStatus,
  readMigrations,
} from '../src/database/migrator.js';
import pg from 'pg';
import { pgExecutor } from '../src/database/sql-executor.js';
import {
  createTestApp,
  createTestDatabase,
  DATABASE_KIND,
  SERVER_URL,
  type TestApp,
} from './support/test-app.js';

describe(`migrations (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('records every applied migration in _prisma_migrations as Prisma does, with the sha256 of its file', async () => {
    const files = await readMigrations();
    const rows = await t.sql.query<{
      migration_name: string;
      checksum: string;
      finished_at: unknown;
      applied_steps_count: number;
    }>(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(files.map((f) => f.name));
    for (const row of rows) {
      const sql = await readFile(join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).not.toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    expect(await migrationStatus(t.sql)).toEqual({ pending: [], upToDate: true });
  });

  it('running again applies nothing', async () => {
    const result = await migrate(t.sql);
    expect(result.applied).toEqual([]);
  });

  // PGlite has one connection per database, so a second runner cannot exist there: the race needs a server.
  (SERVER_URL ? it : it.skip)(
    `two runners on an empty database do not race (advisory lock)${SERVER_URL ? '' : ' [skipped: needs a PostgreSQL server for two connections; PGlite has one]'}`,
    async () => {
      const database = await createTestDatabase();
      const clients = [1, 2].map(() => new pg.Client({ connectionString: database.env.DATABASE_URL }));
      try {
        await Promise.all(clients.map((c) => c.connect()));
        const files = await readMigrations();
        const results = await Promise.all(clients.map((c) => migrate(pgExecutor(c))));
        // One runner applied everything; the other waited for the lock and found nothing pending.
        expect(results.map((r) => r.applied.length).sort((x, y) => x - y)).toEqual([0, files.length]);
        const rows = await clients[0].query<{ migration_name: string }>(
          'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name',
        );
        expect(rows.rows.map((r) => r.migration_name)).toEqual(files.map((f) => f.name));
        expect(await migrationStatus(pgExecutor(clients[1]))).toEqual({ pending: [], upToDate: true });
      } finally {
        await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
        await database.drop();
      }
    },
  );

  it('refuses to go on when an applied migration file was changed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const [first] = await readMigrations(dir);
    await writeFile(join(dir, first.name, 'migration.sql'), `${first.sql}\n-- edited\n`);
    await expect(migrate(t.sql, dir)).rejects.toThrow(MigrationError);
    await expect(migrate(t.sql, dir)).rejects.toThrow(/modified after it was applied/);
  });

  it('applies a new migration in its own transaction and rolls a failing one back completely', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, '29990101000000_broken'));
    await writeFile(
      join(dir, '29990101000000_broken', 'migration.sql'),
      'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n',
    );
    await expect(migrate(t.sql, dir)).rejects.toThrow(/29990101000000_broken failed/);
    const [state] = await t.sql.query<{ table: unknown; recorded: number }>(
      `SELECT to_regclass('half_done') AS table,
              (SELECT count(*)::int FROM _prisma_migrations WHERE migration_name = '29990101000000_broken') AS recorded`,
    );
    expect(state).toEqual({ table: null, recorded: 0 });
  });
});
