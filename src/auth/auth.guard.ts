import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { AppError } from '../common/app-error.js';
import { isUuid } from '../common/uuid.js';
import type { AuthContext } from './auth-context.js';
import { IGNORES_IDENTITY, IS_PUBLIC } from './auth.decorators.js';
import { INVALID_TOKEN, JwtKeys } from './jwt-keys.js';

type AuthedRequest = FastifyRequest & { user?: AuthContext };

/**
 * Resolves the caller of every route: `Authorization: Bearer <JWT>` (when JWT_SECRET or JWKS_URL is set;
 * verified by passport-jwt, see JwtStrategy and JwtKeys) or `X-User-ID: <uuid>` (when AUTH_HEADER_ENABLED). With header mode off the header is ignored
 * entirely. A bearer token wins over the header. That the user exists is checked by the database in the
 * request's first statement (see DatabaseService).
 */
@Injectable()
export class AuthGuard extends PassportAuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtKeys,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (
      this.reflector.getAllAndOverride<boolean>(IGNORES_IDENTITY, [context.getHandler(), context.getClass()])
    )
      return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const authorization = request.headers.authorization;
    const headerId = this.config.AUTH_HEADER_ENABLED ? request.headers['x-user-id'] : undefined;

    if (authorization !== undefined) {
      if (!this.jwt.enabled) throw AppError.unauthorized('Bearer tokens are not accepted by this server');
      if (!/^Bearer\s+\S+$/i.test(authorization))
        throw AppError.unauthorized('Authorization must be "Bearer <token>"');
      await (super.canActivate(context) as Promise<boolean>);
      return true;
    }
    if (headerId !== undefined) {
      const value = Array.isArray(headerId) ? headerId[0] : headerId;
      if (!value || !isUuid(value.trim())) throw AppError.unauthorized('X-User-ID must be a user id (UUID)');
      request.user = { userId: value.trim().toLowerCase(), via: 'header' };
      return true;
    }
    if (isPublic) return true;
    throw AppError.unauthorized(
      this.config.AUTH_HEADER_ENABLED && this.jwt.enabled
        ? 'Authentication required: send X-User-ID or Authorization: Bearer <JWT>'
        : this.jwt.enabled
          ? 'Authentication required: send Authorization: Bearer <JWT>'
          : 'Authentication required: send X-User-ID',
    );
  }

  /** Maps passport-jwt's outcome to the three messages a client may see (or the key source's own error). */
  override handleRequest<TUser = AuthContext>(error: unknown, user: TUser | false, info: unknown): TUser {
    if (user && !error) return user;
    const reason = error ?? info;
    if (reason instanceof AppError) throw reason;
    const name = (reason as { name?: string } | undefined)?.name;
    if (name === 'TokenExpiredError') throw AppError.unauthorized('The token has expired');
    if (name === 'NotBeforeError') throw AppError.unauthorized('The token is not valid yet');
    throw AppError.unauthorized(INVALID_TOKEN);
  }
}
