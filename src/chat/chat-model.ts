import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { streamText, type LanguageModel, type LanguageModelUsage, type ModelMessage } from 'ai';
import type { AppConfig } from '../config/app-config.js';
import { BuiltinLanguageModel, BUILTIN_MODEL_ID } from './builtin-model.js';

export type ProviderName = AppConfig['LLM_PROVIDER'];

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
 * language model driven by `streamText`, so they all behave the same way here.
 */
export interface ChatModel {
  /** As stored in `metadata.provider`: builtin, openai, openai-compatible or anthropic. */
  readonly provider: ProviderName;
  readonly modelId: string;
  stream(request: ModelRequest): AsyncIterable<ModelEvent>;
}

export const DEFAULT_MODELS: Record<ProviderName, string> = {
  builtin: BUILTIN_MODEL_ID,
  openai: 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
  // llama.cpp and LM Studio ignore the name; Ollama and vLLM need LLM_MODEL.
  'openai-compatible': 'default',
};

function toUsage(usage: LanguageModelUsage | undefined): TokenUsage | null {
  if (!usage) return null;
  const input = usage.inputTokens ?? null;
  const output = usage.outputTokens ?? null;
  if (input === null && output === null && usage.totalTokens === undefined) return null;
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: usage.totalTokens ?? (input !== null && output !== null ? input + output : null),
  };
}

/** Drives any AI SDK language model through `streamText` and reduces its full stream to ModelEvents. */
export class AiSdkChatModel implements ChatModel {
  constructor(
    readonly provider: ProviderName,
    readonly modelId: string,
    private readonly model: LanguageModel,
  ) {}

  async *stream(request: ModelRequest): AsyncIterable<ModelEvent> {
    const messages: ModelMessage[] = request.messages.map((m) => ({ role: m.role, content: m.content }));
    const result = streamText({
      model: this.model,
      system: request.system || undefined,
      messages,
      abortSignal: request.signal,
      // No hidden retries: the timeout budget is the caller's, and a client retry with the same
      // Idempotency-Key regenerates the reply without a second user message.
      maxRetries: 0,
      // Failures surface as thrown errors below; the default handler would print them to stderr.
      onError: () => undefined,
    });
    for await (const part of result.fullStream) {
      switch (part.type) {
        case 'text-delta':
          if (part.text) yield { type: 'text', delta: part.text };
          break;
        case 'error':
          throw part.error;
        case 'abort':
          throw request.signal.reason ?? new Error('aborted');
        case 'finish':
          yield { type: 'finish', finishReason: part.finishReason, usage: toUsage(part.totalUsage) };
          return;
      }
    }
    if (request.signal.aborted) throw request.signal.reason;
    throw new Error('The model stream ended without finishing');
  }
}

/** Builds the configured model. Called once at boot; the built-in model needs no network. */
export function createChatModel(config: AppConfig): ChatModel {
  const provider = config.LLM_PROVIDER;
  const modelId = config.LLM_MODEL ?? DEFAULT_MODELS[provider];
  switch (provider) {
    case 'builtin':
      return new AiSdkChatModel(
        provider,
        modelId,
        new BuiltinLanguageModel({ modelId, delayMs: config.BUILTIN_LLM_DELAY_MS }),
      );
    case 'openai-compatible':
      return new AiSdkChatModel(
        provider,
        modelId,
        createOpenAICompatible({
          name: 'openai-compatible',
          baseURL: config.LLM_BASE_URL ?? '',
          apiKey: config.LLM_API_KEY,
          includeUsage: true,
        }).chatModel(modelId),
      );
    case 'openai':
      // Chat Completions rather than the Responses API: every OpenAI-style gateway serves it.
      return new AiSdkChatModel(
        provider,
        modelId,
        createOpenAI({ apiKey: config.LLM_API_KEY, baseURL: config.LLM_BASE_URL }).chat(modelId),
      );
    case 'anthropic':
      return new AiSdkChatModel(
        provider,
        modelId,
        createAnthropic({ apiKey: config.LLM_API_KEY, baseURL: config.LLM_BASE_URL }).messages(modelId),
      );
  }
}
