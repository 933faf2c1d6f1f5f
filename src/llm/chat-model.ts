import type { LanguageModel } from 'ai';
import type { ProviderName } from './providers.js';

/** A message of the context sent to the model. */
export interface ContextMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** What the model is asked: the system prompt and the conversation, oldest first, ending with the user. */
export interface ModelRequest {
  system: string;
  messages: ContextMessage[];
  signal: AbortSignal;
}

/** Token counts as the provider reported them (null where it did not). */
export interface TokenUsage {
  input_tokens: number | null;
  output_tokens: number | null;
  total_tokens: number | null;
}

/** The AI SDK's unified finish reasons. */
export type ModelFinishReason = 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other';

export type ModelEvent =
  | { type: 'text'; delta: string }
  | { type: 'finish'; finishReason: ModelFinishReason; usage: TokenUsage | null };

/**
 * The one interface the chat services talk to. `stream()` yields text deltas and a final `finish` event, and
 * throws when the provider fails or the signal aborts. Every provider, the built-in one included, is an AI SDK
 * language model driven the same way (AiSdkChatModel), so they all behave the same way here.
 */
export interface ChatModel {
  /** As stored in `metadata.provider`: the provider's name in the registry (providers.ts). */
  readonly provider: ProviderName;
  readonly modelId: string;
  stream(request: ModelRequest): AsyncIterable<ModelEvent>;
}

/** An AI SDK language model (specification v3: every provider package Parley uses). */
export type ProviderLanguageModel = Extract<LanguageModel, { specificationVersion: 'v3' }>;
type StreamOptions = Parameters<ProviderLanguageModel['doStream']>[0];
type StreamPart =
  Awaited<ReturnType<ProviderLanguageModel['doStream']>>['stream'] extends ReadableStream<infer P>
    ? P
    : never;
type FinishPart = Extract<StreamPart, { type: 'finish' }>;

function toUsage(usage: FinishPart['usage'] | undefined): TokenUsage | null {
  if (!usage) return null;
  const input = usage.inputTokens.total ?? null;
  const output = usage.outputTokens.total ?? null;
  if (input === null && output === null) return null;
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input !== null && output !== null ? input + output : null,
  };
}

/**
 * Drives any AI SDK language model through its own stream (`doStream`) and reduces it to ModelEvents. Not
 * through `streamText`: for a text-only chat with no retries, tools or telemetry it only adds CPU, about
 * 0.6 ms a call, 22 µs a chunk and 9 µs a context message (docs/performance.md), which a token-by-token
 * stream of a real provider pays on every chunk. There are no hidden retries: the timeout budget is the
 * caller's, and a client retry with the same Idempotency-Key regenerates the reply without a second user
 * message.
 */
export class AiSdkChatModel implements ChatModel {
  constructor(
    readonly provider: ProviderName,
    readonly modelId: string,
    private readonly model: ProviderLanguageModel,
  ) {}

  async *stream(request: ModelRequest): AsyncIterable<ModelEvent> {
    const prompt: StreamOptions['prompt'] = [
      ...(request.system ? [{ role: 'system' as const, content: request.system }] : []),
      ...request.messages.map((m) => ({
        role: m.role,
        content: [{ type: 'text' as const, text: m.content }],
      })),
    ];
    const { stream } = await this.model.doStream({ prompt, abortSignal: request.signal });
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value: part } = await reader.read();
        if (done) break;
        switch (part.type) {
          case 'text-delta':
            if (part.delta) yield { type: 'text', delta: part.delta };
            break;
          case 'error':
            throw part.error;
          case 'finish':
            yield { type: 'finish', finishReason: part.finishReason.unified, usage: toUsage(part.usage) };
            return;
        }
      }
    } finally {
      // Ends the provider's request (and its body) when the caller stops early or something threw.
      await reader.cancel().catch(() => undefined);
    }
    if (request.signal.aborted) throw request.signal.reason;
    throw new Error('The model stream ended without finishing');
  }
}
