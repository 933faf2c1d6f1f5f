import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { AuthContext } from './auth-context.js';
import { JwtKeys } from './jwt-keys.js';

const bearer = ExtractJwt.fromAuthHeaderAsBearerToken();

/**
 * Bearer JWTs through passport-jwt: signature, `exp` and `nbf` checked by jsonwebtoken with the key JwtKeys
 * picks for the token (HS256 secret or the identity provider's key); the claims each source requires are
 * checked in validate().
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly keys: JwtKeys,
  ) {
    super({
      jwtFromRequest: bearer,
      // jsonwebtoken accepts a KeyObject for the identity provider's keys; @types/passport-jwt only lists
      // string | Buffer, hence the cast.
      secretOrKeyProvider: (_request, rawJwt: string, done) => {
        keys.keyFor(rawJwt).then(
          (key) => done(null, key as string),
          (error: unknown) => done(error),
        );
      },
      // An empty allow-list would let jsonwebtoken infer algorithms from the key; the guard never calls this
      // strategy when no source is configured, so 'HS256' there only keeps the list non-empty.
      algorithms: keys.algorithms.length > 0 ? (keys.algorithms as never) : ['HS256'],
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS },
      passReqToCallback: true,
    });
  }

  validate(request: FastifyRequest, payload: Record<string, unknown>): AuthContext {
    const rawJwt = bearer(request as never) ?? '';
    return { userId: this.keys.userIdFrom(rawJwt, payload), via: 'jwt' };
  }
}
