import { randomUUID } from 'node:crypto';
import { sqlStateOf } from '../src/common/sql-errors.js';
import { APP_ROLE, LEGACY_ROLE, prismaOf, type Tx } from '../src/database/database.service.js';
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
    /** A dossier nobody is a member of (what the legacy importer has not attributed yet). */
    orphan: randomUUID(),
    orphanTurn: randomUUID(),
    /** A turn in the orphan dossier that names a user: not an anonymous turn, so not the legacy role's. */
    orphanTurnOfA: randomUUID(),
    /** A dossier with no members but a creator (B left it). */
    createdOrphan: randomUUID(),
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
      INSERT INTO dossier (project_id, title, created_by) VALUES
        ('${ids.orphan}', 'nobody''s', NULL), ('${ids.createdOrphan}', 'left behind', '${B}');
      INSERT INTO turns (turn_id, project_id, user_text, assistant_text, user_id, session_id) VALUES
        ('${ids.orphanTurn}', '${ids.orphan}', 'anonymous', 'reply', NULL, NULL),
        ('${ids.orphanTurnOfA}', '${ids.orphan}', 'attributed', 'reply', '${A}', NULL);
      INSERT INTO legacy_imports (project_id, user_id, session_id, owner_created)
        VALUES ('${ids.projectA}', '${A}', '${ids.sessionA}', false);
    `);
  });
  afterAll(() => t?.close());

  const asA = <T>(work: (tx: Tx) => Promise<T>) => t.database.asUser({ userId: A, via: 'header' }, work);
  /** The application role with no caller at all. */
  const asNobody = <T>(work: (tx: Tx) => Promise<T>) =>
    t.database.maintenancePrisma().$transaction(async (tx) => {
      await tx.$queryRaw`SELECT set_config('role', ${APP_ROLE}, true)`;
      return work(tx as unknown as Tx);
    });
  const rows = (tx: Tx, sql: string) => prismaOf(tx).$queryRawUnsafe<Record<string, unknown>[]>(sql);

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

  it("message_search (the search's words) as user A holds only A's messages; with no caller, nothing", async () => {
    const mine = await asA((tx) => rows(tx, 'SELECT message_id, user_id, session_id FROM message_search'));
    expect(mine.length).toBe(2);
    expect(mine.every((r) => r.user_id === A && r.session_id === ids.sessionA)).toBe(true);
    const none = await asNobody((tx) => rows(tx, 'SELECT message_id FROM message_search'));
    expect(none).toEqual([]);
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
      await asA((tx) => prismaOf(tx).$executeRawUnsafe(sql));
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
        prismaOf(tx).$executeRawUnsafe(
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
      await prismaOf(tx).$executeRawUnsafe(
        `UPDATE sessions SET title = 'hijacked' WHERE session_id = '${ids.sessionB}'`,
      ),
      await prismaOf(tx).$executeRawUnsafe(`DELETE FROM chat_messages WHERE session_id = '${ids.sessionB}'`),
      await prismaOf(tx).$executeRawUnsafe(`UPDATE users SET display_name = 'x' WHERE user_id = '${B}'`),
      await prismaOf(tx).$executeRawUnsafe(`DELETE FROM dossier WHERE project_id = '${ids.projectB}'`),
      await prismaOf(tx).$executeRawUnsafe(`UPDATE turns SET user_text = 'x' WHERE turn_id = '${ids.turnB}'`),
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

  it('the request roles do not bypass RLS and are not superusers; every table has forced RLS', async () => {
    const roles = await t.sql.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
      `SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname IN ($1, $2) ORDER BY rolname`,
      [APP_ROLE, LEGACY_ROLE],
    );
    expect(roles).toEqual([
      { rolname: APP_ROLE, rolsuper: false, rolbypassrls: false },
      { rolname: LEGACY_ROLE, rolsuper: false, rolbypassrls: false },
    ]);
    const tables = [
      'users',
      'sessions',
      'chat_messages',
      'user_projects',
      'dossier',
      'turns',
      'idempotency_keys',
      'legacy_imports',
      'chat_instances',
      'chat_generations',
      'chat_generation_chunks',
      'search_settings',
      'message_search',
      'retention_settings',
    ];
    const forced = await t.sql.query<{ relname: string }>(
      `SELECT relname FROM pg_class
        WHERE relname = ANY($1::text[]) AND relkind = 'r' AND relrowsecurity AND relforcerowsecurity
        ORDER BY relname`,
      [tables],
    );
    expect(forced.map((r) => r.relname)).toEqual([...tables].sort());
  });

  describe(`the anonymous legacy role (${LEGACY_ROLE})`, () => {
    const asLegacy = <T>(work: (tx: Tx) => Promise<T>) => t.database.asLegacy(work);
    /** Runs `work` as the legacy role and rolls it back, so a write tried here leaves nothing behind. */
    const triedAsLegacy = async <T>(work: (tx: Tx) => Promise<T>): Promise<T> => {
      let result!: T;
      const rollback = new Error('rollback');
      await asLegacy(async (tx) => {
        result = await work(tx);
        throw rollback;
      }).catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
      return result;
    };
    const legacyFailure = async (sql: string): Promise<unknown> => {
      try {
        await asLegacy((tx) => prismaOf(tx).$executeRawUnsafe(sql));
      } catch (error) {
        return error;
      }
      throw new Error(`not refused: ${sql}`);
    };

    it('sees only dossiers nobody is a member of', async () => {
      const result = await asLegacy((tx) => rows(tx, 'SELECT project_id FROM dossier ORDER BY project_id'));
      const visible = result.map((r) => r.project_id);
      expect(visible).toEqual(expect.arrayContaining([ids.orphan, ids.createdOrphan]));
      expect(visible).not.toContain(ids.projectA);
      expect(visible).not.toContain(ids.projectB);
      // Every dossier it sees has no members (checked through the maintenance path).
      const members = await t.sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM user_projects WHERE project_id = ANY($1::uuid[])',
        [visible],
      );
      expect(members[0].n).toBe(0);
    });

    it("sees only those dossiers' unattributed turns", async () => {
      const result = await asLegacy((tx) => rows(tx, 'SELECT turn_id, user_id, session_id FROM turns'));
      expect(result.map((r) => r.turn_id)).toContain(ids.orphanTurn);
      expect(result.map((r) => r.turn_id)).not.toContain(ids.orphanTurnOfA);
      expect(result.map((r) => r.turn_id)).not.toContain(ids.turnA);
      expect(result.every((r) => r.user_id === null && r.session_id === null)).toBe(true);
    });

    it('can start a dossier without a creator and write an anonymous turn in it', async () => {
      const project = randomUUID();
      const written = await triedAsLegacy(async (tx) => [
        await prismaOf(tx).$executeRawUnsafe(
          `INSERT INTO dossier (project_id, title) VALUES ('${project}', 'anon')`,
        ),
        await prismaOf(tx).$executeRawUnsafe(
          `INSERT INTO turns (project_id, user_text) VALUES ('${project}', 'hello'), ('${ids.orphan}', 'more')`,
        ),
        await prismaOf(tx).$executeRawUnsafe(
          `UPDATE turns SET assistant_text = 'done' WHERE turn_id = '${ids.orphanTurn}'`,
        ),
      ]);
      expect(written).toEqual([1, 2, 1]);
    });

    it.each([
      [
        'inserting a dossier with a creator',
        () => `INSERT INTO dossier (project_id, created_by) VALUES ('${randomUUID()}', '${A}')`,
      ],
      [
        'inserting a turn into a dossier that has members',
        () => `INSERT INTO turns (project_id, user_text) VALUES ('${ids.projectA}', 'x')`,
      ],
      [
        'inserting a turn that names a user',
        () => `INSERT INTO turns (project_id, user_text, user_id) VALUES ('${ids.orphan}', 'x', '${A}')`,
      ],
      [
        'inserting a turn that names a session',
        () =>
          `INSERT INTO turns (project_id, user_text, session_id) VALUES ('${ids.orphan}', 'x', '${ids.sessionA}')`,
      ],
      [
        'attributing an anonymous turn to a user',
        () => `UPDATE turns SET user_id = '${A}' WHERE turn_id = '${ids.orphanTurn}'`,
      ],
      [
        'claiming a dossier (setting its creator)',
        () => `UPDATE dossier SET created_by = '${A}' WHERE project_id = '${ids.orphan}'`,
      ],
    ])('refuses %s (42501)', async (_what, sql) => {
      expect(sqlStateOf(await legacyFailure(sql()))).toBe('42501');
    });

    it("updates aimed at members' dossiers and their turns change nothing; it cannot delete", async () => {
      const changed = await triedAsLegacy(async (tx) => [
        await prismaOf(tx).$executeRawUnsafe(
          `UPDATE dossier SET title = 'x' WHERE project_id = '${ids.projectA}'`,
        ),
        await prismaOf(tx).$executeRawUnsafe(
          `UPDATE turns SET user_text = 'x' WHERE turn_id = '${ids.turnA}'`,
        ),
        await prismaOf(tx).$executeRawUnsafe(
          `UPDATE turns SET user_text = 'x' WHERE turn_id = '${ids.orphanTurnOfA}'`,
        ),
      ]);
      expect(changed).toEqual([0, 0, 0]);
      for (const sql of [
        `DELETE FROM turns WHERE turn_id = '${ids.orphanTurn}'`,
        `DELETE FROM dossier WHERE project_id = '${ids.orphan}'`,
      ]) {
        const error = await legacyFailure(sql);
        expect(sqlStateOf(error)).toBe('42501');
        expect((error as Error).message).toMatch(/permission denied/);
      }
    });

    it.each([
      'users',
      'user_projects',
      'sessions',
      'chat_messages',
      'idempotency_keys',
      'legacy_imports',
      'chat_instances',
      'chat_generations',
      'chat_generation_chunks',
    ])('has no privilege on %s', async (table) => {
      const error = await legacyFailure(`SELECT 1 FROM ${table}`);
      expect(sqlStateOf(error)).toBe('42501');
      expect((error as Error).message).toMatch(/permission denied/);
    });
  });

  describe('legacy_imports, the importer ledger', () => {
    it.each([
      ['SELECT', 'SELECT * FROM legacy_imports'],
      [
        'INSERT',
        `INSERT INTO legacy_imports (project_id, user_id, session_id, owner_created) VALUES ('${randomUUID()}', '${A}', '${randomUUID()}', true)`,
      ],
      ['UPDATE', 'UPDATE legacy_imports SET turns_imported = 0'],
      ['DELETE', 'DELETE FROM legacy_imports'],
    ])('is out of reach of the request role: %s as a user is permission denied', async (_verb, sql) => {
      let error: unknown;
      try {
        await asA((tx) => prismaOf(tx).$queryRawUnsafe(sql));
      } catch (e) {
        error = e;
      }
      expect(sqlStateOf(error)).toBe('42501');
      expect((error as Error).message).toMatch(/permission denied/);
    });

    it('no role but the migrating one has a privilege or a policy on it; the maintenance path reads it', async () => {
      const privileges = await t.sql.query<{ role: string; privilege: string; granted: boolean }>(
        `SELECT r AS role, p AS privilege, has_table_privilege(r, 'legacy_imports', p) AS granted
           FROM unnest($1::text[]) r, unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE']) p`,
        [[APP_ROLE, LEGACY_ROLE]],
      );
      expect(privileges.filter((p) => p.granted)).toEqual([]);
      expect(privileges).toHaveLength(10);
      const policies = await t.sql.query(
        "SELECT policyname FROM pg_policies WHERE tablename = 'legacy_imports'",
      );
      expect(policies).toEqual([]);
      const ledger = await t.sql.query<{ project_id: string }>('SELECT project_id FROM legacy_imports');
      expect(ledger).toEqual([{ project_id: ids.projectA }]);
    });
  });
});
