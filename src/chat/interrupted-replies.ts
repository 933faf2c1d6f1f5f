import { Injectable, Logger } from '@nestjs/common';
import { DatabaseService } from '../database/database.service.js';
import { MessagesRepository } from '../messages/messages.repository.js';
import { GenerationsRepository } from './generations.repository.js';
import { IdempotencyKeysRepository } from './idempotency-keys.repository.js';

/**
 * Finishes a reply whose instance died (kill -9, a lost machine): in one transaction, the text its chunks
 * hold becomes the assistant message (finish_reason `interrupted`, even when empty: the user message is
 * never left without a reply or a recorded failure), its Idempotency-Key becomes `failed` (a retry with it
 * continues with the same user message at once), and its record and chunks are deleted. Any live instance
 * does it (the first to lock the record); a maintenance transaction, since it acts for the reply's owner.
 */
@Injectable()
export class InterruptedReplies {
  private readonly logger = new Logger('ReplyRelay');

  constructor(
    private readonly db: DatabaseService,
    private readonly generations: GenerationsRepository,
    private readonly messages: MessagesRepository,
    private readonly keys: IdempotencyKeysRepository,
  ) {}

  /** True when this call finished it (false: another instance has it, or it ended meanwhile). */
  async finish(messageId: string): Promise<boolean> {
    try {
      return await this.db.maintenanceTransaction(async (sql) => {
        const reply = await this.generations.take(sql, messageId);
        if (!reply) return false;
        await this.messages.insertReplyAsMaintenance(sql, {
          messageId: reply.messageId,
          sessionId: reply.sessionId,
          parentId: reply.userMessageId,
          content: reply.text,
          metadata: {
            provider: reply.provider,
            model: reply.model,
            usage: null,
            finish_reason: 'interrupted',
            latency_ms: Math.max(0, Date.now() - Date.parse(reply.startedAt)),
            first_token_ms: null,
            reply_to: reply.userMessageId,
          },
        });
        if (reply.idempotencyKey) await this.keys.releaseInterrupted(sql, reply.userId, reply.idempotencyKey);
        await this.generations.remove(sql, messageId);
        return true;
      });
    } catch (error) {
      this.logger.warn(`finishing an interrupted reply failed: ${(error as Error).message}`);
      return false;
    }
  }
}
