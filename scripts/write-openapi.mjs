// Writes the running app's OpenAPI document to openapi.json at the repository root (`npm run openapi`, which
// builds first). The app is created but never started: no port, no database connection. With --check it
// writes nothing and exits 1 when openapi.json is out of date.
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const target = `${root}openapi.json`;
const check = process.argv.includes('--check');

const { createApp } = await import(`${root}dist/src/app.factory.js`);
const { loadConfig } = await import(`${root}dist/src/config/app-config.js`);
const { buildOpenApiDocument, serializeOpenApiDocument } = await import(`${root}dist/src/openapi.js`);

// The defaults (what the tests use), not this shell's environment: the contract must not depend on it.
const app = await createApp(
  loadConfig({ LOG_LEVEL: 'error', SWAGGER_ENABLED: 'false', PGLITE_DATA_DIR: 'memory://' }),
);
const text = serializeOpenApiDocument(await buildOpenApiDocument(app));
await app.close();

let current = '';
try {
  current = readFileSync(target, 'utf8');
} catch {
  // no file yet
}
if (check) {
  if (current !== text) {
    console.error('openapi.json is out of date: run `npm run openapi`');
    process.exit(1);
  }
  console.log('openapi.json is up to date');
} else if (current === text) {
  console.log('openapi.json is up to date');
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
