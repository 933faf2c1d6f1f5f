import { runInNewContext } from 'node:vm';

/** Open streams that make a burst worth giving memory back after. */
export const BURST_STREAMS = 100;
/** How long the streams must stay down before the collection runs. */
export const BURST_QUIET_MS = 2000;

type Collect = () => void;

/**
 * Gives a burst of long streams' memory back to the system once it is over.
 *
 * A thousand streams open at once hold 100-150 MB of objects; when they end, all of it is garbage, but V8
 * only collects the old generation when allocation asks for it or its memory reducer runs, and the reducer
 * gives up after a few attempts during a long burst. A quiet instance then kept its peak RSS indefinitely
 * (measured: 312 MB against 170 MB idle, unchanged for 30 s with a liveness probe every second). So when the
 * open streams fall to a tenth of a peak of at least BURST_STREAMS and stay there for BURST_QUIET_MS, this
 * asks V8 for a major collection, run as a task off the request path (about 25 ms for a 100 MB heap), and
 * for one more a little later.
 *
 * The collection needs V8's gc(), which the entry point exposes (main.ts sets --expose-gc; it is reachable
 * only from a new vm context, never as a global). Without it (tests, another entry point) this does nothing.
 */
export class BurstMemoryRelease {
  private peak = 0;
  private current = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly collect: Collect | null = exposedMajorGc(),
    private readonly quietMs = BURST_QUIET_MS,
  ) {}

  /** A collection is waiting for its quiet period to pass. */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  /** Called with the number of open streams whenever it changes. */
  openStreams(count: number): void {
    this.current = count;
    if (count > this.peak) this.peak = count;
    if (!this.collect || this.timer || this.peak < BURST_STREAMS || count > this.peak / 10) return;
    this.after(this.quietMs, this.peak, () => {
      const burst = this.peak;
      this.peak = this.current;
      this.collect?.();
      // Once more a little later: objects with weak callbacks or finalizers (sockets, abort signals, web
      // streams) are only finalized by the first collection and freed by the next.
      this.after(this.quietMs * 2, burst, () => this.collect?.());
    });
  }

  /** Runs `then` after `ms` if the streams are still down to a tenth of `peak` (else a new burst began). */
  private after(ms: number, peak: number, then: () => void): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.current <= peak / 10) then();
    }, ms);
    this.timer.unref();
  }
}

/** V8's gc() as a major collection run as a task, or null when the process did not expose it. */
function exposedMajorGc(): Collect | null {
  let gc: unknown;
  try {
    gc = runInNewContext('typeof gc === "function" ? gc : null');
  } catch {
    return null;
  }
  if (typeof gc !== 'function') return null;
  const run = gc as (options: { type: 'major'; execution: 'async' }) => unknown;
  return () => {
    void Promise.resolve(run({ type: 'major', execution: 'async' })).catch(() => undefined);
  };
}
