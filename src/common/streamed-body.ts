import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { hasStreamedBody } from './route-policy.js';

/**
 * Request bodies a handler reads as a stream (an upload of any size), for routes marked @StreamedBody().
 * Fastify would buffer and parse a body before the handler runs (JSON, within BODY_LIMIT_BYTES); on these
 * routes a preParsing hook sets the content type aside and hands the body over unread, whatever its type, so
 * the handler (after authentication and rate limiting) streams it where it needs to go, applying its own
 * limit. Every other route is untouched.
 */
const STREAMED_TYPE = 'application/x-parley-streamed-body';
const originalTypes = new WeakMap<object, string>();

export function installStreamedBodies(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(STREAMED_TYPE, (_request, payload, done) => done(null, payload));
  fastify.addHook('preParsing', async (request, _reply, payload) => {
    if (!hasStreamedBody(request.routeOptions)) return payload;
    originalTypes.set(request, request.headers['content-type'] ?? '');
    request.headers['content-type'] = STREAMED_TYPE;
    return payload;
  });
}

/** The body of a @StreamedBody() route, unread, with the content type the client sent ('' for none). */
export function streamedBodyOf(request: FastifyRequest): {
  stream: Readable | undefined;
  contentType: string;
} {
  const contentType = originalTypes.get(request);
  if (contentType === undefined) throw new Error('streamedBodyOf() needs a route marked @StreamedBody()');
  return { stream: request.body as Readable | undefined, contentType };
}
