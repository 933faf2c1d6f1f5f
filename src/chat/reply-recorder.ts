import { Inject, Injectable } from '@nestjs/common';
import { MetricsService, type ProviderOutcome } from '../metrics/metrics.service.js';
import type { Generation } from './chat-generation.js';
import type { ChatModel } from '../llm/chat-model.js';
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

/** What is written down about a model call: its outcome, latency and tokens in /metrics, and the reply's metadata. */
@Injectable()
export class ReplyRecorder {
  constructor(
    @Inject(CHAT_MODEL) private readonly model: ChatModel,
    private readonly metrics: MetricsService,
  ) {}

  /** The call's outcome and latency, and the tokens the provider reported, in /metrics. */
  recordCall(generation: Generation): void {
    const { provider, modelId } = this.model;
    const outcome: ProviderOutcome =
      generation.error?.code === 'provider_timeout'
        ? 'timeout'
        : generation.error
          ? 'error'
          : generation.finishReason === 'aborted' || generation.finishReason === 'shutdown'
            ? generation.finishReason
            : generation.finishReason === 'stopped'
              ? 'aborted'
              : 'ok';
    this.metrics.recordProviderCall(provider, modelId, outcome, generation.latencyMs / 1000);
    this.metrics.recordTokens(provider, modelId, {
      input: generation.usage?.input_tokens ?? undefined,
      output: generation.usage?.output_tokens ?? undefined,
    });
  }

  /** The metadata saved with the reply to `replyTo`. */
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
}
