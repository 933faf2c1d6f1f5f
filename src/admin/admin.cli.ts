// `npm run admin -- grant <user id | email>` / `revoke <user id | email>`: sets a user's role on DATABASE_URL
// (or the embedded database) through the migrating role. The way to the first administrator.
import { PGlite } from '@electric-sql/pglite';
import { resolve } from 'node:path';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { pgExecutor, pgliteExecutor, type SqlExecutor } from '../database/sql-executor.js';
import { setRoleByOperator } from './admin-grant.js';

const USAGE = 'usage: npm run admin -- grant|revoke <user id | email>';

async function main(): Promise<number> {
  const [command, who] = process.argv.slice(2);
  if (!['grant', 'revoke'].includes(command ?? '') || !who) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  const run = async (sql: SqlExecutor) => {
    const outcome = await setRoleByOperator(sql, who, command === 'grant' ? 'admin' : 'user');
    if (!outcome.ok) {
      console.error(outcome.reason);
      return 1;
    }
    const role = command === 'grant' ? 'an admin' : 'a plain user';
    console.log(`${outcome.userId} ${outcome.changed ? 'is now' : 'was already'} ${role}`);
    return 0;
  };
  if (config.DATABASE_URL) {
    const client = new pg.Client({ connectionString: config.DATABASE_URL });
    await client.connect();
    try {
      return await run(pgExecutor(client));
    } finally {
      await client.end();
    }
  }
  const db = await PGlite.create(resolve(config.PGLITE_DATA_DIR));
  try {
    return await run(pgliteExecutor(db));
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : `Failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
