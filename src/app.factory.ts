import helmet from '@fastify/helmet';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module.js';
import { createRootLogger, logRequestCompleted, PinoNestLogger, routeOf } from './common/logging.js';
import { installRequestTimeout, TimeoutAwareFastifyAdapter } from './common/request-timeout.js';
import { installStreamedBodies } from './common/streamed-body.js';
import { createValidationPipe } from './common/validation.js';
import type { AppConfig } from './config/app-config.js';
import { MetricsService } from './metrics/metrics.service.js';
import { setupOpenApi } from './openapi.js';
import { installWebClient } from './web/web-client.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface CreateAppOptions {
  /** Where the JSON log lines go (default: stdout). Tests pass a stream to read them. */
  logDestination?: DestinationStream;
}

/** TRUST_PROXY as Fastify takes it: a boolean, a hop count, or a list of proxy addresses/CIDRs. */
function trustProxy(value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^\d+$/.test(value)) return (_address, hop) => hop < Number(value);
  return value.split(',').map((entry) => entry.trim());
}

/**
 * Helmet's options. The content security policy allows what Swagger UI at /docs needs (its scripts and
 * styles are served from here; it inlines styles and uses data: images) and nothing else; no
 * upgrade-insecure-requests, so the docs also work on plain http://127.0.0.1.
 */
const SECURITY_HEADERS = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      objectSrc: ["'none'"],
      frameAncestors: ["'none'"],
      upgradeInsecureRequests: null,
    },
  },
};

/**
 * The headers @fastify/helmet sets with SECURITY_HEADERS, read once from a throw-away Fastify instance.
 * They are the same on every response, but the plugin rebuilds helmet's middleware (parsing the policy
 * again) for every request, a measurable share of a short request's CPU (docs/performance.md); setting the
 * computed map gives the same headers.
 */
async function securityHeaders(): Promise<Record<string, string>> {
  const probe = Fastify({ logger: false });
  await probe.register(helmet, SECURITY_HEADERS);
  probe.get('/', async () => '');
  const response = await probe.inject({ method: 'GET', url: '/' });
  await probe.close();
  const own = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive']);
  return Object.fromEntries(
    Object.entries(response.headers)
      .filter(([name, value]) => !own.has(name) && value !== undefined)
      .map(([name, value]) => [name, String(value)]),
  );
}

/** Builds the whole application (not listening yet): used by main.ts, the tests and the benchmarks. */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const logger = createRootLogger(config, options.logDestination);
  const adapter = new TimeoutAwareFastifyAdapter({
    loggerInstance: logger,
    // One access line per request is written by logRequestCompleted (onResponse below), not by Fastify.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    bodyLimit: config.BODY_LIMIT_BYTES,
    // On shutdown, close keep-alive connections that are idle at once (Node's server.close() would wait for
    // them); connections with a request in flight are left to finish within the grace period.
    forceCloseConnections: 'idle',
    // Honour a caller's X-Request-ID when it is sane, so logs can be joined across services.
    genReqId: (req: IncomingMessage) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // Behind a load balancer, TRUST_PROXY lets request.ip (rate limits of anonymous callers, logs) be the
    // client's address from X-Forwarded-For rather than the balancer's.
    trustProxy: trustProxy(config.TRUST_PROXY),
    // The router rejects a malformed percent-escape in the path, or a path parameter longer than Fastify's
    // maxParamLength, before any hook or exception filter runs; answer those in the one error shape too
    // (400, like any malformed id), with the request id.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const known: Record<string, string> = {
        FST_ERR_BAD_URL: 'The URL is malformed: invalid percent-encoding in the path',
        FST_ERR_MAX_PARAM_LENGTH: 'A path parameter is too long',
      };
      const message = error.code ? known[error.code] : undefined;
      const status = message ? 400 : 500;
      void reply
        .code(status)
        .header('x-request-id', String(request.id))
        .header('content-type', 'application/json; charset=utf-8')
        .send({
          statusCode: status,
          error: message ? 'validation_failed' : 'internal',
          message: message ?? 'Internal server error',
          request_id: String(request.id),
        });
    },
  });
  // Bodies are JSON only: Nest's own parsers (JSON and application/x-www-form-urlencoded) are not registered,
  // and Fastify's default text/plain parser is removed, leaving Fastify's JSON parser (the one Nest's would
  // call). A form post or a text body, which a cross-site HTML form can send without a CORS preflight, is then
  // 415 before any route runs, in the one error shape (AllExceptionsFilter). No route documents another type.
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: true,
    abortOnError: false,
    bodyParser: false,
  });
  app.useLogger(new PinoNestLogger(logger));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  // Uploads (@StreamedBody() routes) reach their handler unread (src/common/streamed-body.ts).
  installStreamedBodies(fastify);
  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  // Non-streaming requests still unanswered after REQUEST_TIMEOUT_MS get a 503 (src/common/request-timeout.ts).
  installRequestTimeout(fastify, config.REQUEST_TIMEOUT_MS);
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', async (request, reply) => {
    logRequestCompleted(request, reply);
    metrics.observeRequest(request.method, routeOf(request), reply.statusCode, reply.elapsedTime / 1000);
  });
  // Security headers on every response (see SECURITY_HEADERS), from a map computed once at start.
  const headers = await securityHeaders();
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
  if (config.CORS_ORIGINS) {
    const origins = config.CORS_ORIGINS.split(',').map((origin) => origin.trim());
    app.enableCors({
      origin: origins.includes('*') ? true : origins,
      allowedHeaders: [
        'authorization',
        'content-type',
        'x-user-id',
        'x-request-id',
        'idempotency-key',
        'accept',
      ],
      exposedHeaders: [
        'x-request-id',
        'x-session-id',
        'x-project-id',
        'x-turn-id',
        'idempotent-replayed',
        'x-vercel-ai-ui-message-stream',
        'retry-after',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    });
  }
  app.useGlobalPipes(createValidationPipe());
  // SIGTERM/SIGINT are handled by main.ts (see ShutdownService), not by Nest's enableShutdownHooks.
  if (config.SWAGGER_ENABLED) await setupOpenApi(app);
  // The web client at / (WEB_ENABLED): static files beside the API, see src/web/web-client.ts.
  await installWebClient(fastify, config);
  return app;
}

export const bootLogger = new Logger('Parley');
