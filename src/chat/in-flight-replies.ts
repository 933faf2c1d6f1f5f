import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/**
 * The replies being generated and saved, across both chat endpoints. Shutdown stops every one and waits
 * until their partial replies are saved, before the database closes.
 */
@Injectable()
export class InFlightReplies implements BeforeApplicationShutdown {
  private readonly inFlight = new Map<Promise<unknown>, AbortController>();

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
