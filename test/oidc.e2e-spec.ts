import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { TestOidcServer } from './support/oidc-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

/**
 * OpenID Connect sign-in against a real provider (oidc-provider) in the test process: discovery, JWKS, key
 * rotation, expiry, an unconfigured issuer, provisioning on first sight, unverified emails, linking and
 * ADMIN_EMAILS; and a provisioned user chats.
 */
describe(`OpenID Connect identities (${DATABASE_KIND})`, () => {
  let idp: TestOidcServer;
  let other: TestOidcServer;
  let t: TestApp;

  beforeAll(async () => {
    idp = await TestOidcServer.start();
    other = await TestOidcServer.start();
    t = await createTestApp({
      RATE_LIMIT_ENABLED: 'false',
      OIDC_PROVIDERS: JSON.stringify([{ issuer: idp.issuer, audience: idp.clientId, algorithms: ['RS256'] }]),
      JWKS_COOLDOWN_MS: '0',
      ADMIN_EMAILS: 'Boss@Example.test',
    });
  });
  afterAll(async () => {
    await t?.close();
    await idp?.close();
    await other?.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const me = (token: string) =>
    t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
  const identityOf = async (subject: string) =>
    (
      await t.sql.query<{ user_id: string; email: string | null; email_verified: boolean }>(
        `SELECT user_id::text, email, email_verified FROM external_identities WHERE issuer = $1 AND subject = $2`,
        [idp.issuer, subject],
      )
    )[0];

  it('provisions a user on first sight from verified claims, and finds the same user next time', async () => {
    const subject = `alice-${randomUUID()}`;
    const token = await idp.idToken(subject, {
      email: `alice-${subject}@example.test`,
      email_verified: true,
      name: 'Alice Liddell',
      picture: 'https://img.example.test/alice.png',
    });
    const first = await me(token);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      email: `alice-${subject}@example.test`,
      display_name: 'Alice Liddell',
      avatar_url: 'https://img.example.test/alice.png',
    });
    const userId = first.json().user_id;
    expect(userId).not.toBe(subject);
    expect(await identityOf(subject)).toEqual({
      user_id: userId,
      email: `alice-${subject}@example.test`,
      email_verified: true,
    });
    const again = await me(await idp.idToken(subject));
    expect(again.json().user_id).toBe(userId);
    const [count] = await t.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM users WHERE user_id = $1`,
      [userId],
    );
    expect(count.n).toBe(1);
  });

  it('a user from the provider chats on first sight, and their history is theirs', async () => {
    const token = await idp.idToken(`chatter-${randomUUID()}`, { name: 'Chatter' });
    const chat = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: bearer(token),
      payload: { text: 'Hello from an identity provider' },
    });
    expect(chat.statusCode).toBe(200);
    const sessionId = chat.json().session.session_id;
    const messages = await t.app.inject({
      method: 'GET',
      url: `/api/v1/sessions/${sessionId}/messages`,
      headers: bearer(token),
    });
    expect(messages.statusCode).toBe(200);
    expect(messages.json().data.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
  });

  it('an unverified email is not stored on the user and does not make an admin', async () => {
    const subject = `mallory-${randomUUID()}`;
    const token = await idp.idToken(subject, {
      email: 'boss@example.test',
      email_verified: false,
      name: 'Mallory',
    });
    const response = await me(token);
    expect(response.statusCode).toBe(200);
    expect(response.json().email).toBeNull();
    expect(await identityOf(subject)).toMatchObject({ email: 'boss@example.test', email_verified: false });
    const [row] = await t.sql.query<{ role: string }>(`SELECT role FROM users WHERE user_id = $1`, [
      response.json().user_id,
    ]);
    expect(row.role).toBe('user');
    const admin = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: bearer(token) });
    expect(admin.statusCode).toBe(403);
  });

  it('ADMIN_EMAILS makes an admin of a user whose email the provider verified', async () => {
    const token = await idp.idToken(`boss-${randomUUID()}`, {
      email: 'BOSS@example.test',
      email_verified: true,
    });
    const admin = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: bearer(token) });
    expect(admin.statusCode).toBe(200);
  });

  it('verifies a token signed with a rotated key (a new kid) by downloading the key set again', async () => {
    const subject = `rotor-${randomUUID()}`;
    expect((await me(await idp.idToken(subject))).statusCode).toBe(200);
    const oldKid = idp.currentKid;
    const before = idp.jwksRequests;
    idp.rotateKeys();
    expect(idp.currentKid).not.toBe(oldKid);
    const response = await me(await idp.idToken(subject));
    expect(response.statusCode).toBe(200);
    expect(idp.jwksRequests).toBeGreaterThan(before);
  });

  it('refuses an expired token (401, "expired")', async () => {
    idp.idTokenTtl = 1;
    const token = await idp.idToken(`late-${randomUUID()}`);
    idp.idTokenTtl = 600;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const response = await me(token);
    expect(response.statusCode).toBe(401);
    expect(response.json().message).toBe('The token has expired');
  });

  it('refuses a token from an unconfigured issuer, and a forged token naming the configured issuer', async () => {
    const foreign = await me(await other.idToken(`stranger-${randomUUID()}`));
    expect(foreign.statusCode).toBe(401);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ email: 'boss@example.test', email_verified: true })
      .setProtectedHeader({ alg: 'RS256', kid: idp.currentKid })
      .setIssuer(idp.issuer)
      .setAudience(idp.clientId)
      .setSubject('forged')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const response = await me(forged);
    expect(response.statusCode).toBe(401);
    expect(response.json().message).toBe('The token is invalid');
    expect(await identityOf('forged')).toBeUndefined();
  });

  it('a disabled user is refused on their next request', async () => {
    const token = await idp.idToken(`disabled-${randomUUID()}`);
    const userId = (await me(token)).json().user_id;
    await t.sql.query(`UPDATE users SET disabled_at = now() WHERE user_id = $1`, [userId]);
    expect((await me(token)).statusCode).toBe(401);
  });
});

describe(`OpenID Connect policies: provisioning off, allowed domains, linking (${DATABASE_KIND})`, () => {
  let idp: TestOidcServer;
  let second: TestOidcServer;
  let t: TestApp;

  beforeAll(async () => {
    idp = await TestOidcServer.start();
    second = await TestOidcServer.start();
    t = await createTestApp({
      RATE_LIMIT_ENABLED: 'false',
      OIDC_PROVIDERS: JSON.stringify([
        { issuer: idp.issuer, audience: idp.clientId },
        { issuer: second.issuer, audience: second.clientId },
      ]),
      OIDC_ALLOWED_EMAIL_DOMAINS: 'corp.example.test',
      OIDC_LINK_VERIFIED_EMAIL: 'true',
    });
  });
  afterAll(async () => {
    await t?.close();
    await idp?.close();
    await second?.close();
  });

  const me = (token: string) =>
    t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } });

  it('only a verified email in an allowed domain creates a user (403 otherwise)', async () => {
    const outsider = await me(
      await idp.idToken(`o-${randomUUID()}`, { email: 'x@elsewhere.test', email_verified: true }),
    );
    expect(outsider.statusCode).toBe(403);
    const unverified = await me(
      await idp.idToken(`u-${randomUUID()}`, { email: 'x@corp.example.test', email_verified: false }),
    );
    expect(unverified.statusCode).toBe(403);
    const insider = await me(
      await idp.idToken(`i-${randomUUID()}`, {
        email: `i-${randomUUID()}@corp.example.test`,
        email_verified: true,
      }),
    );
    expect(insider.statusCode).toBe(200);
  });

  it("links a second provider's identity to the user with the same verified email (when configured)", async () => {
    const email = `linked-${randomUUID()}@corp.example.test`;
    const first = await me(await idp.idToken(`a-${randomUUID()}`, { email, email_verified: true }));
    expect(first.statusCode).toBe(200);
    const viaSecond = await me(await second.idToken(`b-${randomUUID()}`, { email, email_verified: true }));
    expect(viaSecond.statusCode).toBe(200);
    expect(viaSecond.json().user_id).toBe(first.json().user_id);
    // An unverified claim of the same email links nothing (and may not create a user here).
    const sneaky = await me(await second.idToken(`c-${randomUUID()}`, { email, email_verified: false }));
    expect(sneaky.statusCode).toBe(403);
  });

  it('with OIDC_AUTO_PROVISION=false an unknown identity is refused (403)', async () => {
    const closed = await createTestApp({
      RATE_LIMIT_ENABLED: 'false',
      OIDC_ISSUER: idp.issuer,
      OIDC_AUDIENCE: idp.clientId,
      OIDC_AUTO_PROVISION: 'false',
    });
    try {
      const response = await closed.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: { authorization: `Bearer ${await idp.idToken(`n-${randomUUID()}`)}` },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().message).toContain('OIDC_AUTO_PROVISION=false');
    } finally {
      await closed.close();
    }
  });
});
