/**
 * An unbounded single-consumer queue of text deltas: the generation pushes, the HTTP response pulls. The
 * generation never waits for the client, so a slow or vanished client cannot stall it or its persistence.
 */
export class DeltaQueue implements AsyncIterable<string> {
  private readonly items: string[] = [];
  private closed = false;
  private wake?: () => void;

  push(delta: string): void {
    if (this.closed) return;
    this.items.push(delta);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift() as string;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** A queue that already holds `text` and is closed: a replayed reply. */
  static of(text: string): DeltaQueue {
    const queue = new DeltaQueue();
    if (text) queue.push(text);
    queue.close();
    return queue;
  }
}
