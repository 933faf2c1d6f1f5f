import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { LIMITS_OBSERVER, type LimitsObserver } from '../common/limits-observer.js';
import { isChatRoute, SKIP_RATE_LIMIT } from '../common/route-policy.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { RateLimitStorage, type RateLimitHit } from './rate-limit.storage.js';

/**
 * Per-caller rate limits, two budgets per RATE_LIMIT_WINDOW_MS: routes marked @ChatRoute()
 * (RATE_LIMIT_CHAT_MAX) and everything else (RATE_LIMIT_MAX); @SkipRateLimit() routes are not counted
 * (both marks: src/common/route-policy.ts). A caller is its user id once that identity is proven (a verified
 * JWT, or an X-User-ID the database has lately confirmed; see count()), else its client address (public
 * routes, anonymous legacy /chat, an X-User-ID not proven yet). All routes of a budget share it. Every answer carries X-RateLimit-Limit/-Remaining/-Reset; a refusal is the usual error
 * shape, 429 `rate_limited`, with Retry-After (seconds until the window ends).
 *
 * Not @nestjs/throttler: its only build is CommonJS that require()s the ESM-only @nestjs/common 12, which
 * Node 20.19 can do but jest's ESM runtime cannot, so no test could load the app. This guard only decides
 * who is counted against which budget; the counting is rate-limiter-flexible's (rate-limit.storage.ts).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly storage: RateLimitStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LIMITS_OBSERVER) private readonly observer: LimitsObserver,
    private readonly database: DatabaseService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!this.config.RATE_LIMIT_ENABLED || context.getType() !== 'http') return true;
    if (
      this.reflector.getAllAndOverride<boolean>(SKIP_RATE_LIMIT, [context.getHandler(), context.getClass()])
    )
      return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { user?: AuthContext }>();
    const reply = http.getResponse<FastifyReply>();
    const chat = isChatRoute(request.routeOptions);
    const budget = chat ? 'chat' : 'default';
    const limit = chat ? this.config.RATE_LIMIT_CHAT_MAX : this.config.RATE_LIMIT_MAX;
    const { allowed, remaining, resetMs } = await this.count(budget, request);
    const resetSeconds = Math.max(1, Math.ceil(resetMs / 1000));
    void reply.header('x-ratelimit-limit', limit);
    void reply.header('x-ratelimit-remaining', remaining);
    void reply.header('x-ratelimit-reset', resetSeconds);
    if (allowed) return true;
    void reply.header('retry-after', resetSeconds);
    this.observer.recordRateLimited(budget);
    throw new AppError(
      'rate_limited',
      `Too many ${chat ? 'chat ' : ''}requests: at most ${limit} per ${Math.round(this.config.RATE_LIMIT_WINDOW_MS / 1000)} s; retry after ${resetSeconds} s`,
    );
  }

  /**
   * Charges the request to its caller's budget. A caller is proven when a verified JWT names it, or when the
   * database has lately shown its X-User-ID to exist (KnownUsers): it is counted per user. Anyone else is
   * counted by client address, so a client over its address budget cannot go on by sending random X-User-ID
   * values, and none of those opens a database transaction. A claimed id within the address budget is
   * charged to that id's budget too, so a real user's count is the same whether or not this instance has
   * seen them lately. The answer is the tighter of the two.
   */
  private async count(
    budget: string,
    request: FastifyRequest & { user?: AuthContext },
  ): Promise<RateLimitHit> {
    const user = request.user;
    const proven =
      user !== undefined &&
      (user.via === 'jwt' || user.via === 'api_key' || this.database.knownUsers.has(user.userId));
    if (proven) return this.storage.hit(budget, `user:${user.userId}`);
    const byAddress = await this.storage.hit(budget, `ip:${request.ip}`);
    if (!byAddress.allowed || !user) return byAddress;
    const byUser = await this.storage.hit(budget, `user:${user.userId}`);
    return !byUser.allowed || byUser.remaining < byAddress.remaining ? byUser : byAddress;
  }
}
