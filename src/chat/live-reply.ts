import type { ChatEnd, ChatStart } from './chat.types.js';

/**
 * One reply being generated on this instance, readable by any number of streams at once: the POST that
 * started it, and GET /api/v1/chat/{session_id}/stream from a client that came back. It keeps the text so far
 * as the provider's deltas (no copy per reader), and each reader starts at any offset of it (0 for the
 * whole reply, the SSE Last-Event-ID for the rest). The generation never waits for a reader: a slow one gets
 * them all when it reads again.
 */
export class LiveReply {
  private readonly deltas: string[] = [];
  /** Characters (UTF-16 code units, JavaScript's string length) of text so far. */
  private chars = 0;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  readonly end: Promise<ChatEnd>;
  private resolveEnd!: (end: ChatEnd) => void;

  constructor(
    readonly start: ChatStart,
    /** Stops the generation (POST .../stop): the partial reply is saved with finish_reason `stopped`. */
    readonly stop: () => void,
  ) {
    this.end = new Promise((resolve) => (this.resolveEnd = resolve));
  }

  get messageId(): string {
    return this.start.assistantMessageId;
  }

  get sessionId(): string {
    return this.start.session.sessionId;
  }

  get userId(): string {
    return this.start.session.userId;
  }

  get length(): number {
    return this.chars;
  }

  push(delta: string): void {
    if (this.closed || delta.length === 0) return;
    this.deltas.push(delta);
    this.chars += delta.length;
    this.wakeAll();
  }

  /** No more text: readers end once they have what came. */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }

  /** The generation is over and its outcome saved (or not): what the streams' last parts say. */
  finish(end: ChatEnd): void {
    this.close();
    this.resolveEnd(end);
  }

  /** The text from `offset` on, as it arrives, until the generation ends. */
  async *read(offset = 0): AsyncGenerator<string> {
    let index = 0;
    let at = 0;
    // Find the delta holding `offset`; the first yield is the rest of it.
    while (index < this.deltas.length && at + this.deltas[index].length <= offset) {
      at += this.deltas[index].length;
      index++;
    }
    let skip = offset - at;
    for (;;) {
      if (index < this.deltas.length) {
        let text = this.deltas[index++];
        if (skip > 0) {
          text = text.slice(skip);
          skip = 0;
        }
        if (text) yield text;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  private wakeAll(): void {
    if (this.waiters.size === 0) return;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}
