import { Logger } from '@nestjs/common';
import { APICallError } from 'ai';
import type { ChatModel, ContextMessage, ModelFinishReason, TokenUsage } from '../llm/chat-model.js';

/**
 * Why a reply ended: the AI SDK's finish reasons, plus `aborted` (the client went away, with
 * CHAT_ON_DISCONNECT=abort), `shutdown` (the service stopped the call while shutting down), `stopped` (POST
 * .../stop) and `interrupted` (its instance died; written by another instance).
 */
export type FinishReason = ModelFinishReason | 'aborted' | 'shutdown' | 'stopped' | 'interrupted';

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

const logger = new Logger('ModelProvider');

/** Secrets a provider's error text may echo (an API key, a bearer token), masked before the text is logged. */
const SECRETS: [RegExp, string][] = [
  [/\b(sk|pk|rk)-[A-Za-z0-9_-]{4,}/g, '$1-[redacted]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [
    /\b((?:api[_-]?key|x-api-key|key|token|secret|password)["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi,
    '$1[redacted]',
  ],
];

/** The provider's own words about a failure, with anything that looks like a credential masked. For the log. */
export function redactProviderDetail(text: string): string {
  return SECRETS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/** The provider's own words: HTTP status and message, with the underlying cause. Never for clients. */
function providerDetail(error: unknown): string {
  const e = error as { message?: unknown; cause?: unknown } | undefined;
  if (APICallError.isInstance(error))
    return `HTTP ${error.statusCode ?? 'error'}: ${error.message} ${error.responseBody ?? ''}`.trim();
  let detail = String(e?.message ?? error);
  const cause = (e?.cause as { message?: unknown } | undefined)?.message;
  if (typeof cause === 'string' && cause && !detail.includes(cause)) detail += ` (${cause})`;
  return detail;
}

/**
 * A provider failure, for clients (the error answer, the stream's error part, the saved reply's metadata):
 * generic, with only the class of the provider's HTTP status. The provider's text can carry its key, internal
 * host names or account details, so it goes to the log instead (credentials masked).
 */
export function describeProviderError(error: unknown): string {
  const detail = redactProviderDetail(withoutNul(providerDetail(error)));
  logger.warn(
    `the model provider failed: ${detail.length > MAX_ERROR_CHARS ? `${detail.slice(0, MAX_ERROR_CHARS - 1)}…` : detail}`,
  );
  const status = APICallError.isInstance(error) ? error.statusCode : undefined;
  return status !== undefined
    ? `The model provider answered with an error (HTTP ${Math.floor(status / 100)}xx)`
    : 'The model provider could not be reached or failed';
}

/**
 * Calls the model once and never throws: it streams text to `onDelta` and reports how the call ended. The
 * call is aborted when `signal` fires (finish reason `shutdown` or `stopped` for those reasons, else `aborted`)
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
    if (reason === 'stopped') return { ...base, finishReason: 'stopped' };
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
