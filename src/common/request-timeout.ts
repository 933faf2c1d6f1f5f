import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorResponseDto } from './error-response.dto.js';
import { hasNoRequestTimeout } from './route-policy.js';

const TIMER = Symbol('parley.requestTimeout');

type TimedRequest = FastifyRequest & { [TIMER]?: NodeJS.Timeout };

/**
 * Answers 503 `unavailable` (the usual error shape) when a request has not been answered within `ms`, instead
 * of leaving the client hanging. Routes marked @ChatRoute() or @NoRequestTimeout() (route-policy.ts) are exempt, and a response
 * whose headers are already on the wire (a stream) is never cut. The handler's own work is not cancelled: its
 * database statements are bounded by DB_STATEMENT_TIMEOUT_MS, and what it answers later is dropped
 * (TimeoutAwareFastifyAdapter).
 *
 * Fastify hooks rather than a Nest interceptor: with any interceptor at all, Nest runs every request through
 * an rxjs pipeline, which cost about a tenth of a short request's CPU and added to the garbage behind its tail
 * latency (docs/performance.md). Fastify's own `handlerTimeout` cannot exempt a route (a route's 0 falls back
 * to the server's value) and destroys a stream in progress, hence these few lines.
 */
export function installRequestTimeout(fastify: FastifyInstance, ms: number): void {
  fastify.addHook('onRequest', (request: TimedRequest, reply, done) => {
    const route = request.routeOptions;
    if (route.url === undefined || hasNoRequestTimeout(route)) {
      done();
      return;
    }
    request[TIMER] = setTimeout(() => answerTimedOut(request, reply, ms), ms);
    done();
  });
  const clear = (request: TimedRequest, _reply: FastifyReply, done: () => void) => {
    clearTimeout(request[TIMER]);
    done();
  };
  fastify.addHook('onResponse', clear);
  fastify.addHook('onRequestAbort', (request: TimedRequest, done) => {
    clearTimeout(request[TIMER]);
    done();
  });
}

function answerTimedOut(request: FastifyRequest, reply: FastifyReply, ms: number): void {
  if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) return;
  const body: ErrorResponseDto = {
    statusCode: 503,
    error: 'unavailable',
    message: `The request did not finish within ${ms} ms; try again`,
    request_id: String(request.id),
  };
  void reply.code(503).header('content-type', 'application/json; charset=utf-8').send(body);
}

/**
 * Nest's Fastify adapter, except that a reply already sent is left alone: the handler of a request that
 * timed out (above) still finishes, and Nest would send its result, which Fastify refuses with a warning.
 */
export class TimeoutAwareFastifyAdapter extends FastifyAdapter {
  override reply(response: Parameters<FastifyAdapter['reply']>[0], body: unknown, statusCode?: number) {
    if ((response as Partial<FastifyReply>).sent === true) return response as FastifyReply;
    return super.reply(response, body, statusCode);
  }
}
