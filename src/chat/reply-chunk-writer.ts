import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { DatabaseService } from '../database/database.service.js';
import { GenerationsRepository } from './generations.repository.js';
import { ChatInstance } from './chat-instance.js';

/** How often the buffered text of this instance's running replies is written. */
export const CHUNK_BATCH_MS = 100;

/** The PostgreSQL channel a batch is announced on (payload: the writing instance's id). */
export const CHUNKS_CHANNEL = 'parley_reply_chunks';

interface Pending {
  userId: string;
  seq: number;
  text: string;
}

/**
 * Writes the text of every reply this instance is generating to chat_generation_chunks as it comes: the
 * deltas are buffered per reply and written together, one multi-row INSERT per batch (every CHUNK_BATCH_MS
 * while any text is waiting), so the statements per second do not grow with the number of streams. A crash
 * loses at most the last batch. A reply that ends before its first batch writes nothing at all (its text
 * goes straight into the saved message).
 */
@Injectable()
export class ReplyChunkWriter implements OnApplicationShutdown {
  private readonly logger = new Logger('ReplyChunks');
  /** Next chunk number of each running reply. */
  private readonly nextSeq = new Map<string, number>();
  private pending = new Map<string, Pending>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private stopped = false;
  /** Batches written (for tests and the bench). */
  batches = 0;

  constructor(
    private readonly db: DatabaseService,
    private readonly generations: GenerationsRepository,
    private readonly instance: ChatInstance,
  ) {}

  /** A reply starts: its chunks are numbered from 0. */
  open(messageId: string): void {
    this.nextSeq.set(messageId, 0);
  }

  append(messageId: string, userId: string, delta: string): void {
    const seq = this.nextSeq.get(messageId);
    if (seq === undefined || delta.length === 0) return;
    const waiting = this.pending.get(messageId);
    if (waiting) waiting.text += delta;
    else this.pending.set(messageId, { userId, seq, text: delta });
    this.schedule();
  }

  /**
   * The reply has ended: its unwritten text is dropped (the saved message holds it) and the batch being
   * written, if any, is awaited, so that no chunk of it is written after its record is deleted.
   */
  async close(messageId: string): Promise<void> {
    this.nextSeq.delete(messageId);
    this.pending.delete(messageId);
    await this.flushing;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, CHUNK_BATCH_MS);
  }

  /** Writes what is waiting, one statement. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.write(batch).finally(() => {
      this.flushing = undefined;
      if (this.pending.size > 0) this.schedule();
    });
    await this.flushing;
  }

  private async write(batch: Map<string, Pending>): Promise<void> {
    const messageIds: string[] = [];
    const seqs: number[] = [];
    const userIds: string[] = [];
    const deltas: string[] = [];
    for (const [messageId, item] of batch) {
      if (!this.nextSeq.has(messageId)) continue;
      messageIds.push(messageId);
      seqs.push(item.seq);
      userIds.push(item.userId);
      deltas.push(item.text);
      this.nextSeq.set(messageId, item.seq + 1);
    }
    if (messageIds.length === 0) return;
    try {
      await this.generations.insertChunks(
        this.db.maintenance(),
        { messageIds, seqs, userIds, deltas },
        this.db.kind === 'postgres' ? { channel: CHUNKS_CHANNEL, payload: this.instance.id } : undefined,
      );
      this.batches++;
    } catch (error) {
      // Kept for the next batch, under the same numbers: the text is written once the database answers.
      this.logger.warn(`writing a batch of reply chunks failed: ${(error as Error).message}`);
      for (const [messageId, item] of batch) {
        if (!this.nextSeq.has(messageId)) continue;
        this.nextSeq.set(messageId, item.seq);
        const later = this.pending.get(messageId);
        this.pending.set(messageId, later ? { ...item, text: item.text + later.text } : item);
      }
    }
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
