// `npm run db:migrate`: applies pending migrations to DATABASE_DIRECT_URL, else DATABASE_URL (or the embedded
// database), and exits. It holds an advisory lock across transactions: a session a transaction pooler would
// not keep, hence the direct connection.
import { PGlite } from '@electric-sql/pglite';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { migrate } from './migrator.js';
import { pgExecutor, pgliteExecutor } from './sql-executor.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const url = config.DATABASE_DIRECT_URL ?? config.DATABASE_URL;
  if (url) {
    const client = new pg.Client({ connectionString: url, application_name: 'parley-migrate' });
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

function report(result: { applied: string[]; alreadyApplied: number; newer: string[] }): void {
  if (result.newer.length > 0) console.log(`Applied by a later release: ${result.newer.join(', ')}`);
  if (result.applied.length === 0) console.log(`Up to date (${result.alreadyApplied} migrations applied).`);
  for (const name of result.applied) console.log(`Applied ${name}`);
}

main().catch((error: unknown) => {
  console.error(
    error instanceof ConfigError ? error.message : `Migration failed: ${(error as Error).message}`,
  );
  process.exit(1);
});
