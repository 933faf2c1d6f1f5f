import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { AuthContext } from './auth-context.js';

export const IS_PUBLIC = 'parley:isPublic';
export const IGNORES_IDENTITY = 'parley:ignoresIdentity';

/** The route needs no caller; a caller who identifies anyway is still resolved (and may be used). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * The route does not look at identity at all (probes and the metrics scrape): X-User-ID and Authorization are
 * not read, so whatever a scraper or a gateway sends can never turn it into a 401.
 */
export const IgnoresIdentity = () => SetMetadata(IGNORES_IDENTITY, true);

/** The caller resolved by AuthGuard. On a @Public() route it may be undefined. */
export const CurrentAuth = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthContext | undefined => ctx.switchToHttp().getRequest().user,
);

export const NO_API_KEYS = 'parley:noApiKeys';

/**
 * API keys may not call the route (403), whatever their scopes: managing API keys, and administration. On a
 * handler or a whole controller.
 */
export const NoApiKeys = () => SetMetadata(NO_API_KEYS, true);

/** The request's id (as in X-Request-ID, the logs and error bodies): for records such as the audit log. */
export const RequestId = createParamDecorator((_data: unknown, ctx: ExecutionContext): string =>
  String(ctx.switchToHttp().getRequest<{ id: unknown }>().id),
);
