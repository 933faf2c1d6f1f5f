import 'reflect-metadata';
import { createApp, bootLogger } from './app.factory.js';
import { ConfigError, loadConfig } from './config/app-config.js';

async function main(): Promise<void> {
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
  await app.listen({ port: config.PORT, host: config.HOST });
  const url = await app.getUrl();
  bootLogger.log(`Parley listening on ${url}${config.SWAGGER_ENABLED ? ` (Swagger UI at ${url}/docs)` : ''}`);
}

main().catch((error: unknown) => {
  console.error(`Parley failed to start: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
