import { loadConfig } from './app-config.js';
import { oidcProvidersOf } from './oidc-providers.js';

const base = { OIDC_ALGORITHMS: 'RS256,ES256' };

describe('oidcProvidersOf', () => {
  it('reads one provider from OIDC_ISSUER/OIDC_AUDIENCE and several from OIDC_PROVIDERS', () => {
    expect(
      oidcProvidersOf({
        ...base,
        OIDC_ISSUER: 'https://a.example',
        OIDC_AUDIENCE: 'parley',
        OIDC_PROVIDERS: JSON.stringify([
          { issuer: 'https://b.example', audience: 'api', algorithms: ['ES256'] },
        ]),
      }),
    ).toEqual([
      { issuer: 'https://a.example', audience: 'parley', algorithms: ['RS256', 'ES256'] },
      { issuer: 'https://b.example', audience: 'api', algorithms: ['ES256'] },
    ]);
    expect(oidcProvidersOf(base)).toEqual([]);
  });

  it.each([
    [{ OIDC_ISSUER: 'https://a.example' }, 'OIDC_ISSUER and OIDC_AUDIENCE go together'],
    [{ OIDC_PROVIDERS: '{' }, 'OIDC_PROVIDERS must be JSON'],
    [{ OIDC_PROVIDERS: '{}' }, 'must be a JSON array'],
    [{ OIDC_PROVIDERS: '[{"issuer":"ftp://x","audience":"a"}]' }, 'OIDC_PROVIDERS[0].issuer'],
    [{ OIDC_PROVIDERS: '[{"issuer":"https://x","audience":""}]' }, 'OIDC_PROVIDERS[0].audience'],
    [{ OIDC_PROVIDERS: '[{"issuer":"https://x","audience":"a","algorithms":["none"]}]' }, 'algorithms'],
    [{ OIDC_PROVIDERS: '[{"issuer":"https://x","audience":"a","secret":"s"}]' }, 'unknown fields: secret'],
    [
      {
        OIDC_ISSUER: 'https://x',
        OIDC_AUDIENCE: 'a',
        OIDC_PROVIDERS: '[{"issuer":"https://x","audience":"b"}]',
      },
      'configured twice',
    ],
  ])('refuses %j (%s)', (settings, message) => {
    expect(() => oidcProvidersOf({ ...base, ...settings })).toThrow(message);
  });

  it('loadConfig names the variable, and accepts an OIDC provider in place of JWT_SECRET with header mode off', () => {
    expect(() => loadConfig({ OIDC_PROVIDERS: '[1]' })).toThrow(/Invalid configuration: OIDC_PROVIDERS\[0\]/);
    expect(
      loadConfig({ AUTH_HEADER_ENABLED: 'false', OIDC_ISSUER: 'https://a.example', OIDC_AUDIENCE: 'parley' })
        .OIDC_AUTO_PROVISION,
    ).toBe(true);
  });
});
