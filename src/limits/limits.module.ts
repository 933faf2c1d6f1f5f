import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { AppConfig } from '../config/app-config.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitStorage } from './rate-limit.storage.js';
import { StreamLimiter } from './stream-limiter.js';

/**
 * Abuse limits: per-caller rate limits (RateLimitGuard) and the cap on open streams (StreamLimiter, exported
 * for the chat routes); the request timeout is a pair of Fastify hooks (src/common/request-timeout.ts).
 * Import it after AuthModule: global guards run in registration order, and the rate limit counts the caller
 * that AuthGuard resolved.
 */
@Global()
@Module({})
export class LimitsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const storage = new RateLimitStorage(
      [
        { name: 'default', points: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS },
        { name: 'chat', points: config.RATE_LIMIT_CHAT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS },
      ],
      config.REDIS_URL,
      config.REDIS_KEY_PREFIX,
    );
    return {
      module: LimitsModule,
      providers: [
        { provide: RateLimitStorage, useValue: storage },
        StreamLimiter,
        { provide: APP_GUARD, useClass: RateLimitGuard },
      ],
      exports: [StreamLimiter],
    };
  }
}
