import type { FastifyReply } from 'fastify';
import type { StreamLease } from '../limits/stream-limiter.js';
import { ClientDisconnectedError } from './chat-generation.js';

/**
 * An AbortSignal that fires when the client goes away before the response has been completely written
 * (the connection closed mid-stream, or while the reply was still being prepared).
 */
export function abortOnDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  const onClose = () => {
    if (!response.writableEnded) controller.abort(new ClientDisconnectedError());
  };
  if (response.destroyed) onClose();
  else response.once('close', onClose);
  return controller.signal;
}

/**
 * Ties an exchange to its stream lease (StreamLimiter): the returned signal aborts when the client disconnects
 * (reason ClientDisconnectedError) or the service shuts down (reason `'shutdown'`); the lease is released
 * when the response closes or `release()` is called, whichever comes first.
 */
export function holdStream(
  reply: FastifyReply,
  lease: StreamLease,
): { signal: AbortSignal; release: () => void } {
  reply.raw.once('close', () => lease.release());
  return {
    signal: AbortSignal.any([abortOnDisconnect(reply), lease.signal]),
    release: () => lease.release(),
  };
}

/**
 * Whether the client asked for one JSON object rather than the event stream: `?stream=false`, or an Accept
 * header naming application/json and not text/event-stream. Everything else gets the stream.
 */
export function wantsJson(accept: string | undefined, stream: boolean | undefined): boolean {
  if (stream !== undefined) return !stream;
  const value = (accept ?? '').toLowerCase();
  if (value.includes('text/event-stream')) return false;
  return value.includes('application/json');
}
