import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { AuthContext } from './auth-context.js';
import { isUuid } from '../common/uuid.js';

interface JwtPayload {
  sub?: unknown;
}

/** HS256 bearer tokens signed with JWT_SECRET; `sub` is the user id. Expiry is enforced by passport-jwt. */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // When JWT_SECRET is unset the guard never calls this strategy; the placeholder only satisfies the type.
      secretOrKey: config.JWT_SECRET ?? 'jwt-disabled',
      algorithms: ['HS256'],
      ignoreExpiration: false,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
    });
  }

  validate(payload: JwtPayload): AuthContext | false {
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) return false;
    return { userId: payload.sub.toLowerCase(), via: 'jwt' };
  }
}
