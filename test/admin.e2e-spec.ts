import { randomUUID } from 'node:crypto';
import { setRoleByOperator } from '../src/admin/admin-grant.js';
import { sqlStateOf } from '../src/common/sql-errors.js';
import { ADMIN_ROLE, APP_ROLE } from '../src/database/database.service.js';
import { createSession, createUser, type TestUser } from './support/factories.js';
import { loadApiDocument } from './support/openapi-driver.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

describe(`administration (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_ENABLED: 'false' });
    admin = await createUser(t.app, { display_name: 'The admin' });
    expect(await setRoleByOperator(t.sql, admin.user_id, 'admin')).toEqual({
      ok: true,
      userId: admin.user_id,
      changed: true,
    });
  });
  afterAll(() => t?.close());

  const as = (
    user: TestUser | Record<string, string>,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
  ) =>
    t.app.inject({
      method,
      url,
      headers: 'headers' in user ? (user.headers as Record<string, string>) : user,
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  const chat = (user: TestUser, text: string) => as(user, 'POST', '/api/v1/chat?stream=false', { text });

  it('every admin operation in the OpenAPI document refuses a non-admin with 403 and an admin API key with 403', async () => {
    const doc = await loadApiDocument(t.app);
    const ops = doc.operations.filter((op) => op.path.startsWith('/api/v1/admin/'));
    expect(ops.length).toBeGreaterThanOrEqual(7);
    const user = await createUser(t.app);
    const key = (
      await as(admin, 'POST', '/api/v1/users/me/api-keys', { name: 'k', scopes: ['read', 'write', 'chat'] })
    ).json().key as string;
    for (const op of ops) {
      const url = op.path.replace('{user_id}', user.user_id);
      const payload = op.path.endsWith('/role')
        ? { role: 'admin' }
        : op.path.endsWith('/status')
          ? { disabled: true }
          : undefined;
      expect([op.operationId, (await as(user, op.method as 'GET', url, payload)).statusCode]).toEqual([
        op.operationId,
        403,
      ]);
      expect([
        op.operationId,
        (await as({ authorization: `Bearer ${key}` }, op.method as 'GET', url, payload)).statusCode,
      ]).toEqual([op.operationId, 403]);
    }
    // Nothing happened to the user.
    const [row] = await t.sql.query<{ role: string; disabled: boolean }>(
      `SELECT role, disabled_at IS NOT NULL AS disabled FROM users WHERE user_id = $1`,
      [user.user_id],
    );
    expect(row).toEqual({ role: 'user', disabled: false });
  });

  it('lists users newest first with keyset pages and searches email and display name', async () => {
    const tag = randomUUID().slice(0, 8);
    const made: TestUser[] = [];
    for (let i = 0; i < 5; i++)
      made.push(
        await createUser(t.app, {
          display_name: `Searchable ${tag} ${i}`,
          email: `u${i}-${tag}@example.test`,
        }),
      );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await as(
        admin,
        'GET',
        `/api/v1/admin/users?limit=2&q=${tag}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(response.statusCode).toBe(200);
      const page = response.json();
      seen.push(...page.data.map((u: { user_id: string }) => u.user_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(made.map((u) => u.user_id).reverse());
    const byEmail = await as(
      admin,
      'GET',
      `/api/v1/admin/users?q=${encodeURIComponent(`U3-${tag}@EXAMPLE`)}`,
    );
    expect(byEmail.json().data.map((u: { user_id: string }) => u.user_id)).toEqual([made[3].user_id]);
    const bad = await as(admin, 'GET', '/api/v1/admin/users?cursor=nonsense');
    expect(bad.statusCode).toBe(400);
  });

  it('gets a user with counts and last activity', async () => {
    const user = await createUser(t.app);
    await chat(user, 'first');
    await createSession(t.app, user);
    await as(user, 'POST', '/api/v1/users/me/api-keys', { name: 'k', scopes: ['read'] });
    const response = await as(admin, 'GET', `/api/v1/admin/users/${user.user_id}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      user_id: user.user_id,
      role: 'user',
      disabled_at: null,
      project_count: 2,
      session_count: 2,
      message_count: 2,
      api_key_count: 1,
    });
    expect(Date.parse(response.json().last_active_at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await as(admin, 'GET', `/api/v1/admin/users/${randomUUID()}`)).statusCode).toBe(404);
  });

  it("disabling stops the user's header identity and API keys on their next request; enabling restores them", async () => {
    const user = await createUser(t.app);
    const key = (await as(user, 'POST', '/api/v1/users/me/api-keys', { name: 'k', scopes: ['read'] })).json()
      .key;
    const viaHeader = () => as(user, 'GET', '/api/v1/users/me');
    const viaKey = () => as({ authorization: `Bearer ${key}` }, 'GET', '/api/v1/users/me');
    expect((await viaHeader()).statusCode).toBe(200);
    expect((await viaKey()).statusCode).toBe(200);

    const disabled = await as(admin, 'PUT', `/api/v1/admin/users/${user.user_id}/status`, { disabled: true });
    expect(disabled.statusCode).toBe(200);
    expect(disabled.json().disabled_at).not.toBeNull();
    expect((await viaHeader()).statusCode).toBe(401);
    expect((await viaKey()).statusCode).toBe(401);
    expect((await chat(user, 'still there?')).statusCode).toBe(401);

    const enabled = await as(admin, 'PUT', `/api/v1/admin/users/${user.user_id}/status`, { disabled: false });
    expect(enabled.json().disabled_at).toBeNull();
    expect((await viaHeader()).statusCode).toBe(200);
    expect((await viaKey()).statusCode).toBe(200);
  });

  it('admins grant the role; an admin cannot disable, demote or delete themselves (409)', async () => {
    const user = await createUser(t.app);
    expect((await as(user, 'GET', '/api/v1/admin/users')).statusCode).toBe(403);
    const granted = await as(admin, 'PUT', `/api/v1/admin/users/${user.user_id}/role`, { role: 'admin' });
    expect(granted.statusCode).toBe(200);
    expect(granted.json().role).toBe('admin');
    expect((await as(user, 'GET', '/api/v1/admin/users')).statusCode).toBe(200);
    expect(
      (await as(admin, 'PUT', `/api/v1/admin/users/${user.user_id}/role`, { role: 'owner' })).statusCode,
    ).toBe(400);
    expect(
      (await as(user, 'PUT', `/api/v1/admin/users/${user.user_id}/role`, { role: 'user' })).statusCode,
    ).toBe(409);
    expect(
      (await as(user, 'PUT', `/api/v1/admin/users/${user.user_id}/status`, { disabled: true })).statusCode,
    ).toBe(409);
    expect((await as(user, 'DELETE', `/api/v1/admin/users/${user.user_id}`)).statusCode).toBe(409);
    await as(admin, 'PUT', `/api/v1/admin/users/${user.user_id}/role`, { role: 'user' });
    expect((await as(user, 'GET', '/api/v1/admin/users')).statusCode).toBe(403);
  });

  it('deletes a user with all their data', async () => {
    const user = await createUser(t.app);
    await chat(user, 'something to delete');
    await as(user, 'POST', '/api/v1/users/me/api-keys', { name: 'k', scopes: ['read'] });
    expect((await as(admin, 'DELETE', `/api/v1/admin/users/${user.user_id}`)).statusCode).toBe(204);
    const [left] = await t.sql.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM users WHERE user_id = $1) + (SELECT count(*) FROM sessions WHERE user_id = $1)
             + (SELECT count(*) FROM chat_messages WHERE user_id = $1) + (SELECT count(*) FROM api_keys WHERE user_id = $1)
             + (SELECT count(*) FROM user_projects WHERE user_id = $1))::int AS n`,
      [user.user_id],
    );
    expect(left.n).toBe(0);
    expect((await as(user, 'GET', '/api/v1/users/me')).statusCode).toBe(401);
    expect((await as(admin, 'DELETE', `/api/v1/admin/users/${user.user_id}`)).statusCode).toBe(404);
  });

  it('reports replies and tokens per user, day and model from the stored metadata', async () => {
    const user = await createUser(t.app);
    await chat(user, 'one');
    await chat(user, 'two');
    const response = await as(admin, 'GET', `/api/v1/admin/usage?user_id=${user.user_id}`);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    const [stored] = await t.sql.query<{ model: string; input: string; output: string }>(
      `SELECT max(metadata->>'model') AS model, sum((metadata->'usage'->>'input_tokens')::int)::text AS input,
              sum((metadata->'usage'->>'output_tokens')::int)::text AS output
         FROM chat_messages WHERE user_id = $1 AND role = 'assistant'`,
      [user.user_id],
    );
    expect(body.data).toEqual([
      {
        user_id: user.user_id,
        day: new Date().toISOString().slice(0, 10),
        model: stored.model,
        messages: 2,
        input_tokens: Number(stored.input),
        output_tokens: Number(stored.output),
        total_tokens: Number(stored.input) + Number(stored.output),
      },
    ]);
    expect(Number(stored.input)).toBeGreaterThan(0);
    expect((await as(admin, 'GET', '/api/v1/admin/usage?from=2026-02-01&to=2026-01-01')).statusCode).toBe(
      400,
    );
    expect((await as(admin, 'GET', '/api/v1/admin/usage?from=2026-1-1')).statusCode).toBe(400);
  });

  it('records every admin action with actor, action, target, time and request id; the log is append-only', async () => {
    const user = await createUser(t.app);
    const disabled = await as(admin, 'PUT', `/api/v1/admin/users/${user.user_id}/status`, { disabled: true });
    const requestId = disabled.headers['x-request-id'];
    expect(requestId).toBeDefined();
    const log = await as(admin, 'GET', `/api/v1/admin/audit?target=${user.user_id}`);
    expect(log.statusCode).toBe(200);
    expect(log.json().data).toEqual([
      expect.objectContaining({
        actor_id: admin.user_id,
        action: 'users.disable',
        target_type: 'user',
        target: user.user_id,
        request_id: requestId,
      }),
    ]);
    // Reading the log is an admin action too.
    await as(admin, 'GET', '/api/v1/admin/audit?limit=1');
    const reads = await as(admin, 'GET', '/api/v1/admin/audit?action=audit.read&limit=1');
    expect(reads.json().data[0]).toMatchObject({ action: 'audit.read', actor_id: admin.user_id });
    expect(reads.json().next_cursor).not.toBeNull();
    const next = await as(
      admin,
      'GET',
      `/api/v1/admin/audit?action=audit.read&limit=1&cursor=${reads.json().next_cursor}`,
    );
    expect(next.json().data[0].audit_id).not.toBe(reads.json().data[0].audit_id);

    for (const statement of [
      `UPDATE admin_audit SET action = 'x'`,
      `DELETE FROM admin_audit`,
      `TRUNCATE admin_audit`,
    ]) {
      const failure = await t.sql.query(statement).then(
        () => 'ran',
        (error: unknown) => sqlStateOf(error),
      );
      expect([statement, failure]).toEqual([statement, '42501']);
    }
  });

  describe('the admin role parley_admin, as SQL', () => {
    /** Runs `statement` as `role` with `caller` in app.user_id; returns rows reached or the SQLSTATE. */
    const attempt = async (role: string, caller: string, statement: string): Promise<number | string> => {
      try {
        return await t.database.maintenancePrisma().$transaction(async (tx) => {
          await tx.$queryRawUnsafe(
            `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true)`,
            role,
            caller,
          );
          const reached = /^\s*SELECT/i.test(statement)
            ? (await tx.$queryRawUnsafe<unknown[]>(statement)).length
            : await tx.$executeRawUnsafe(statement);
          throw Object.assign(new Error('rollback'), { reached });
        });
      } catch (error) {
        const reached = (error as { reached?: number }).reached;
        if (reached !== undefined) return reached;
        return sqlStateOf(error) ?? String(error);
      }
    };

    it('shows nothing and changes nothing for a caller who is not an enabled admin', async () => {
      const user = await createUser(t.app);
      await chat(user, 'private words');
      const disabledAdmin = await createUser(t.app);
      await setRoleByOperator(t.sql, disabledAdmin.user_id, 'admin');
      await t.sql.query(`UPDATE users SET disabled_at = now() WHERE user_id = $1`, [disabledAdmin.user_id]);
      const statements = [
        `SELECT * FROM users`,
        `SELECT * FROM sessions`,
        `SELECT * FROM chat_messages`,
        `SELECT * FROM dossier`,
        `SELECT * FROM user_projects`,
        `SELECT * FROM turns`,
        `SELECT * FROM admin_audit`,
        `SELECT key_id FROM api_keys`,
        `UPDATE users SET role = 'admin' WHERE user_id = '${user.user_id}'`,
        `UPDATE users SET disabled_at = now() WHERE user_id = '${user.user_id}'`,
        `DELETE FROM users WHERE user_id = '${user.user_id}'`,
        `DELETE FROM dossier`,
      ];
      for (const caller of [user.user_id, disabledAdmin.user_id, randomUUID(), ''])
        for (const statement of statements)
          expect([caller, statement, await attempt(ADMIN_ROLE, caller, statement)]).toEqual([
            caller,
            statement,
            0,
          ]);
      for (const caller of [user.user_id, disabledAdmin.user_id])
        expect(
          await attempt(
            ADMIN_ROLE,
            caller,
            `INSERT INTO admin_audit (actor_id, action) VALUES ('${caller}', 'forged')`,
          ),
        ).toBe('42501');
      // The same statements reach rows for an enabled admin (so the zeros above are about who asks).
      expect(await attempt(ADMIN_ROLE, admin.user_id, `SELECT * FROM chat_messages`)).toBeGreaterThan(0);
      expect(
        await attempt(
          ADMIN_ROLE,
          admin.user_id,
          `UPDATE users SET disabled_at = now() WHERE user_id = '${user.user_id}'`,
        ),
      ).toBe(1);
    });

    it('an admin cannot rewrite profiles or forge audit entries in another name', async () => {
      const user = await createUser(t.app);
      expect(
        await attempt(
          ADMIN_ROLE,
          admin.user_id,
          `UPDATE users SET display_name = 'x' WHERE user_id = '${user.user_id}'`,
        ),
      ).toBe('42501');
      expect(
        await attempt(
          ADMIN_ROLE,
          admin.user_id,
          `INSERT INTO admin_audit (actor_id, action) VALUES ('${user.user_id}', 'forged')`,
        ),
      ).toBe('42501');
    });

    it('a user cannot make themselves admin or undisable themselves through the application role', async () => {
      const user = await createUser(t.app);
      for (const statement of [
        `UPDATE users SET role = 'admin' WHERE user_id = '${user.user_id}'`,
        `UPDATE users SET disabled_at = now() WHERE user_id = '${user.user_id}'`,
      ])
        expect([statement, await attempt(APP_ROLE, user.user_id, statement)]).toEqual([statement, '42501']);
      // Signing up (inserting one's own row) works, but not as an admin or disabled.
      const newcomer = randomUUID();
      expect(await attempt(APP_ROLE, newcomer, `INSERT INTO users (user_id) VALUES ('${newcomer}')`)).toBe(1);
      expect(
        await attempt(
          APP_ROLE,
          newcomer,
          `INSERT INTO users (user_id, role) VALUES ('${newcomer}', 'admin')`,
        ),
      ).toBe('42501');
      expect(
        await attempt(
          APP_ROLE,
          newcomer,
          `INSERT INTO users (user_id, disabled_at) VALUES ('${newcomer}', now())`,
        ),
      ).toBe('42501');
    });
  });
});
