import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { AppError } from '../common/app-error.js';
import { isUuid } from '../common/uuid.js';
import type { AuthContext } from './auth-context.js';
import { isChatRoute } from '../common/route-policy.js';
import { ApiKeysService } from '../api-keys/api-keys.service.js';
import { OidcService } from '../oidc/oidc.service.js';
import { looksLikeApiKey } from '../api-keys/api-key-token.js';
import type { ApiKeyScope } from './auth-context.js';
import { IGNORES_IDENTITY, IS_PUBLIC, NO_API_KEYS } from './auth.decorators.js';
import { INVALID_TOKEN, JwtKeys } from './jwt-keys.js';

type AuthedRequest = FastifyRequest & { user?: AuthContext };

/**
 * Resolves the caller of every route: `Authorization: Bearer pk_...` (an API key, ApiKeysService; its scopes
 * checked against the route here), `Authorization: Bearer <JWT>` of a configured OpenID Connect provider
 * (OidcService: its (issuer, subject) mapped to a user), `Authorization: Bearer <JWT>` (when JWT_SECRET or JWKS_URL is set;
 * verified by passport-jwt, see JwtStrategy and JwtKeys) or `X-User-ID: <uuid>` (when AUTH_HEADER_ENABLED). With header mode off the header is ignored
 * entirely. A bearer token wins over the header. That the user exists is checked by the database in the
 * request's first statement (see DatabaseService).
 */
@Injectable()
export class AuthGuard extends PassportAuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtKeys,
    private readonly apiKeys: ApiKeysService,
    private readonly oidc: OidcService,
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
      const credential = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      if (credential !== undefined && looksLikeApiKey(credential)) {
        const auth = await this.apiKeys.authenticate(credential);
        this.checkScopes(context, request, auth.scopes ?? []);
        request.user = auth;
        return true;
      }
      // A token of a configured OpenID Connect provider (its `iss`): verified and mapped to a user there.
      const viaOidc = credential !== undefined ? await this.oidc.authenticate(credential) : undefined;
      if (viaOidc) {
        request.user = viaOidc;
        return true;
      }
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

  /**
   * What an API key may call: never a @NoApiKeys() route; a route that calls the model needs `chat`, a GET
   * `read`, anything else `write`. Policy of the route (its marks and method), not of its URL.
   */
  private checkScopes(
    context: ExecutionContext,
    request: FastifyRequest,
    scopes: readonly ApiKeyScope[],
  ): void {
    if (this.reflector.getAllAndOverride<boolean>(NO_API_KEYS, [context.getHandler(), context.getClass()]))
      throw AppError.forbidden('API keys cannot be used here: sign in as the user');
    const needed: ApiKeyScope = isChatRoute(request.routeOptions)
      ? 'chat'
      : request.method === 'GET' || request.method === 'HEAD'
        ? 'read'
        : 'write';
    if (!scopes.includes(needed))
      throw AppError.forbidden(`This API key lacks the '${needed}' scope this route needs`);
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
