import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config.js';

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
 * The app's pino logger: JSON lines on stdout (or `destination`), at LOG_LEVEL. Fastify uses it for its
 * request loggers and PinoNestLogger routes Nest's own `Logger` calls to it, so every line has the same
 * shape: `level`, `time`, `msg`, `request_id` for request lines, `context` for Nest loggers.
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
      user_id: (request as FastifyRequest & { user?: { userId: string } }).user?.userId ?? null,
    },
    'request completed',
  );
}

/**
 * Nest's LoggerService over the app's pino logger: `new Logger('Database').log(...)` becomes an info line
 * with `context: 'Database'`. Nest's levels map onto pino's (log → info, verbose → trace), so LOG_LEVEL
 * governs both. (nestjs-pino does the same but keeps one logger per process, the first app's, which sends
 * a second app's lines, as in the tests, to the first app's destination.)
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Nest passes `(message, context)`, `(message, stack, context)` for errors, or `(object, context)`. */
  private write(level: Level, message: unknown, rest: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    const stack = level === 'error' && rest.length === 2 && typeof rest[0] === 'string' ? rest[0] : undefined;
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (stack) fields.stack = stack;
    if (message instanceof Error) {
      this.logger[level]({ ...fields, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ ...fields, ...(message as Record<string, unknown>) });
    } else {
      this.logger[level](fields, String(message));
    }
  }
}
