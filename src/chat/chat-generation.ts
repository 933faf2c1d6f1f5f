import { APICallError } from 'ai';
import type { ChatModel, ContextMessage, ModelFinishReason, TokenUsage } from '../llm/chat-model.js';

/**
 * Why a reply ended: the AI SDK's finish reasons, plus `aborted` (the client went away) and `shutdown` (the
 * service stopped the call while shutting down).
 */
export type FinishReason = ModelFinishReason | 'aborted' | 'shutdown';

export interface GenerationError {
  code: 'provider_error' | 'provider_timeout';
  message: string;
}

/** The outcome of one model call: what arrived, and how it ended. */
export interface Generation {
  text: string;
  finishReason: FinishReason;
  usage: TokenUsage | null;
  latencyMs: number;
  /** Milliseconds until the first text arrived; null when none did. */
  firstTokenMs: number | null;
  error?: GenerationError;
}

/** The abort reason when the HTTP client disconnects. */
export class ClientDisconnectedError extends Error {
  constructor() {
    super('The client disconnected');
  }
}

class ProviderTimeoutError extends Error {}

const MAX_ERROR_CHARS = 500;

/**
 * PostgreSQL text and jsonb cannot hold NUL, so a provider that sends one would make the reply unsavable
 * (a 500 and a lost reply): it becomes U+FFFD, in the stream and in what is saved alike.
 */
export const withoutNul = (text: string): string => text.replaceAll('\u0000', '\ufffd');

/** A provider failure, for people: HTTP status and the provider's message, with the underlying cause. */
export function describeProviderError(error: unknown): string {
  const e = error as { message?: unknown; cause?: unknown } | undefined;
  let message: string;
  if (APICallError.isInstance(error)) {
    message = `The model provider answered HTTP ${error.statusCode ?? 'error'}: ${error.message}`;
  } else {
    message = `The model provider failed: ${String(e?.message ?? error)}`;
    const cause = (e?.cause as { message?: unknown } | undefined)?.message;
    if (typeof cause === 'string' && cause && !message.includes(cause)) message += ` (${cause})`;
  }
  message = withoutNul(message);
  return message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS - 1)}…` : message;
}

/**
 * Calls the model once and never throws: it streams text to `onDelta` and reports how the call ended. The
 * call is aborted when `signal` fires (finish reason `shutdown` for the reason `'shutdown'`, else `aborted`)
 * or when `timeoutMs` passes (finish reason `error`, code `provider_timeout`); a provider failure is finish
 * reason `error`, code `provider_error`.
 */
export async function generate(
  model: ChatModel,
  context: { system: string; messages: ContextMessage[] },
  options: { signal: AbortSignal; timeoutMs: number; onDelta: (delta: string) => void },
): Promise<Generation> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new ProviderTimeoutError()), options.timeoutMs);
  const onAbort = () => controller.abort(options.signal.reason ?? new ClientDisconnectedError());
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener('abort', onAbort, { once: true });

  let text = '';
  let firstTokenMs: number | null = null;
  try {
    for await (const event of model.stream({ ...context, signal: controller.signal })) {
      if (event.type === 'text') {
        if (firstTokenMs === null) firstTokenMs = elapsed();
        const delta = withoutNul(event.delta);
        text += delta;
        options.onDelta(delta);
      } else {
        return {
          text,
          finishReason: event.finishReason,
          usage: event.usage,
          latencyMs: elapsed(),
          firstTokenMs,
        };
      }
    }
    throw new Error('The model stream ended without finishing');
  } catch (error) {
    const base = { text, usage: null, latencyMs: elapsed(), firstTokenMs };
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
    if (reason instanceof ProviderTimeoutError) {
      return {
        ...base,
        finishReason: 'error',
        error: {
          code: 'provider_timeout',
          message: `The model provider did not finish within ${options.timeoutMs} ms`,
        },
      };
    }
    if (reason === 'shutdown') return { ...base, finishReason: 'shutdown' };
    if (controller.signal.aborted) return { ...base, finishReason: 'aborted' };
    return {
      ...base,
      finishReason: 'error',
      error: { code: 'provider_error', message: describeProviderError(error) },
    };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }
}
