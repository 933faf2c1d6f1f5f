import { ConfigError, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PGLITE_DATA_DIR).toBe('.parley-data');
    expect(config.AUTH_HEADER_ENABLED).toBe(true);
    expect(config.LLM_PROVIDER).toBe('builtin');
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
  ])('rejects %j with a message naming the variable', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });
});
