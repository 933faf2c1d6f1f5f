import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  createRemoteJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { AppError } from '../common/app-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { oidcProvidersOf, type OidcProviderConfig } from '../config/oidc-providers.js';

const INVALID_TOKEN = 'The token is invalid';
const UNREACHABLE = 'The identity provider could not be reached; try again shortly';
/** After a failed discovery, the next request tries again no sooner than this. */
const DISCOVERY_RETRY_MS = 5000;
const FETCH_TIMEOUT_MS = 5000;

interface ProviderKeys {
  keys?: JWTVerifyGetKey;
  pending?: Promise<JWTVerifyGetKey>;
  failedAt?: number;
}

/** A token a configured provider signed, verified: its provider and claims. */
export interface VerifiedOidcToken {
  provider: OidcProviderConfig;
  claims: JWTPayload & Record<string, unknown>;
}

/**
 * Verifies tokens of the configured OpenID Connect providers (OIDC_PROVIDERS, OIDC_ISSUER) with `jose`:
 * the token's unverified `iss` picks the provider (a token of any other issuer is not this class's); the
 * provider's discovery document (`<issuer>/.well-known/openid-configuration`, whose `issuer` must match)
 * gives its `jwks_uri`, read once and kept; the key set is cached and downloaded again when a token names an
 * unknown `kid` (key rotation), at most once per JWKS_COOLDOWN_MS. The signature, `iss`, `aud` (the
 * provider's audience), the provider's algorithms, `exp` (required) and `nbf` are checked.
 */
@Injectable()
export class OidcVerifier {
  private readonly logger = new Logger('OIDC');
  private readonly providers: OidcProviderConfig[];
  private readonly keys = new Map<string, ProviderKeys>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.providers = oidcProvidersOf(config);
  }

  get enabled(): boolean {
    return this.providers.length > 0;
  }

  /** The configured provider that claims to have issued this JWT (unverified), if any. */
  providerOf(token: string): OidcProviderConfig | undefined {
    if (!this.enabled) return undefined;
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return undefined;
    }
    return this.providers.find((p) => p.issuer === issuer);
  }

  async verify(token: string, provider: OidcProviderConfig): Promise<VerifiedOidcToken> {
    const keys = await this.keysOf(provider);
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: provider.issuer,
        audience: provider.audience,
        algorithms: provider.algorithms,
        clockTolerance: this.config.JWT_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      });
      return { provider, claims: payload as VerifiedOidcToken['claims'] };
    } catch (error) {
      throw verificationError(error);
    }
  }

  private keysOf(provider: OidcProviderConfig): Promise<JWTVerifyGetKey> {
    let entry = this.keys.get(provider.issuer);
    if (!entry) this.keys.set(provider.issuer, (entry = {}));
    if (entry.keys) return Promise.resolve(entry.keys);
    if (entry.pending) return entry.pending;
    if (entry.failedAt !== undefined && Date.now() - entry.failedAt < DISCOVERY_RETRY_MS)
      return Promise.reject(new AppError('unavailable', UNREACHABLE));
    const current = entry;
    current.pending = this.discover(provider).then(
      (keys) => {
        current.keys = keys;
        current.pending = undefined;
        return keys;
      },
      (error: unknown) => {
        current.pending = undefined;
        current.failedAt = Date.now();
        this.logger.warn(`discovery of ${provider.issuer} failed: ${(error as Error).message}`);
        throw new AppError('unavailable', UNREACHABLE);
      },
    );
    return current.pending;
  }

  private async discover(provider: OidcProviderConfig): Promise<JWTVerifyGetKey> {
    const url = `${provider.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== provider.issuer)
      throw new Error(`${url} names issuer ${JSON.stringify(document.issuer)}, not ${provider.issuer}`);
    if (typeof document.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`);
    return createRemoteJWKSet(new URL(document.jwks_uri), {
      cooldownDuration: this.config.JWKS_COOLDOWN_MS,
      cacheMaxAge: 10 * 60 * 1000,
      timeoutDuration: FETCH_TIMEOUT_MS,
    });
  }
}

function verificationError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired) return AppError.unauthorized('The token has expired');
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf')
    return AppError.unauthorized('The token is not valid yet');
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid)
    return new AppError('unavailable', UNREACHABLE);
  if (
    (error instanceof errors.JOSEError && /Expected 200 OK/.test(error.message)) ||
    (error instanceof TypeError && /fetch failed/i.test(error.message))
  )
    return new AppError('unavailable', UNREACHABLE);
  return AppError.unauthorized(INVALID_TOKEN);
}
