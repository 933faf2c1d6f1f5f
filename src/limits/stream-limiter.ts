import { Inject, Injectable } from '@nestjs/common';
import { AppError } from '../common/app-error.js';
import { LIMITS_OBSERVER, type LimitsObserver } from '../common/limits-observer.js';
import { ShutdownService } from '../common/shutdown.service.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { BurstMemoryRelease } from './burst-memory.js';

/** One open stream. Release it exactly when the response has ended (release is idempotent). */
export interface StreamLease {
  /** Aborts with reason `'shutdown'` when the service shuts down: save the partial reply, end the stream. */
  readonly signal: AbortSignal;
  release(): void;
}

/**
 * Caps the streaming responses one caller holds open at once (STREAMS_PER_USER_MAX, per instance), counts
 * them in the `parley_open_streams` gauge, and lets shutdown wait for them. How a stream uses it:
 *
 *   const lease = this.streams.acquire(auth.userId);   // 429 over the cap, 503 while shutting down
 *   try {
 *     // stream; when lease.signal aborts, stop the model call, persist the partial reply with
 *     // finish_reason 'shutdown' and end the response
 *   } finally {
 *     lease.release();
 *   }
 *
 * Anonymous streams (legacy /chat) use the client's address as the key: `acquire(\`ip:${request.ip}\`)`.
 */
@Injectable()
export class StreamLimiter {
  private readonly open = new Map<string, number>();
  private total = 0;
  private idle?: () => void;
  /** Gives a burst's memory back once it is over (burst-memory.ts). */
  private readonly memory = new BurstMemoryRelease();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly shutdown: ShutdownService,
    @Inject(LIMITS_OBSERVER) private readonly observer: LimitsObserver,
  ) {
    shutdown.addDrainWaiter(() => this.drained());
  }

  acquire(key: string): StreamLease {
    if (this.shutdown.shuttingDown)
      throw new AppError('unavailable', 'The service is shutting down; try again shortly');
    const count = this.open.get(key) ?? 0;
    if (count >= this.config.STREAMS_PER_USER_MAX) {
      this.observer.recordRateLimited('streams');
      throw new AppError(
        'rate_limited',
        `Too many open streams: at most ${this.config.STREAMS_PER_USER_MAX} at once; wait for one to finish`,
      );
    }
    this.open.set(key, count + 1);
    this.total += 1;
    this.memory.openStreams(this.total);
    this.observer.streamOpened();
    let released = false;
    return {
      signal: this.shutdown.signal,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.open.get(key) ?? 1) - 1;
        if (left > 0) this.open.set(key, left);
        else this.open.delete(key);
        this.total -= 1;
        this.memory.openStreams(this.total);
        this.observer.streamClosed();
        if (this.total === 0) this.idle?.();
      },
    };
  }

  /** Streams open now, for all callers. */
  get size(): number {
    return this.total;
  }

  /** Resolves when no stream is open. */
  drained(): Promise<void> {
    if (this.total === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.idle;
      this.idle = () => {
        this.idle = undefined;
        previous?.();
        resolve();
      };
    });
  }
}
