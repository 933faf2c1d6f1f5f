import type { FastifyReply, FastifyRequest } from 'fastify';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config.js';
import type { AuthContext } from '../auth/auth-context.js';

/**
 * Credentials never reach a log line, whatever a log call passes: headers that carry them are censored.
 * (The access log below does not log headers at all; this is the net under mistakes.)
 */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'password',
  'token',
];

/**
 * The one pino logger of the process: JSON lines on stdout (or `destination`), at LOG_LEVEL. Fastify uses it
 * for its request loggers and nestjs-pino routes Nest's own `Logger` calls to it, so every line has the same
 * shape: `level`, `time`, `msg`, `request_id` inside a request, `context` for Nest loggers.
 */
export function createRootLogger(config: AppConfig, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.LOG_LEVEL,
      base: { service: 'parley' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** The route a request matched, as a template (`/api/v1/sessions/:session_id`), or `unmatched` for a 404. */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions?.url ?? 'unmatched';
}

/**
 * One line per finished request, at info (warn for 5xx): request id, method, route template, path without
 * query string, status, latency and the caller's user id. No bodies, no query strings, no headers: message
 * content and tokens are never logged at info level.
 */
export function logRequestCompleted(request: FastifyRequest, reply: FastifyReply): void {
  const status = reply.statusCode;
  const log = request.log as unknown as Logger;
  const level = status >= 500 ? 'warn' : 'info';
  if (!log.isLevelEnabled(level)) return;
  const url = request.url;
  const query = url.indexOf('?');
  log[level](
    {
      method: request.method,
      route: routeOf(request),
      path: query === -1 ? url : url.slice(0, query),
      status,
      latency_ms: Math.round(reply.elapsedTime * 10) / 10,
      user_id: (request as FastifyRequest & { user?: AuthContext }).user?.userId ?? null,
    },
    'request completed',
  );
}
