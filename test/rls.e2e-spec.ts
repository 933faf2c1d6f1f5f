import { randomUUID } from 'node:crypto';
import { sqlStateOf } from '../src/common/sql-errors.js';
import { APP_ROLE, type Tx } from '../src/database/database.service.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

/**
 * Row-level security proven at the SQL level, underneath the services: whatever query a service might send,
 * PostgreSQL itself only hands back the caller's rows.
 */
describe(`row-level security (${DATABASE_KIND})`, () => {
  let t: TestApp;
  const A = randomUUID();
  const B = randomUUID();
  const ids = {
    projectA: randomUUID(),
    projectB: randomUUID(),
    sessionA: randomUUID(),
    sessionB: randomUUID(),
    turnA: randomUUID(),
    turnB: randomUUID(),
  };

  beforeAll(async () => {
    t = await createTestApp();
    // Arranged through the maintenance path, which bypasses RLS.
    await t.sql.exec(`
      INSERT INTO users (user_id, email) VALUES ('${A}', 'a-${A}@example.test'), ('${B}', 'b-${B}@example.test');
      INSERT INTO dossier (project_id, title, created_by) VALUES ('${ids.projectA}', 'A''s', '${A}'), ('${ids.projectB}', 'B''s', '${B}');
      INSERT INTO user_projects (user_id, project_id) VALUES ('${A}', '${ids.projectA}'), ('${B}', '${ids.projectB}');
      INSERT INTO sessions (session_id, user_id, project_id, title) VALUES
        ('${ids.sessionA}', '${A}', '${ids.projectA}', 'A session'), ('${ids.sessionB}', '${B}', '${ids.projectB}', 'B session');
      INSERT INTO turns (turn_id, project_id, user_text, assistant_text, user_id, session_id) VALUES
        ('${ids.turnA}', '${ids.projectA}', 'hi', 'hello', '${A}', '${ids.sessionA}'),
        ('${ids.turnB}', '${ids.projectB}', 'hi', 'hello', '${B}', '${ids.sessionB}');
      INSERT INTO chat_messages (session_id, role, content) VALUES
        ('${ids.sessionA}', 'user', 'from A'), ('${ids.sessionA}', 'assistant', 'to A'),
        ('${ids.sessionB}', 'user', 'from B');
      INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ('${A}', 'k', 'h'), ('${B}', 'k', 'h');
    `);
  });
  afterAll(() => t?.close());

  const asA = <T>(work: (tx: Tx) => Promise<T>) => t.database.asUser({ userId: A, via: 'header' }, work);
  /** The application role with no caller at all. */
  const asNobody = <T>(work: (tx: Tx) => Promise<T>) =>
    t.database.maintenancePrisma().$transaction(async (tx) => {
      await tx.$queryRaw`SELECT set_config('role', ${APP_ROLE}, true)`;
      return work(tx);
    });
  const rows = (tx: Tx, sql: string) => tx.$queryRawUnsafe<Record<string, unknown>[]>(sql);

  const ownerColumn: Record<string, string> = {
    users: 'user_id',
    sessions: 'user_id',
    user_projects: 'user_id',
    turns: 'user_id',
    idempotency_keys: 'user_id',
  };

  it.each(Object.keys(ownerColumn))(
    "an unscoped SELECT * FROM %s as user A returns only A's rows",
    async (table) => {
      const result = await asA((tx) => rows(tx, `SELECT * FROM ${table}`));
      expect(result.length).toBeGreaterThan(0);
      expect(result.every((r) => r[ownerColumn[table]] === A)).toBe(true);
    },
  );

  it("an unscoped SELECT * FROM chat_messages as user A returns only the messages of A's sessions", async () => {
    const result = await asA((tx) => rows(tx, 'SELECT * FROM chat_messages'));
    expect(result.map((r) => r.content).sort()).toEqual(['from A', 'to A']);
  });

  it('an unscoped SELECT * FROM dossier as user A returns only projects A belongs to', async () => {
    const result = await asA((tx) => rows(tx, 'SELECT * FROM dossier'));
    expect(result.map((r) => r.project_id)).toEqual([ids.projectA]);
  });

  it.each(['users', 'dossier', 'user_projects', 'sessions', 'chat_messages', 'turns', 'idempotency_keys'])(
    'with no caller context, SELECT * FROM %s sees nothing',
    async (table) => {
      const result = await asNobody((tx) => rows(tx, `SELECT * FROM ${table}`));
      expect(result).toEqual([]);
    },
  );

  it("get_user_sessions asked for B's id by A returns nothing; asked for A's own id returns A's session", async () => {
    const forB = await asA((tx) => rows(tx, `SELECT * FROM get_user_sessions('${B}', 10)`));
    expect(forB).toEqual([]);
    const forA = await asA((tx) => rows(tx, `SELECT * FROM get_user_sessions('${A}', 10)`));
    expect(forA.map((r) => r.session_id)).toEqual([ids.sessionA]);
  });

  it("get_session_messages of B's session returns nothing to A", async () => {
    const result = await asA((tx) =>
      rows(tx, `SELECT * FROM get_session_messages('${ids.sessionB}', 50, 0)`),
    );
    expect(result).toEqual([]);
  });

  const refused = async (sql: string) => {
    let error: unknown;
    try {
      await asA((tx) => tx.$executeRawUnsafe(sql));
    } catch (e) {
      error = e;
    }
    expect(sqlStateOf(error)).toBe('42501');
  };

  it('A cannot create a session owned by B', () =>
    refused(`INSERT INTO sessions (user_id, project_id) VALUES ('${B}', '${ids.projectA}')`));

  it("A cannot create a session in B's project", () =>
    refused(`INSERT INTO sessions (user_id, project_id) VALUES ('${A}', '${ids.projectB}')`));

  it("A cannot write a message into B's session", () =>
    refused(
      `INSERT INTO chat_messages (session_id, role, content) VALUES ('${ids.sessionB}', 'user', 'intrusion')`,
    ));

  it("A cannot write a message into B's session naming B as its owner", () =>
    refused(
      `INSERT INTO chat_messages (session_id, user_id, role, content) VALUES ('${ids.sessionB}', '${B}', 'user', 'x')`,
    ));

  it("A cannot write a message into B's session naming themselves: the (session, owner) key refuses it", async () => {
    let error: unknown;
    try {
      await asA((tx) =>
        tx.$executeRawUnsafe(
          `INSERT INTO chat_messages (session_id, user_id, role, content) VALUES ('${ids.sessionB}', '${A}', 'user', 'x')`,
        ),
      );
    } catch (e) {
      error = e;
    }
    expect(sqlStateOf(error)).toBe('23503');
  });

  it('A cannot hand one of their messages to B', () =>
    refused(`UPDATE chat_messages SET user_id = '${B}' WHERE session_id = '${ids.sessionA}'`));

  it("A cannot add themselves to B's project", () =>
    refused(`INSERT INTO user_projects (user_id, project_id) VALUES ('${A}', '${ids.projectB}')`));

  it('A cannot create a user row for someone else', () =>
    refused(`INSERT INTO users (user_id) VALUES ('${randomUUID()}')`));

  it("updates and deletes aimed at B's rows change nothing", async () => {
    const changed = await asA(async (tx) => [
      await tx.$executeRawUnsafe(
        `UPDATE sessions SET title = 'hijacked' WHERE session_id = '${ids.sessionB}'`,
      ),
      await tx.$executeRawUnsafe(`DELETE FROM chat_messages WHERE session_id = '${ids.sessionB}'`),
      await tx.$executeRawUnsafe(`UPDATE users SET display_name = 'x' WHERE user_id = '${B}'`),
      await tx.$executeRawUnsafe(`DELETE FROM dossier WHERE project_id = '${ids.projectB}'`),
      await tx.$executeRawUnsafe(`UPDATE turns SET user_text = 'x' WHERE turn_id = '${ids.turnB}'`),
    ]);
    expect(changed).toEqual([0, 0, 0, 0, 0]);
    const [b] = await t.sql.query<{ title: string; n: number }>(
      `SELECT title, (SELECT count(*)::int FROM chat_messages WHERE session_id = '${ids.sessionB}') AS n
         FROM sessions WHERE session_id = '${ids.sessionB}'`,
    );
    expect(b).toEqual({ title: 'B session', n: 1 });
  });

  it('an unknown caller id is refused when the context is set (SQLSTATE 28000)', async () => {
    let error: unknown;
    try {
      await t.database.asUser({ userId: randomUUID(), via: 'header' }, (tx) => rows(tx, 'SELECT 1'));
    } catch (e) {
      error = e;
    }
    expect(sqlStateOf(error)).toBe('28000');
  });

  it('the request role does not bypass RLS and is not a superuser', async () => {
    const [role] = await t.sql.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '${APP_ROLE}'`,
    );
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
    const forced = await t.sql.query<{ relname: string }>(
      `SELECT relname FROM pg_class WHERE relname IN ('users','sessions','chat_messages','user_projects','dossier','turns')
          AND relrowsecurity AND relforcerowsecurity`,
    );
    expect(forced).toHaveLength(6);
  });
});
