import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';

/** Something that must finish before the database closes (open streams saving their partial replies). */
export type DrainWaiter = () => Promise<void>;

/**
 * Graceful shutdown, in the order SIGTERM needs (main.ts calls `begin()`, then `app.close()`):
 *
 * 1. `begin()`: readiness turns 503, the listening socket closes (no new connections; idle keep-alive ones
 *    are closed by Node), and `signal` aborts with reason `'shutdown'`. Streaming chats listen to it, stop the
 *    model call, save the partial reply with finish_reason `shutdown` and end their response.
 * 2. `beforeApplicationShutdown` (inside `app.close()`): waits for the drain waiters (open streams) until
 *    SHUTDOWN_GRACE_MS minus a second has passed; past that it closes the remaining connections.
 * 3. Nest then closes Fastify, which waits for in-flight requests, and DatabaseService closes the pool.
 *
 * main.ts exits 0 when all of that is done, and 1 if it is still going when the grace period ends.
 */
@Injectable()
export class ShutdownService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  private readonly controller = new AbortController();
  private readonly waiters = new Set<DrainWaiter>();
  private startedAt?: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** Aborts (reason `'shutdown'`) when the service starts shutting down. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get shuttingDown(): boolean {
    return this.controller.signal.aborted;
  }

  /** Registers work that shutdown waits for (bounded by the grace period) before the database closes. */
  addDrainWaiter(waiter: DrainWaiter): void {
    this.waiters.add(waiter);
  }

  /** Starts shutting down; idempotent. */
  begin(): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = Date.now();
    const server = this.server();
    if (server?.listening) server.close();
    this.controller.abort('shutdown');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.begin();
    const grace = this.config.SHUTDOWN_GRACE_MS;
    const deadline = (this.startedAt ?? Date.now()) + Math.max(grace - 1000, grace / 2);
    const drained = Promise.all([...this.waiters].map((wait) => wait())).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    });
    const inTime = await Promise.race([drained, late]);
    clearTimeout(timer);
    if (!inTime) {
      this.logger.warn('Open streams did not end within the grace period; closing their connections');
      this.server()?.closeAllConnections();
    }
  }

  private server(): Server | undefined {
    return this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
  }
}
