/**
 * A real OpenID Connect provider (`oidc-provider`) in the test process, on 127.0.0.1: discovery, a JWKS, and
 * ID tokens issued through the authorization code flow, driven over HTTP through the provider's development
 * login and consent screens (any login name is the subject). Its signing keys can be rotated (a new kid)
 * while it runs, at the same issuer URL.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
  picture?: string;
}

const CLIENT_ID = 'parley-test-client';
const CLIENT_SECRET = 'parley-test-client-secret-0123456789';
const REDIRECT_URI = 'https://client.example.test/callback';

function newSigningKey(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: `k-${randomUUID().slice(0, 8)}`,
    use: 'sig',
    alg: 'RS256',
  };
}

export class TestOidcServer {
  readonly clientId = CLIENT_ID;
  /** Claims per subject (login name). */
  readonly accounts = new Map<string, TestAccount>();
  /** Seconds an ID token lives. */
  idTokenTtl = 600;
  /** How many times the JWKS was served. */
  jwksRequests = 0;
  private provider!: InstanceType<typeof Provider>;
  private keys: Record<string, unknown>[] = [newSigningKey()];

  private constructor(
    private readonly server: Server,
    readonly issuer: string,
  ) {}

  static async start(): Promise<TestOidcServer> {
    const ready: { handler?: TestOidcServer } = {};
    const server = createServer((req, res) => {
      const handler = ready.handler;
      if (!handler) return void res.writeHead(503).end();
      if (req.url?.startsWith('/jwks')) handler.jwksRequests++;
      handler.provider.callback()(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const handler = new TestOidcServer(server, `http://127.0.0.1:${port}`);
    handler.provider = handler.build();
    ready.handler = handler;
    return handler;
  }

  /** Keys kid of the key that signs now. */
  get currentKid(): string {
    return String(this.keys[0].kid);
  }

  /** A new signing key (a new kid) signs from now on; the old one is no longer published. */
  rotateKeys(): void {
    this.keys = [newSigningKey()];
    this.provider = this.build();
  }

  private build(): InstanceType<typeof Provider> {
    const provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [REDIRECT_URI],
          response_types: ['code'],
          grant_types: ['authorization_code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      jwks: { keys: this.keys as never },
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => ({ sub, ...(this.accounts.get(sub) ?? {}) }),
      }),
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: true } },
      pkce: { required: () => false },
      ttl: { IdToken: () => this.idTokenTtl },
      cookies: { keys: ['test-cookie-key-0123456789'] },
    });
    // The test server speaks plain HTTP on 127.0.0.1.
    provider.proxy = true;
    return provider;
  }

  /** An ID token for `subject` (audience: the test client), through the authorization code flow. */
  async idToken(subject: string, account?: TestAccount): Promise<string> {
    if (account) this.accounts.set(subject, account);
    const cookies = new Map<string, string>();
    const request = async (url: string, init: RequestInit = {}): Promise<Response> => {
      const response = await fetch(new URL(url, this.issuer), {
        ...init,
        redirect: 'manual',
        headers: {
          ...(init.headers as Record<string, string>),
          cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        },
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const [name, ...value] = pair.split('=');
        cookies.set(name.trim(), value.join('='));
      }
      return response;
    };
    const form = (fields: Record<string, string>): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const authorize = new URLSearchParams({
      client_id: CLIENT_ID,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      nonce: randomUUID(),
      state: randomUUID(),
    });
    let location = (await request(`/auth?${authorize}`)).headers.get('location');
    for (let step = 0; step < 10 && location && !location.startsWith(REDIRECT_URI); step++) {
      const interaction = /\/interaction\/([^/?#]+)/.exec(location);
      if (interaction) {
        const page = await (await request(location)).text();
        const prompt =
          /name="prompt" value="(\w+)"/.exec(page)?.[1] ??
          (page.includes('name="login"') ? 'login' : 'consent');
        const submitted = await request(
          `/interaction/${interaction[1]}`,
          form(prompt === 'login' ? { prompt, login: subject, password: 'any' } : { prompt }),
        );
        location = submitted.headers.get('location');
      } else {
        location = (await request(location)).headers.get('location');
      }
    }
    const code = location ? new URL(location).searchParams.get('code') : null;
    if (!code) throw new Error(`the provider gave no authorization code (ended at ${location})`);
    const token = await request(
      '/token',
      form({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      }),
    );
    const body = (await token.json()) as { id_token?: string; error?: string };
    if (!body.id_token) throw new Error(`no id_token: ${JSON.stringify(body)}`);
    return body.id_token;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
