import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { RequestTimeoutInterceptor } from '../common/request-timeout.interceptor.js';
import type { AppConfig } from '../config/app-config.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { MemoryRateLimitStorage, RATE_LIMIT_STORAGE, type RateLimitStorage } from './rate-limit.storage.js';
import { RedisRateLimitStorage } from './redis-rate-limit.storage.js';
import { StreamLimiter } from './stream-limiter.js';

/**
 * Abuse limits: per-caller rate limits (RateLimitGuard), the request timeout, and the cap on open streams
 * (StreamLimiter, exported for the chat routes). Import it after AuthModule: global guards run in
 * registration order, and the rate limit counts the caller that AuthGuard resolved.
 */
@Global()
@Module({})
export class LimitsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const storage: RateLimitStorage = config.REDIS_URL
      ? new RedisRateLimitStorage(config.REDIS_URL, config.REDIS_KEY_PREFIX)
      : new MemoryRateLimitStorage();
    return {
      module: LimitsModule,
      providers: [
        { provide: RATE_LIMIT_STORAGE, useValue: storage },
        StreamLimiter,
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_INTERCEPTOR, useClass: RequestTimeoutInterceptor },
      ],
      exports: [StreamLimiter],
    };
  }
}
