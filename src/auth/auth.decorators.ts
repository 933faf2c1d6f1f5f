import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { AuthContext } from './auth-context.js';

export const IS_PUBLIC = 'parley:isPublic';

/** The route needs no caller; a caller who identifies anyway is still resolved (and may be used). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** The caller resolved by AuthGuard. On a @Public() route it may be undefined. */
export const CurrentAuth = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthContext | undefined => ctx.switchToHttp().getRequest().user,
);
