import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { ModelContext } from './chat-context.js';
import { generate, type Generation } from './chat-generation.js';
import type { ChatModel } from '../llm/chat-model.js';
import { CHAT_MODEL } from './chat.tokens.js';
import { ReplyRecorder } from './reply-recorder.js';

/** Calls the configured model for a reply, bounded by LLM_TIMEOUT_MS and the caller's abort signal. */
@Injectable()
export class ReplyGenerator {
  private readonly logger = new Logger('Chat');

  constructor(
    @Inject(CHAT_MODEL) private readonly model: ChatModel,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly recorder: ReplyRecorder,
  ) {}

  /** Never throws (see generate); records the call in /metrics and logs a provider failure without content. */
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
    this.recorder.recordCall(generation);
    if (generation.error) {
      this.logger.warn(
        `model call failed (${this.model.provider}/${this.model.modelId}, ${generation.text.length} characters received): ${generation.error.message}`,
      );
    }
    return generation;
  }
}
