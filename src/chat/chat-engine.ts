import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AppError } from '../common/app-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { Tx } from '../database/database.service.js';
import { MetricsService, type ProviderOutcome } from '../metrics/metrics.service.js';
import { buildContext, type ModelContext, type StoredMessage } from './chat-context.js';
import { generate, type Generation } from './chat-generation.js';
import type { ChatModel } from './chat-model.js';
import { ChatRepository } from './chat.repository.js';
import { CHAT_MODEL } from './chat.tokens.js';

/** The assistant message's `metadata` (see docs/chat.md). */
export interface ReplyMetadata extends Record<string, unknown> {
  provider: string;
  model: string;
  usage: Generation['usage'];
  finish_reason: Generation['finishReason'];
  latency_ms: number;
  first_token_ms: number | null;
  /** The user message this replies to. */
  reply_to: string;
  error?: Generation['error'];
}

/** Finish reasons of a call that did not end by the model's own choice. */
export const INTERRUPTED: ReadonlySet<string> = new Set(['error', 'aborted', 'shutdown']);

/** A reply is saved when any text arrived, or when the model finished normally (even with empty text). */
export function replyIsSaved(generation: Generation): boolean {
  return generation.text.length > 0 || !INTERRUPTED.has(generation.finishReason);
}

/** The error a client sees when no reply was saved: 504, 502, or 503 when the call was interrupted. */
export function failureOf(generation: Generation): AppError {
  if (generation.error?.code === 'provider_timeout')
    return new AppError('provider_timeout', generation.error.message);
  if (generation.error) return new AppError('provider_error', generation.error.message);
  if (generation.finishReason === 'shutdown')
    return new AppError('unavailable', 'The service is shutting down; try again shortly');
  return new AppError('unavailable', 'The reply was interrupted before it began');
}

/**
 * What both chat endpoints share about calling the model: the context it receives, the call itself (with
 * the timeout and the client's abort signal), the reply's metadata, and the set of calls in flight, which
 * shutdown stops and waits for so that their partial replies are saved before the database closes.
 */
@Injectable()
export class ChatEngine implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Chat');
  private readonly inFlight = new Map<Promise<unknown>, AbortController>();

  constructor(
    private readonly chats: ChatRepository,
    @Inject(CHAT_MODEL) readonly model: ChatModel,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** The context of a reply to `anchorMessageId` in a session (see buildContext for the rules). */
  async sessionContext(tx: Tx, sessionId: string, anchorMessageId: string): Promise<ModelContext> {
    const budget = this.config.LLM_CONTEXT_CHARS;
    const newestFirst = await this.chats.newestMessages(tx, sessionId, anchorMessageId, budget);
    const sessionSystem = await this.chats.systemMessages(tx, sessionId, anchorMessageId);
    return buildContext({
      systemPrompt: this.config.LLM_SYSTEM_PROMPT,
      sessionSystem,
      newestFirst,
      budgetChars: budget,
    });
  }

  /** The context of a legacy turn: the dossier's earlier turns, then the new text. */
  async turnContext(tx: Tx, projectId: string, turnId: string, text: string): Promise<ModelContext> {
    const budget = this.config.LLM_CONTEXT_CHARS;
    const earlier = await this.chats.newestTurnMessages(tx, projectId, turnId, budget);
    const newestFirst: StoredMessage[] = [{ role: 'user', content: text }, ...earlier];
    return buildContext({
      systemPrompt: this.config.LLM_SYSTEM_PROMPT,
      sessionSystem: [],
      newestFirst,
      budgetChars: budget,
    });
  }

  /** Calls the model (never throws; see generate) and logs a provider failure without message content. */
  async generate(
    context: ModelContext,
    signal: AbortSignal,
    onDelta: (delta: string) => void,
  ): Promise<Generation> {
    const generation = await generate(this.model, context, {
      signal,
      timeoutMs: this.config.LLM_TIMEOUT_MS,
      onDelta,
    });
    this.recordMetrics(generation);
    if (generation.error) {
      this.logger.warn(
        `model call failed (${this.model.provider}/${this.model.modelId}, ${generation.text.length} characters received): ${generation.error.message}`,
      );
    }
    return generation;
  }

  /** The call's outcome and latency, and the tokens the provider reported, in /metrics. */
  private recordMetrics(generation: Generation): void {
    const { provider, modelId } = this.model;
    const outcome: ProviderOutcome =
      generation.error?.code === 'provider_timeout'
        ? 'timeout'
        : generation.error
          ? 'error'
          : generation.finishReason === 'aborted' || generation.finishReason === 'shutdown'
            ? generation.finishReason
            : 'ok';
    this.metrics.recordProviderCall(provider, modelId, outcome, generation.latencyMs / 1000);
    this.metrics.recordTokens(provider, modelId, {
      input: generation.usage?.input_tokens ?? undefined,
      output: generation.usage?.output_tokens ?? undefined,
    });
  }

  metadata(generation: Generation, replyTo: string): ReplyMetadata {
    return {
      provider: this.model.provider,
      model: this.model.modelId,
      usage: generation.usage,
      finish_reason: generation.finishReason,
      latency_ms: generation.latencyMs,
      first_token_ms: generation.firstTokenMs,
      reply_to: replyTo,
      ...(generation.error ? { error: generation.error } : {}),
    };
  }

  /**
   * Runs an exchange's model call and persistence with a signal that aborts when the client's does or at
   * shutdown, and tracks it until done. `work` must not reject.
   */
  track<T>(clientSignal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const forward = () => controller.abort(clientSignal.reason);
    if (clientSignal.aborted) forward();
    else clientSignal.addEventListener('abort', forward, { once: true });
    const done = work(controller.signal).finally(() => {
      clientSignal.removeEventListener('abort', forward);
      this.inFlight.delete(done);
    });
    this.inFlight.set(done, controller);
    return done;
  }

  /** Stops every model call in flight and waits until their partial replies are saved. */
  async beforeApplicationShutdown(): Promise<void> {
    for (const controller of this.inFlight.values()) controller.abort('shutdown');
    await Promise.allSettled([...this.inFlight.keys()]);
  }
}
