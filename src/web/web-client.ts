import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../config/app-config.js';

/** Where `npm run build:web` writes the client: web/dist at the repository root, from src/ or from dist/src/. */
export const WEB_DIST_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url)).replace(
  /\/dist\/web\/dist$/,
  '/web/dist',
);

/** Vite names every file under assets/ by its content hash: such a file never changes, so caches keep it. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html (and anything else unhashed) is checked again on every load, so a new build is seen at once. */
const REVALIDATE = 'no-cache';

/**
 * What the client needs to know before its first API call, served at /web-config.json: which sign-in screens
 * to show. `header_users` is the development "pick or create a user" screen: header mode on, not production.
 */
export interface WebClientSettings {
  header_users: boolean;
  bearer: boolean;
  /** Which optional screens this server's routes support (features other issues add, or turn off). */
  features: Record<WebFeature, boolean>;
}

/** A screen of the client and the route whose presence enables it. */
const FEATURE_ROUTES = {
  accounts: ['POST', '/api/v1/auth/login'],
  search: ['GET', '/api/v1/search'],
  export: ['GET', '/api/v1/users/me/export'],
  branches: ['PUT', '/api/v1/sessions/:session_id/current-leaf'],
  stop: ['POST', '/api/v1/sessions/:session_id/stop'],
  resume: ['GET', '/api/v1/chat/:session_id/stream'],
} as const;
export type WebFeature = keyof typeof FEATURE_ROUTES;

export function webClientSettings(config: AppConfig, fastify?: FastifyInstance): WebClientSettings {
  const features = Object.fromEntries(
    Object.entries(FEATURE_ROUTES).map(([name, [method, url]]) => [
      name,
      fastify ? fastify.hasRoute({ method, url }) : false,
    ]),
  ) as Record<WebFeature, boolean>;
  return {
    header_users: config.AUTH_HEADER_ENABLED && config.NODE_ENV !== 'production',
    bearer: Boolean(config.JWT_SECRET || config.JWKS_URL),
    features,
  };
}

/**
 * Serves the web client (web/dist) at `/` when WEB_ENABLED: index.html at `/`, hashed assets under /assets/
 * cached for a year, and /web-config.json. The routes are plain Fastify routes beside Nest's, so the API,
 * /docs and the health routes are untouched; the client routes by the URL's hash, so nothing needs a
 * fallback to index.html. A checkout whose client was not built answers `/` with 503 naming the command.
 */
export async function installWebClient(
  fastify: FastifyInstance,
  config: AppConfig,
  dir: string = WEB_DIST_DIR,
): Promise<void> {
  if (!config.WEB_ENABLED) return;
  // Computed at the first request, once every module's routes are registered.
  let settings: WebClientSettings | undefined;
  fastify.get('/web-config.json', { logLevel: 'warn' }, async (_request, reply) => {
    void reply.header('cache-control', REVALIDATE);
    settings ??= webClientSettings(config, fastify);
    return settings;
  });
  if (!existsSync(join(dir, 'index.html'))) {
    fastify.get('/', async (_request, reply) => {
      void reply.code(503).header('content-type', 'text/plain; charset=utf-8');
      return 'The web client is not built: run `npm run build:web` (npm start does it), or set WEB_ENABLED=false.\n';
    });
    return;
  }
  await fastify.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    // One route per built file, listed at start: no catch-all that could shadow an API 404.
    wildcard: false,
    index: 'index.html',
    cacheControl: false,
    etag: true,
    lastModified: true,
    setHeaders: (reply, path) => {
      void reply.header('cache-control', path.includes('/assets/') ? IMMUTABLE : REVALIDATE);
    },
  });
}
