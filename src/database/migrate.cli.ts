// `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits.
import { PGlite } from '@electric-sql/pglite';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { migrate } from './migrator.js';
import { pgExecutor, pgliteExecutor } from './sql-executor.js';

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.DATABASE_URL) {
    const client = new pg.Client({ connectionString: config.DATABASE_URL });
    await client.connect();
    try {
      report(await migrate(pgExecutor(client)));
    } finally {
      await client.end();
    }
  } else {
    const dir = resolve(config.PGLITE_DATA_DIR);
    await mkdir(dir, { recursive: true });
    const db = await PGlite.create(dir);
    try {
      report(await migrate(pgliteExecutor(db)));
    } finally {
      await db.close();
    }
  }
}

function report(result: { applied: string[]; alreadyApplied: number }): void {
  if (result.applied.length === 0) console.log(`Up to date (${result.alreadyApplied} migrations applied).`);
  for (const name of result.applied) console.log(`Applied ${name}`);
}

main().catch((error: unknown) => {
  console.error(
    error instanceof ConfigError ? error.message : `Migration failed: ${(error as Error).message}`,
  );
  process.exit(1);
});
