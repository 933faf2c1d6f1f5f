import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTVerifyGetKey } from 'jose';
import { KeyObject } from 'node:crypto';
import { AppError } from '../common/app-error.js';
import { isUuid } from '../common/uuid.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';

/** The only detail a client learns about a rejected token: expired, not valid yet, or invalid. */
export const INVALID_TOKEN = 'The token is invalid';

type Source = 'secret' | 'jwks';

/**
 * Where a bearer JWT's key comes from, and the claims each source requires. passport-jwt (JwtStrategy) does the
 * verification itself; this class only answers its two questions:
 * - which key verifies this token: JWT_SECRET for HS256, or the identity provider's published key for
 *   RS256/ES256 (JWKS_ALGORITHMS). The token's `alg` picks the source and each source serves only its own
 *   algorithms, so an RSA public key can never be used as an HMAC secret and `alg: none` matches nothing.
 *   The remote key set comes from `jose` (passport-jwt has no JWKS client): cached, downloaded again when a
 *   token names an unknown `kid`, at most once per JWKS_COOLDOWN_MS so unknown kids cannot flood the provider;
 * - whether the verified claims are acceptable: `exp` present, `sub` a UUID, and the source's issuer and
 *   audience (JWT_ISSUER/JWT_AUDIENCE for HS256, JWKS_ISSUER/JWKS_AUDIENCE for the identity provider).
 */
@Injectable()
export class JwtKeys {
  private readonly secret?: string;
  private readonly jwks?: JWTVerifyGetKey;
  private readonly jwksAlgorithms: string[];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.secret = config.JWT_SECRET;
    this.jwksAlgorithms = config.JWKS_ALGORITHMS.split(',');
    if (config.JWKS_URL) {
      this.jwks = createRemoteJWKSet(new URL(config.JWKS_URL), {
        cooldownDuration: config.JWKS_COOLDOWN_MS,
        cacheMaxAge: 10 * 60 * 1000,
        timeoutDuration: 5000,
      });
    }
  }

  /** Whether bearer tokens are accepted at all. */
  get enabled(): boolean {
    return this.secret !== undefined || this.jwks !== undefined;
  }

  /** Every algorithm some source accepts (passport-jwt's allow-list). */
  get algorithms(): string[] {
    return [...(this.secret ? ['HS256'] : []), ...(this.jwks ? this.jwksAlgorithms : [])];
  }

  private sourceOf(rawJwt: string): Source {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(rawJwt).alg;
    } catch {
      throw AppError.unauthorized(INVALID_TOKEN);
    }
    if (alg === 'HS256' && this.secret) return 'secret';
    if (alg !== undefined && this.jwks && this.jwksAlgorithms.includes(alg)) return 'jwks';
    throw AppError.unauthorized(INVALID_TOKEN);
  }

  /** The key that must verify this token (for passport-jwt's secretOrKeyProvider). */
  async keyFor(rawJwt: string): Promise<string | KeyObject> {
    if (this.sourceOf(rawJwt) === 'secret') return this.secret!;
    const [protectedHeader, payload, signature] = rawJwt.split('.');
    try {
      const header = decodeProtectedHeader(rawJwt) as Parameters<JWTVerifyGetKey>[0];
      const key = await this.jwks!(header, { protected: protectedHeader, payload, signature });
      return key instanceof KeyObject ? key : KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
    } catch (error) {
      throw keySetError(error);
    }
  }

  /** The caller's user id from a verified payload; 401 when a claim is missing or not the source's. */
  userIdFrom(rawJwt: string, payload: Record<string, unknown>): string {
    const source = this.sourceOf(rawJwt);
    const issuer = source === 'secret' ? this.config.JWT_ISSUER : this.config.JWKS_ISSUER;
    const audience = source === 'secret' ? this.config.JWT_AUDIENCE : this.config.JWKS_AUDIENCE;
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (typeof payload.exp !== 'number') throw AppError.unauthorized(INVALID_TOKEN);
    if (issuer !== undefined && payload.iss !== issuer) throw AppError.unauthorized(INVALID_TOKEN);
    if (audience !== undefined && !audiences.includes(audience)) throw AppError.unauthorized(INVALID_TOKEN);
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) throw AppError.unauthorized(INVALID_TOKEN);
    return payload.sub.toLowerCase();
  }
}

function keySetError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  // The identity provider's key set could not be fetched: not the client's fault, and nothing to retry with
  // another token. Anything else (unknown kid, malformed key) says only "invalid".
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid)
    return new AppError('unavailable', 'The identity provider could not be reached; try again shortly');
  // jose reports a non-200 answer as a plain JOSEError, and lets fetch()'s own TypeError through.
  if (
    (error instanceof errors.JOSEError && /Expected 200 OK/.test(error.message)) ||
    (error instanceof TypeError && /fetch failed/i.test(error.message))
  )
    return new AppError('unavailable', 'The identity provider could not be reached; try again shortly');
  return AppError.unauthorized(INVALID_TOKEN);
}
