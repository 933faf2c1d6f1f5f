import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import { createUser } from './support/factories.js';
import { createOpsTestApp, type OpsTestApp } from './support/ops-app.js';
import { DATABASE_KIND } from './support/test-app.js';

const ISSUER = 'https://idp.test/';
const AUDIENCE = 'parley-api';
const SECRET = 'hs256-secret-of-at-least-thirty-two-characters';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(alg: 'RS256' | 'ES256', kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A JWKS endpoint on 127.0.0.1 serving the public halves of `published`, counting its downloads. */
class JwksServer {
  published: SigningKey[] = [];
  downloads = 0;
  failing = false;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      this.downloads += 1;
      if (this.failing) {
        response.writeHead(500).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: this.published.map((k) => k.jwk) }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

interface Claims {
  sub?: string;
  iss?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
}

const now = () => Math.floor(Date.now() / 1000);

function sign(key: SigningKey, claims: Claims = {}, header: Record<string, unknown> = {}): Promise<string> {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .setIssuedAt()
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setExpirationTime(claims.exp ?? now() + 300);
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(key.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe(`JWT verification against an identity provider's JWKS (${DATABASE_KIND})`, () => {
  const jwks = new JwksServer();
  let rsa: SigningKey;
  let ec: SigningKey;
  let t: OpsTestApp;
  let userId: string;

  beforeAll(async () => {
    rsa = await signingKey('RS256');
    ec = await signingKey('ES256');
    jwks.published = [rsa, ec];
    const url = await jwks.start();
    t = await createOpsTestApp({
      JWKS_URL: url,
      JWKS_ISSUER: ISSUER,
      JWKS_AUDIENCE: AUDIENCE,
      JWKS_COOLDOWN_MS: '0',
      JWT_SECRET: SECRET,
      AUTH_HEADER_ENABLED: 'false',
    });
    userId = (await createUser(t.app)).user_id;
  });
  afterAll(async () => {
    await t?.close();
    await jwks.stop();
  });

  const me = (token: string, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { authorization: `Bearer ${token}`, ...headers },
    });

  it.each(['RS256', 'ES256'] as const)('a valid %s token authenticates as its subject', async (alg) => {
    const response = await me(await sign(alg === 'RS256' ? rsa : ec, { sub: userId }));
    expect(response.statusCode).toBe(200);
    expect(response.json().user_id).toBe(userId);
  });

  it('HS256 tokens signed with JWT_SECRET keep working beside the identity provider', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    expect((await me(token)).statusCode).toBe(200);
  });

  it('keys are cached: many requests, one download', async () => {
    const before = jwks.downloads;
    for (let i = 0; i < 5; i++) expect((await me(await sign(rsa, { sub: userId }))).statusCode).toBe(200);
    expect(jwks.downloads).toBe(before);
  });

  it('a token signed with a new key (unknown kid) makes Parley download the key set again', async () => {
    const rotated = await signingKey('ES256');
    jwks.published = [rsa, ec, rotated];
    const before = jwks.downloads;
    const response = await me(await sign(rotated, { sub: userId }));
    expect(response.statusCode).toBe(200);
    expect(jwks.downloads).toBe(before + 1);
  });

  it('an expired token is 401 and says it expired', async () => {
    const response = await me(await sign(rsa, { sub: userId, exp: now() - 60 }));
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'unauthorized', message: 'The token has expired' });
  });

  it('a token that is not valid yet is 401', async () => {
    const response = await me(await sign(rsa, { sub: userId, nbf: now() + 3600 }));
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'unauthorized', message: 'The token is not valid yet' });
  });

  const invalid: [string, () => Promise<string>][] = [
    ['a wrong issuer', () => sign(rsa, { sub: userId, iss: 'https://evil.test/' })],
    ['a wrong audience', () => sign(rsa, { sub: userId, aud: 'another-app' })],
    [
      'a key the identity provider never published (same kid)',
      async () => sign({ ...(await signingKey('RS256', rsa.kid)) }, { sub: userId }),
    ],
    [
      'a key the identity provider never published (unknown kid)',
      async () => sign(await signingKey('ES256'), { sub: userId }),
    ],
    [
      'alg "none"',
      async () =>
        `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: userId, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.`,
    ],
    [
      'a tampered payload (another sub, original signature)',
      async () => {
        const [header, , signature] = (await sign(rsa, { sub: randomUUID() })).split('.');
        return `${header}.${b64url({ sub: userId, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.${signature}`;
      },
    ],
    [
      'HS256 signed with the RSA public key as the secret (algorithm confusion)',
      async () => {
        const { importJWK } = await import('jose');
        const pem = await exportSPKI((await importJWK(rsa.jwk, 'RS256')) as CryptoKey);
        return new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
          .setSubject(userId)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(pem));
      },
    ],
    [
      'an RS512 token (an algorithm not in JWKS_ALGORITHMS)',
      async () => {
        const key = await signingKey('RS256');
        const { privateKey } = await generateKeyPair('RS512');
        return new SignJWT({})
          .setProtectedHeader({ alg: 'RS512', kid: key.kid })
          .setSubject(userId)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(privateKey);
      },
    ],
    ['no sub', () => sign(rsa, {})],
    ['a sub that is not a UUID', () => sign(rsa, { sub: 'auth0|1234567890' })],
    [
      'no exp',
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
          .setSubject(userId)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .sign(rsa.privateKey),
    ],
    ['garbage', async () => 'eyJhbGciOiJSUzI1NiJ9.not-json.sig'],
  ];

  it.each(invalid)(
    '%s is 401 "The token is invalid", with nothing that helps an attacker',
    async (_name, make) => {
      const response = await me(await make());
      expect(response.statusCode).toBe(401);
      const body = response.json();
      expect(body).toEqual({
        statusCode: 401,
        error: 'unauthorized',
        message: 'The token is invalid',
        request_id: expect.any(String),
      });
      expect(response.body).not.toMatch(/signature|issuer|audience|kid|jwks|algorithm|claim/i);
    },
  );

  it('with header mode off, X-User-ID is ignored entirely: alone it is 401, beside a token the token decides', async () => {
    const other = await createUser(t.app);
    const alone = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: other.headers });
    expect(alone.statusCode).toBe(401);
    expect(alone.json().message).toBe('Authentication required: send Authorization: Bearer <JWT>');
    const both = await me(await sign(rsa, { sub: userId }), other.headers);
    expect(both.statusCode).toBe(200);
    expect(both.json().user_id).toBe(userId);
    const badHeader = await me(await sign(rsa, { sub: userId }), { 'x-user-id': 'not-a-uuid' });
    expect(badHeader.statusCode).toBe(200);
  });

  it('when the key set cannot be downloaded, an unknown key answers 503, not 401', async () => {
    jwks.failing = true;
    try {
      const response = await me(await sign(await signingKey('RS256'), { sub: userId }));
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ error: 'unavailable' });
      // Keys already downloaded keep working while the identity provider is down.
      expect((await me(await sign(rsa, { sub: userId }))).statusCode).toBe(200);
    } finally {
      jwks.failing = false;
    }
  });
});

describe(`header mode in production (${DATABASE_KIND})`, () => {
  let t: OpsTestApp;
  afterAll(() => t?.close());

  it('starting with AUTH_HEADER_ENABLED in production logs a warning', async () => {
    t = await createOpsTestApp({ NODE_ENV: 'production', LOG_LEVEL: 'warn', AUTH_HEADER_ENABLED: 'true' });
    const warning = t.logs.lines.find((l) => l.context === 'Auth');
    expect(warning).toMatchObject({
      level: 'warn',
      msg: expect.stringMatching(/AUTH_HEADER_ENABLED.*production/),
    });
  });
});
