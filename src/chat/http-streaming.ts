import type { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import type { StreamLease } from '../limits/stream-limiter.js';
import { ClientDisconnectedError } from './chat-generation.js';
import { toChatResponse } from './chat.dto.js';
import type { ChatRun } from './chat.types.js';
import { UI_MESSAGE_STREAM_HEADERS, uiMessageStream } from './ui-message-stream.js';

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
 * Ties an exchange to its stream lease (StreamLimiter). With `stopWithClient` (CHAT_ON_DISCONNECT=abort)
 * the returned signal aborts when the client disconnects (reason ClientDisconnectedError) or the service
 * shuts down (reason `'shutdown'`), and the lease is released when the response closes or `release()` is
 * called, whichever comes first. Without it (`continue`) the reply outlives its client: only shutdown aborts
 * it, and the lease is held until `release()` (when the reply has ended), so a caller cannot start more
 * replies at once by leaving them.
 */
export function holdStream(
  reply: FastifyReply,
  lease: StreamLease,
  stopWithClient = true,
): { signal: AbortSignal; release: () => void } {
  if (!stopWithClient) return { signal: lease.signal, release: () => lease.release() };
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

/**
 * Answers a chat run (POST /api/v1/chat, a regeneration): X-Session-ID (and Idempotent-Replayed), then one
 * JSON object once the reply is saved (`json`: a failure before any text is thrown, for the exception
 * filter), or the UI message stream. `release` frees the caller's stream slot when the run ends.
 */
export async function sendChatRun(
  reply: FastifyReply,
  run: ChatRun,
  json: boolean,
  release: () => void,
): Promise<void> {
  void run.end.finally(release);
  void reply.header('x-session-id', run.start.session.sessionId);
  if (run.start.replayed) void reply.header('idempotent-replayed', 'true');
  if (json) {
    const end = await run.end;
    if (end.kind === 'failed') throw end.error;
    void reply.status(200).send(toChatResponse(end.reply));
    return;
  }
  // Not awaited: the stream outlives the handler, and a client that leaves only aborts the run.
  void reply
    .status(200)
    .headers(UI_MESSAGE_STREAM_HEADERS)
    .send(Readable.from(uiMessageStream(run)));
}
