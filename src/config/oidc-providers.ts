/** One OpenID Connect provider whose tokens identify Parley users. */
export interface OidcProviderConfig {
  /** Exactly as the provider's tokens and discovery document state it. */
  issuer: string;
  /** The `aud` its tokens must carry (the client id Parley's users sign in with, or an API audience). */
  audience: string;
  algorithms: string[];
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

interface OidcSettings {
  OIDC_PROVIDERS?: string;
  OIDC_ISSUER?: string;
  OIDC_AUDIENCE?: string;
  OIDC_ALGORITHMS: string;
}

/**
 * The configured providers: OIDC_PROVIDERS (a JSON array) and/or OIDC_ISSUER with OIDC_AUDIENCE. Throws an
 * Error naming the variable and the problem (loadConfig turns it into a ConfigError).
 */
export function oidcProvidersOf(config: OidcSettings): OidcProviderConfig[] {
  const providers: OidcProviderConfig[] = [];
  if (config.OIDC_ISSUER || config.OIDC_AUDIENCE) {
    if (!config.OIDC_ISSUER || !config.OIDC_AUDIENCE)
      throw new Error('OIDC_ISSUER and OIDC_AUDIENCE go together');
    providers.push({
      issuer: config.OIDC_ISSUER,
      audience: config.OIDC_AUDIENCE,
      algorithms: config.OIDC_ALGORITHMS.split(','),
    });
  }
  if (config.OIDC_PROVIDERS) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(config.OIDC_PROVIDERS);
    } catch {
      throw new Error(
        'OIDC_PROVIDERS must be JSON: [{"issuer": "...", "audience": "...", "algorithms": [...]}]',
      );
    }
    if (!Array.isArray(parsed)) throw new Error('OIDC_PROVIDERS must be a JSON array');
    parsed.forEach((entry: unknown, i) => {
      const e = (entry ?? {}) as Record<string, unknown>;
      const where = `OIDC_PROVIDERS[${i}]`;
      if (typeof e.issuer !== 'string' || !/^https?:\/\/\S+$/.test(e.issuer))
        throw new Error(`${where}.issuer must be an http(s) URL`);
      if (typeof e.audience !== 'string' || e.audience.length === 0)
        throw new Error(`${where}.audience must be a non-empty string`);
      const algorithms = e.algorithms ?? ['RS256', 'ES256'];
      if (
        !Array.isArray(algorithms) ||
        algorithms.length === 0 ||
        algorithms.some((a) => typeof a !== 'string' || !ALGORITHMS.includes(a))
      )
        throw new Error(`${where}.algorithms must be a non-empty list of ${ALGORITHMS.join(', ')}`);
      const extra = Object.keys(e).filter((k) => !['issuer', 'audience', 'algorithms'].includes(k));
      if (extra.length > 0) throw new Error(`${where} has unknown fields: ${extra.join(', ')}`);
      providers.push({ issuer: e.issuer, audience: e.audience, algorithms: algorithms as string[] });
    });
  }
  const issuers = providers.map((p) => p.issuer);
  const duplicate = issuers.find((issuer, i) => issuers.indexOf(issuer) !== i);
  if (duplicate) throw new Error(`OIDC provider ${duplicate} is configured twice`);
  return providers;
}
