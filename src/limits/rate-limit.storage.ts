import { Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';

/** One caller's count in the current window of one budget. */
export interface RateLimitHit {
  /** Whether this request fits in the budget. */
  allowed: boolean;
  /** Requests left in this window after this one. */
  remaining: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number;
}

export interface RateLimitBudget {
  name: string;
  points: number;
  windowMs: number;
}

/**
 * Where rate-limit counters live, by rate-limiter-flexible: fixed windows per key, in this process by default,
 * or in Redis (REDIS_URL) so several instances share every caller's budget. When Redis fails, an in-memory
 * insurance limiter takes over, so limits stay enforced per instance rather than being dropped or refusing
 * everyone; a warning is logged at most once a minute.
 */
export class RateLimitStorage implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly redis?: Redis;
  private lastWarning = 0;

  constructor(budgets: RateLimitBudget[], redisUrl?: string, keyPrefix = 'parley:') {
    if (redisUrl) {
      this.redis = new Redis(redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 500,
        connectTimeout: 2000,
        lazyConnect: true,
      });
      this.redis.on('error', (error: Error) => this.warn(`Redis: ${error.message}`));
    }
    for (const budget of budgets) {
      const options = {
        keyPrefix: `${keyPrefix}ratelimit:${budget.name}`,
        points: budget.points,
        duration: Math.max(1, Math.ceil(budget.windowMs / 1000)),
      };
      this.limiters.set(
        budget.name,
        this.redis
          ? new RateLimiterRedis({
              ...options,
              storeClient: this.redis,
              insuranceLimiter: new RateLimiterMemory(options),
            })
          : new RateLimiterMemory(options),
      );
    }
  }

  /** Connects at start; an unreachable Redis is logged and retried in the background, never fatal. */
  async onModuleInit(): Promise<void> {
    if (!this.redis) return;
    try {
      await this.redis.connect();
    } catch (error) {
      this.warn(
        `Redis unreachable at start (${(error as Error).message}); counting in memory until it answers`,
      );
    }
  }

  async hit(budget: string, key: string): Promise<RateLimitHit> {
    const limiter = this.limiters.get(budget);
    if (!limiter) throw new Error(`unknown rate-limit budget ${budget}`);
    if (this.redis && this.redis.status !== 'ready') this.warn('Redis not ready; counting in memory');
    try {
      const result = await limiter.consume(key, 1);
      return { allowed: true, remaining: result.remainingPoints, resetMs: result.msBeforeNext };
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) {
        return { allowed: false, remaining: 0, resetMs: refusal.msBeforeNext };
      }
      throw refusal;
    }
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }

  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastWarning < 60000) return;
    this.lastWarning = now;
    this.logger.warn(message);
  }
}
