import { Inject, Injectable } from '@nestjs/common';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { AppError } from '../common/app-error.js';
import { isUuid } from '../common/uuid.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';

/** The only detail a client learns about a rejected token: expired, not valid yet, or invalid. */
const INVALID = 'The token is invalid';

/**
 * Verifies bearer JWTs, from two sources that may both be configured:
 * - HS256 tokens signed with JWT_SECRET (checked against JWT_ISSUER/JWT_AUDIENCE when set);
 * - RS256/ES256 (JWKS_ALGORITHMS) tokens from an identity provider, verified with the keys its JWKS_URL
 *   publishes and always checked against JWKS_ISSUER and JWKS_AUDIENCE.
 *
 * Both go through `jose` (earlier versions used passport-jwt for HS256): one verifier means one list of
 * accepted algorithms, one clock tolerance and one mapping of failures to the three messages a client may
 * see. The token's `alg` header picks the key source, and each source accepts only its own algorithms, so an
 * RSA public key can never be used as an HMAC secret and `alg: none` matches nothing. The remote key set is
 * cached by jose and downloaded again when a token names an unknown `kid` (at most once per
 * JWKS_COOLDOWN_MS, so unknown kids cannot be used to flood the identity provider).
 */
@Injectable()
export class JwtVerifier {
  private readonly secret?: Uint8Array;
  private readonly jwks?: JWTVerifyGetKey;
  private readonly jwksAlgorithms: string[];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    if (config.JWT_SECRET) this.secret = new TextEncoder().encode(config.JWT_SECRET);
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

  /** The user id (`sub`, a UUID, lower-cased) of a valid token; an AppError (401, or 503) otherwise. */
  async verify(token: string): Promise<string> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw AppError.unauthorized(INVALID);
    }
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && this.secret) {
        ({ payload } = await jwtVerify(token, this.secret, {
          algorithms: ['HS256'],
          issuer: this.config.JWT_ISSUER,
          audience: this.config.JWT_AUDIENCE,
          clockTolerance: this.config.JWT_CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        }));
      } else if (alg !== undefined && this.jwks && this.jwksAlgorithms.includes(alg)) {
        ({ payload } = await jwtVerify(token, this.jwks, {
          algorithms: this.jwksAlgorithms,
          issuer: this.config.JWKS_ISSUER,
          audience: this.config.JWKS_AUDIENCE,
          clockTolerance: this.config.JWT_CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        }));
      } else {
        throw AppError.unauthorized(INVALID);
      }
    } catch (error) {
      throw toAppError(error);
    }
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) throw AppError.unauthorized(INVALID);
    return payload.sub.toLowerCase();
  }
}

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired) return AppError.unauthorized('The token has expired');
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf')
    return AppError.unauthorized('The token is not valid yet');
  // The identity provider's key set could not be fetched: not the client's fault, and nothing to retry with
  // another token. Everything else (signature, issuer, audience, unknown kid, malformed) says only "invalid".
  if (isKeySetFailure(error))
    return new AppError('unavailable', 'The identity provider could not be reached; try again shortly');
  return AppError.unauthorized(INVALID);
}

function isKeySetFailure(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return true;
  // jose reports a non-200 answer as a plain JOSEError, and lets fetch()'s own TypeError through.
  if (error instanceof errors.JOSEError) return /Expected 200 OK/.test(error.message);
  return error instanceof TypeError && /fetch failed/i.test(error.message);
}
