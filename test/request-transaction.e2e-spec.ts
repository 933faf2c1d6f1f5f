/**
 * The request transaction (DatabaseService.asUser and friends) after its round trips were cut: BEGIN and
 * the RLS context travel with the transaction's first statement. What must not change: the caller's check
 * comes first (401 for an unknown caller, whatever the work does), every statement runs as the app role with
 * the caller's id, and both are reset when the transaction ends. On PostgreSQL the round trips are counted.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sqlStateOf } from '../src/common/sql-errors.js';
import { prismaOf, sqlOf } from '../src/database/database.service.js';
import { createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const onPostgres = DATABASE_KIND === 'postgres' ? it : it.skip;

describe(`request transaction (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let user: TestUser;
  const as = (userId: string) => ({ userId, via: 'header' as const });
  /** The SQLSTATE a transaction failed with ('resolved' when it did not fail). */
  const stateOf = (run: Promise<unknown>) =>
    run.then(
      () => 'resolved',
      (error: unknown) => sqlStateOf(error) ?? String(error),
    );

  beforeAll(async () => {
    // One pooled connection: whatever a request leaves on its connection, the next statement sees.
    t = await createTestApp({ DB_POOL_MAX: '1' });
    user = await createUser(t.app);
  });

  afterAll(async () => {
    await t?.close();
  });

  /** The role and caller a statement outside any request sees on the pooled connection. */
  async function connectionState(): Promise<{ role: string; caller: string | null }> {
    const [row] = await t.sql.query<{ role: string; caller: string | null }>(
      `SELECT current_user AS role, NULLIF(current_setting('app.user_id', true), '') AS caller`,
    );
    return row;
  }

  it('runs every statement of the work as the app role and the caller, and resets both afterwards', async () => {
    const seen = await t.database.asUser(as(user.user_id), async (tx) => {
      const first = await sqlOf(tx).query<{ role: string; caller: string }>(
        `SELECT current_user AS role, current_setting('app.user_id') AS caller`,
      );
      const second = await sqlOf(tx).query<{ role: string; caller: string }>(
        `SELECT current_user AS role, current_setting('app.user_id') AS caller`,
      );
      const users = await prismaOf(tx).user.findMany({ select: { userId: true } });
      return { first: first[0], second: second[0], users };
    });
    expect(seen.first).toEqual({ role: 'parley_app', caller: user.user_id });
    expect(seen.second).toEqual({ role: 'parley_app', caller: user.user_id });
    // Row-level security applies: the users table shows the caller only their own row.
    expect(seen.users).toEqual([{ userId: user.user_id }]);
    if (DATABASE_KIND === 'postgres')
      expect(await connectionState()).toEqual({ role: 'postgres', caller: null });
  });

  it('sets the context for a transaction whose first statement is a Prisma call', async () => {
    const other = await createUser(t.app);
    const users = await t.database.asUser(as(user.user_id), (tx) =>
      prismaOf(tx).user.findMany({ select: { userId: true } }),
    );
    expect(users).toEqual([{ userId: user.user_id }]);
    expect(users).not.toContainEqual({ userId: other.user_id });
  });

  it('answers an unknown caller 401 (28000), before whatever the work would do', async () => {
    const unknown = as(randomUUID());
    const statement = t.database.asUser(unknown, (tx) => sqlOf(tx).query('SELECT 1 AS one'));
    expect(await stateOf(statement)).toBe('28000');
    // The work fails before it sends anything: the caller's check still decides.
    const thrown = t.database.asUser(unknown, async () => {
      throw new Error('the work failed');
    });
    expect(await stateOf(thrown)).toBe('28000');
    // The work sends nothing at all: still checked.
    expect(await stateOf(t.database.asUser(unknown, async () => 'done'))).toBe('28000');
    expect(
      await t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: { 'x-user-id': unknown.userId },
      }),
    ).toMatchObject({ statusCode: 401 });
  });

  it("passes on a known caller's own error, and leaves the connection clean after any failure", async () => {
    const thrown = t.database.asUser(as(user.user_id), async () => {
      throw new Error('the work failed');
    });
    await expect(thrown).rejects.toThrow('the work failed');
    expect(await t.database.asUser(as(user.user_id), async () => 'done')).toBe('done');
    const failing = t.database.asUser(as(user.user_id), (tx) => sqlOf(tx).query('SELECT 1 / 0 AS x'));
    expect(await stateOf(failing)).toBe('22012');
    if (DATABASE_KIND === 'postgres')
      expect(await connectionState()).toEqual({ role: 'postgres', caller: null });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
    expect(me.statusCode).toBe(200);
  });

  onPostgres(
    'sends BEGIN and the context with the first statement: two round trips for a one-statement read',
    async () => {
      // Every pg client's round trips, with the client that sent them: the service's background work (the
      // reply relay's heartbeat and sweep) shares the pool, so only the request's own connection is counted.
      const recorded: { client: pg.Client; statements: string[] }[] = [];
      const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
      const original = proto.query;
      proto.query = function counted(this: pg.Client, ...args: unknown[]) {
        const first = args[0] as { text?: string; statements?: string[] } | string;
        recorded.push({
          client: this,
          statements:
            typeof first === 'string' ? [first] : (first.statements ?? (first.text ? [first.text] : ['?'])),
        });
        return original.apply(this, args);
      };
      /** The round trips of the request's transaction: its connection's, from BEGIN to COMMIT. */
      const sentByRequest = (): string[][] => {
        const start = recorded.findIndex((r) => r.statements[0] === 'BEGIN');
        if (start < 0) return recorded.map((r) => r.statements);
        const ownTrips = recorded.slice(start).filter((r) => r.client === recorded[start].client);
        const end = ownTrips.findIndex((r) => r.statements[0] === 'COMMIT');
        return ownTrips.slice(0, end < 0 ? undefined : end + 1).map((r) => r.statements);
      };
      try {
        const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: user.headers });
        expect(me.statusCode).toBe(200);
        let sent = sentByRequest();
        expect(sent).toHaveLength(2);
        const [batch, commit] = sent;
        expect(batch).toHaveLength(3);
        expect(batch[0]).toBe('BEGIN');
        expect(batch[1]).toContain("set_config('role'");
        expect(batch[1]).toContain('app.assert_user_exists');
        expect(batch[2]).toMatch(/FROM users WHERE user_id = \$1/);
        expect(commit).toEqual(['COMMIT']);

        recorded.length = 0;
        const list = await t.app.inject({
          method: 'GET',
          url: '/api/v1/sessions?limit=10',
          headers: user.headers,
        });
        expect(list.statusCode).toBe(200);
        sent = sentByRequest();
        expect(sent.map((s) => s.length)).toEqual([3, 1]);
        expect(sent[0][2]).toContain('get_user_sessions');
      } finally {
        proto.query = original;
      }
    },
  );
});
