import { toChatSessionPartData } from './chat.dto.js';
import type { ChatRun } from './chat.types.js';

/** The response headers of the AI SDK's UI message stream protocol (v1). */
export const UI_MESSAGE_STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-vercel-ai-ui-message-stream': 'v1',
  'x-accel-buffering': 'no',
} as const;

const part = (chunk: Record<string, unknown>): string => `data: ${JSON.stringify(chunk)}\n\n`;
/** A part with an SSE `id:`: the number of text characters the client has once it holds this part. */
const partAt = (offset: number, chunk: Record<string, unknown>): string =>
  `id: ${offset}\ndata: ${JSON.stringify(chunk)}\n\n`;

/** The SSE Last-Event-ID a client resumes from: a text offset this stream gave as an `id:` (else undefined). */
export function parseLastEventId(header: string | string[] | undefined): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value || !/^\d{1,10}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Encodes a chat exchange as the AI SDK's UI message stream (what `useChat` reads): `start` (messageId = the
 * assistant message's id), `data-session`, `text-start`, `text-delta`..., `text-end`, then `finish` and
 * `[DONE]`. A failure is an `error` part before `finish` (finishReason `error`): when no text had arrived
 * nothing was saved; otherwise the partial reply was saved with finish_reason `error` (or `shutdown`). The
 * `finish` part's messageMetadata is the saved reply's metadata.
 *
 * SSE ids: `data-session` carries `id: 0` and each `text-delta` the count of text characters (UTF-16 code
 * units) up to its end, so a client that comes back with `Last-Event-ID: N` (`resumeAt`) gets the text from
 * character N on, without the parts it already has (`run.deltas` must then start at N).
 */
export async function* uiMessageStream(run: ChatRun, resumeAt?: number): AsyncGenerator<string> {
  const { start } = run;
  const textId = `text-${start.assistantMessageId}`;
  if (resumeAt === undefined) {
    yield part({ type: 'start', messageId: start.assistantMessageId });
    yield partAt(0, {
      type: 'data-session',
      id: start.session.sessionId,
      data: toChatSessionPartData(start),
    });
  }
  let textStarted = resumeAt !== undefined && resumeAt > 0;
  let offset = resumeAt ?? 0;
  for await (const delta of run.deltas) {
    if (!textStarted) {
      textStarted = true;
      yield part({ type: 'text-start', id: textId });
    }
    offset += delta.length;
    yield partAt(offset, { type: 'text-delta', id: textId, delta });
  }
  const end = await run.end;
  if (textStarted) yield part({ type: 'text-end', id: textId });
  if (end.kind === 'failed') {
    yield part({ type: 'error', errorText: end.error.message });
    yield part({ type: 'finish', finishReason: 'error' });
  } else {
    const metadata = end.reply.assistantMessage.metadata ?? {};
    const reason = String(metadata.finish_reason ?? 'other');
    const errorText =
      (metadata.error as { message?: string } | undefined)?.message ??
      (reason === 'shutdown'
        ? 'The service is shutting down: the reply was cut short (what arrived is saved)'
        : undefined);
    if (errorText) yield part({ type: 'error', errorText });
    yield part({
      type: 'finish',
      finishReason: FINISH_REASONS.has(reason) ? reason : errorText ? 'error' : 'other',
      messageMetadata: metadata,
    });
  }
  yield 'data: [DONE]\n\n';
}

/** The finish reasons the protocol's `finish` part accepts. */
const FINISH_REASONS = new Set(['stop', 'length', 'content-filter', 'tool-calls', 'error', 'other']);
