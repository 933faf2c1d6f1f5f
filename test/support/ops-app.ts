import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app.factory.js';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { DatabaseService } from '../../src/database/database.service.js';
import type { SqlExecutor } from '../../src/database/sql-executor.js';
import { createTestDatabase, type TestDatabase } from './test-app.js';

/** Log lines an app wrote, parsed. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
}

export interface OpsTestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  sql: SqlExecutor;
  logs: LogCapture;
  close(): Promise<void>;
}

/**
 * Like createTestApp, for the operations tests: the log lines are captured, and the database can be given
 * (`database`, e.g. reached through a proxy the test controls) or made fresh.
 */
export async function createOpsTestApp(
  env: Record<string, string> = {},
  database?: TestDatabase,
): Promise<OpsTestApp> {
  const db = database ?? (await createTestDatabase());
  const config = loadConfig({
    LOG_LEVEL: 'error',
    NODE_ENV: 'test',
    SWAGGER_ENABLED: 'false',
    ...db.env,
    ...env,
  });
  const logs = new LogCapture();
  const app = await createApp(config, { logDestination: logs });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    config,
    logs,
    sql: app.get(DatabaseService).maintenance(),
    close: async () => {
      await app.close();
      if (!database) await db.drop();
    },
  };
}
