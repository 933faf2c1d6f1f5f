import { readFileSync } from 'node:fs';
import { LLM_PROVIDERS } from '../llm/providers.js';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PGLITE_DATA_DIR).toBe('.parley-data');
    expect(config.AUTH_HEADER_ENABLED).toBe(true);
    expect(config.LLM_PROVIDER).toBe('builtin');
    // Every pooled connection stays open once opened; idle ones above DB_POOL_MIN close after a minute.
    expect(config.DB_POOL_MIN).toBeUndefined();
    expect(config.DB_POOL_IDLE_TIMEOUT_MS).toBe(60000);
  });

  it('accepts header mode off with only an identity provider (JWKS) configured', () => {
    const config = loadConfig({
      AUTH_HEADER_ENABLED: 'false',
      JWKS_URL: 'https://idp.example/.well-known/jwks.json',
      JWKS_ISSUER: 'https://idp.example/',
      JWKS_AUDIENCE: 'parley',
    });
    expect(config.JWKS_URL).toBe('https://idp.example/.well-known/jwks.json');
    expect(config.JWKS_ALGORITHMS).toBe('RS256,ES256');
    expect(config.SHUTDOWN_GRACE_MS).toBe(10000);
  });

  it('converts numbers and booleans from their string form', () => {
    const config = loadConfig({ PORT: '8080', AUTH_HEADER_ENABLED: 'false', JWT_SECRET: 'x'.repeat(32) });
    expect(config.PORT).toBe(8080);
    expect(config.AUTH_HEADER_ENABLED).toBe(false);
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ LLM_PROVIDER: 'openai-compatible' }, /LLM_BASE_URL/],
    [{ LLM_PROVIDER: 'anthropic' }, /LLM_API_KEY/],
    [{ AUTH_HEADER_ENABLED: 'false' }, /JWT_SECRET/],
    [{ DB_MIGRATE_ON_START: 'perhaps' }, /DB_MIGRATE_ON_START/],
    [{ JWKS_URL: 'ftp://idp.example/jwks' }, /JWKS_URL/],
    [{ JWKS_URL: 'https://idp.example/jwks', JWKS_AUDIENCE: 'parley' }, /JWKS_ISSUER/],
    [{ JWKS_ALGORITHMS: 'RS256,HS256' }, /JWKS_ALGORITHMS/],
    [{ REDIS_URL: 'http://cache:6379' }, /REDIS_URL/],
    [{ CORS_ORIGINS: 'example.com' }, /CORS_ORIGINS/],
    [{ TRUST_PROXY: 'sometimes' }, /TRUST_PROXY/],
    [{ SHUTDOWN_GRACE_MS: '10' }, /SHUTDOWN_GRACE_MS/],
    [{ RATE_LIMIT_MAX: '0' }, /RATE_LIMIT_MAX/],
    [{ DB_STATEMENT_TIMEOUT_MS: 'soon' }, /DB_STATEMENT_TIMEOUT_MS/],
    [{ DB_POOL_MIN: '-1' }, /DB_POOL_MIN/],
    [{ DB_POOL_MAX: '5', DB_POOL_MIN: '6' }, /DB_POOL_MIN \(6\) must not exceed DB_POOL_MAX \(5\)/],
    [{ DB_POOL_IDLE_TIMEOUT_MS: '10' }, /DB_POOL_IDLE_TIMEOUT_MS/],
  ])('rejects %j with a message naming the variable', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it('reads the optional variables too (the list of variables comes from the validation rules)', () => {
    const optional = {
      DATABASE_URL: 'postgresql://db/parley',
      DB_POOL_MIN: '2',
      JWT_SECRET: 'x'.repeat(32),
      JWT_ISSUER: 'issuer',
      JWT_AUDIENCE: 'audience',
      JWKS_URL: 'https://idp.example/jwks',
      JWKS_ISSUER: 'https://idp.example/',
      JWKS_AUDIENCE: 'parley',
      LLM_MODEL: 'a-model',
      LLM_BASE_URL: 'http://llm.example/v1',
      LLM_API_KEY: 'key',
      REDIS_URL: 'redis://cache:6379',
      CORS_ORIGINS: '*',
    };
    const config = loadConfig(optional) as unknown as Record<string, unknown>;
    for (const [name, value] of Object.entries(optional)) {
      expect([name, String(config[name])]).toEqual([name, value]);
    }
  });

  it("names exactly the variables of the README's configuration table", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\|/gm)].map((match) => match[1]);
    expect([...ENVIRONMENT_VARIABLES].sort()).toEqual([...documented].sort());
  });

  it('accepts exactly the providers of the registry as LLM_PROVIDER', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'mystery' })).toThrow(
      `LLM_PROVIDER must be one of the following values: ${LLM_PROVIDERS.map((p) => p.name).join(', ')}`,
    );
  });

  it('requires of each provider what docs/chat.md says', () => {
    expect(Object.fromEntries(LLM_PROVIDERS.map((p) => [p.name, p.requires]))).toEqual({
      builtin: [],
      openai: ['LLM_API_KEY'],
      'openai-compatible': ['LLM_BASE_URL'],
      anthropic: ['LLM_API_KEY'],
    });
  });

  describe.each(LLM_PROVIDERS.map((provider) => [provider.name, provider] as const))(
    'LLM_PROVIDER=%s',
    (name, provider) => {
      const complete = { LLM_PROVIDER: name, LLM_API_KEY: 'key', LLM_BASE_URL: 'http://llm.example/v1' };

      it('boots with what it requires', () => {
        expect(loadConfig(complete).LLM_PROVIDER).toBe(name);
      });

      it('stops at boot without each variable it requires, naming it and the provider', () => {
        for (const variable of provider.requires) {
          expect(() => loadConfig({ ...complete, [variable]: '' })).toThrow(
            new ConfigError(`Invalid configuration: ${variable} is required when LLM_PROVIDER is ${name}`),
          );
        }
      });
    },
  );
});
