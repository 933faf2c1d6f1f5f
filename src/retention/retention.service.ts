import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { MetricsService } from '../metrics/metrics.service.js';

/** Sessions deleted per purge statement; a purge repeats until fewer come back. */
export const PURGE_BATCH = 1000;

/** Deletes up to $2 sessions expired at $1; NULL when another instance holds the purge's advisory lock. */
const PURGE = 'SELECT app.purge_expired_sessions($1::timestamptz, $2::int) AS purged';

/**
 * The purge job of issue 15 §4. Expired sessions are already invisible to requests (the sessions policy);
 * this deletes them, with their messages, search rows, stream chunks and stored idempotent replies, every
 * RETENTION_PURGE_INTERVAL_MS. One instance at a time: each batch runs under a transaction-level advisory lock
 * (an instance that does not get it skips the round). Maintenance work: the connecting role, no caller.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Retention');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.purge()
        .catch((error: Error) => this.logger.warn(`purge failed: ${error.message}`))
        .finally(() => (this.running = undefined));
    }, this.config.RETENTION_PURGE_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * Deletes every session expired at `now` (the clock is a parameter, so tests can run it in the future).
   * Returns how many were deleted, or null when another instance was purging.
   */
  async purge(now: Date = new Date()): Promise<number | null> {
    let total = 0;
    for (;;) {
      const [row] = await this.database
        .maintenance()
        .query<{ purged: number | null }>(PURGE, [now.toISOString(), PURGE_BATCH]);
      if (row?.purged === null || row?.purged === undefined) return total > 0 ? total : null;
      total += row.purged;
      this.metrics.sessionsPurged(row.purged);
      if (row.purged < PURGE_BATCH) return total;
    }
  }
}
