import { PGlite } from '@electric-sql/pglite';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createApp } from '../../src/app.factory.js';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { DatabaseService } from '../../src/database/database.service.js';
import { pgExecutor, pgliteExecutor, type SqlExecutor } from '../../src/database/sql-executor.js';

/** The server tests run against: TEST_DATABASE_URL, else DATABASE_URL, else the embedded database. */
export const SERVER_URL = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;
export const DATABASE_KIND: 'postgres' | 'pglite' = SERVER_URL ? 'postgres' : 'pglite';

export interface TestDatabase {
  /** Environment that points Parley at this database. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * A database of the test's own: on a server, a new database created for it and dropped afterwards, so runs
 * never collide; embedded, an in-memory PGlite.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!SERVER_URL) return { env: { PGLITE_DATA_DIR: 'memory://' }, drop: async () => undefined };
  const name = `parley_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    drop: async () => {
      const client = new pg.Client({ connectionString: SERVER_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  database: DatabaseService;
  /** MAINTENANCE executor (bypasses RLS): for arranging data and checking invariants. */
  sql: SqlExecutor;
  close(): Promise<void>;
}

/** The whole application on a fresh database, migrated, ready for `app.inject()` (or `listen(0)`). */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({
    LOG_LEVEL: 'error',
    NODE_ENV: 'test',
    SWAGGER_ENABLED: 'true',
    ...database.env,
    ...env,
  });
  const app = await createApp(config);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const db = app.get(DatabaseService);
  return {
    app,
    config,
    database: db,
    sql: db.maintenance(),
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}

/** A fresh, empty database (no migrations) with a maintenance executor: for migration and upgrade tests. */
export async function openEmptyDatabase(): Promise<{ sql: SqlExecutor; close(): Promise<void> }> {
  const database = await createTestDatabase();
  if (database.env.DATABASE_URL) {
    const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
    await client.connect();
    return {
      sql: pgExecutor(client),
      close: async () => {
        await client.end();
        await database.drop();
      },
    };
  }
  const db = await PGlite.create('memory://');
  return { sql: pgliteExecutor(db), close: () => db.close() };
}
