import 'reflect-metadata';
import { createApp, bootLogger } from './app.factory.js';
import { ShutdownService } from './common/shutdown.service.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import type { Logger } from 'pino';

/** Boots Parley: config, the app, graceful shutdown, listening. Entered through main.ts. */
export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const app = await createApp(config);
  const log = app.getHttpAdapter().getInstance().log as unknown as Logger;
  const exit = (code: number) => {
    log.flush();
    process.exit(code);
  };

  // Graceful shutdown (see ShutdownService): stop accepting, end and save open streams, let in-flight
  // requests finish, close the pool, exit 0; exit 1 if that takes longer than SHUTDOWN_GRACE_MS.
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    bootLogger.log(`${signal} received: shutting down (grace period ${config.SHUTDOWN_GRACE_MS} ms)`);
    setTimeout(() => {
      bootLogger.error(`Shutdown did not finish within ${config.SHUTDOWN_GRACE_MS} ms; exiting`);
      exit(1);
    }, config.SHUTDOWN_GRACE_MS).unref();
    app.get(ShutdownService).begin();
    try {
      await app.close();
      bootLogger.log('Stopped');
      exit(0);
    } catch (error) {
      bootLogger.error(`Shutdown failed: ${(error as Error).stack ?? String(error)}`);
      exit(1);
    }
  };
  process.once('SIGTERM', (signal) => void stop(signal));
  process.once('SIGINT', (signal) => void stop(signal));

  await app.listen({ port: config.PORT, host: config.HOST });
  const url = await app.getUrl();
  bootLogger.log(`Parley listening on ${url}${config.SWAGGER_ENABLED ? ` (Swagger UI at ${url}/docs)` : ''}`);
}
