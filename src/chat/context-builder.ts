import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { Tx } from '../database/database.service.js';
import { MessagesRepository } from '../messages/messages.repository.js';
import { buildContext, type ModelContext, type StoredMessage } from './chat-context.js';

/**
 * What the model receives for a reply, with the configured system prompt and character budget
 * (LLM_SYSTEM_PROMPT, LLM_CONTEXT_CHARS); see buildContext for the rules.
 */
@Injectable()
export class ContextBuilder {
  constructor(
    private readonly messages: MessagesRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** How many characters of conversation a context holds at most. */
  get budgetChars(): number {
    return this.config.LLM_CONTEXT_CHARS;
  }

  /**
   * The context of a reply to `anchor` (a message of the session, read with its depth): the messages of the
   * branch ending at it, and the system messages on that branch. Other branches of the tree are not sent.
   */
  async forSession(
    tx: Tx,
    sessionId: string,
    anchor: { messageId: string; depth?: number },
  ): Promise<ModelContext> {
    if (anchor.depth === undefined) throw new Error('the context anchor was read without its depth');
    const { messageId, depth } = anchor;
    const newestFirst = await this.messages.newestMessages(tx, { messageId, depth }, this.budgetChars);
    const sessionSystem = await this.messages.systemMessages(tx, sessionId, messageId);
    return buildContext({
      systemPrompt: this.config.LLM_SYSTEM_PROMPT,
      sessionSystem,
      newestFirst,
      budgetChars: this.budgetChars,
    });
  }

  /** The context of a conversation read elsewhere (newest first, the message to answer first). */
  forConversation(newestFirst: StoredMessage[]): ModelContext {
    return buildContext({
      systemPrompt: this.config.LLM_SYSTEM_PROMPT,
      sessionSystem: [],
      newestFirst,
      budgetChars: this.budgetChars,
    });
  }
}
