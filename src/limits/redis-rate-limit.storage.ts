import { Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { RateLimitHit, RateLimitStorage } from './rate-limit.storage.js';

/** INCR the window's counter, starting the window (PEXPIRE) on its first hit; returns count and ms left. */
const HIT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
`;

type HitCommand = (key: string, windowMs: number) => Promise<[number, number]>;

/**
 * Rate-limit counters in Redis (REDIS_URL), so several instances share every caller's budget: one round
 * trip per request (a small Lua script, cached by Redis).
 *
 * Redis trouble never takes the API down: commands fail fast (no offline queue, 500 ms timeout) and a
 * request whose count failed is let through (logged at most once a minute). Limits are then briefly not
 * enforced, which for a chat service is the better failure than refusing everyone.
 */
export class RedisRateLimitStorage implements RateLimitStorage, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly redis: Redis;
  private lastWarning = 0;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 500,
      connectTimeout: 2000,
      lazyConnect: true,
    });
    this.redis.on('error', (error: Error) => this.warn(`Redis: ${error.message}`));
    this.redis.defineCommand('parleyRateLimitHit', { numberOfKeys: 1, lua: HIT });
  }

  /** Connects at start; an unreachable Redis is logged and retried in the background, never fatal. */
  async onModuleInit(): Promise<void> {
    try {
      await this.redis.connect();
    } catch (error) {
      this.warn(
        `Redis unreachable at start (${(error as Error).message}); limits are not enforced until it answers`,
      );
    }
  }

  async hit(key: string, windowMs: number): Promise<RateLimitHit> {
    try {
      const command = (this.redis as unknown as { parleyRateLimitHit: HitCommand }).parleyRateLimitHit;
      const [count, resetMs] = await command.call(this.redis, `${this.prefix}ratelimit:${key}`, windowMs);
      return { count, resetMs };
    } catch (error) {
      this.warn(`rate limit not counted: ${(error as Error).message}`);
      return { count: 0, resetMs: windowMs };
    }
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }

  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastWarning < 60000) return;
    this.lastWarning = now;
    this.logger.warn(message);
  }
}
