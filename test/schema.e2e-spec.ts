import { randomUUID } from 'node:crypto';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, MIGRATIONS_DIR, readMigrations } from '../src/database/migrator.js';
import type { SqlExecutor } from '../src/database/sql-executor.js';
import { findInvariantViolations } from './support/db-invariants.js';
import { createTestApp, DATABASE_KIND, openEmptyDatabase, type TestApp } from './support/test-app.js';

/** A timestamp column as ISO text in UTC, to the millisecond (the same on PostgreSQL and PGlite). */
const UTC = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const count = async (sql: SqlExecutor, query: string) =>
  (await sql.query<{ n: number }>(`SELECT (${query})::int AS n`))[0].n;

describe(`schema: triggers and foreign keys (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let user: string;
  let project: string;
  beforeAll(async () => {
    t = await createTestApp();
    user = randomUUID();
    project = randomUUID();
    await t.sql.exec(`
      INSERT INTO users (user_id) VALUES ('${user}');
      INSERT INTO dossier (project_id, title, created_by) VALUES ('${project}', 'p', '${user}');
      INSERT INTO user_projects (user_id, project_id) VALUES ('${user}', '${project}');`);
  });
  afterAll(() => t?.close());

  const newSession = async () => {
    const id = randomUUID();
    await t.sql.query(
      `INSERT INTO sessions (session_id, user_id, project_id, title) VALUES ($1, $2, $3, 's')`,
      [id, user, project],
    );
    return id;
  };
  const sessionRow = async (id: string) =>
    (
      await t.sql.query<{
        message_count: number;
        last_message_preview: string | null;
        last_message_at: string;
        newest: string;
      }>(
        `SELECT message_count, last_message_preview, last_message_at::text,
                (SELECT max(created_at)::text FROM chat_messages WHERE session_id = s.session_id) AS newest
           FROM sessions s WHERE session_id = $1`,
        [id],
      )
    )[0];

  it('inserting one message moves message_count, last_message_preview (first 200 characters) and last_message_at', async () => {
    const id = await newSession();
    const long = 'é'.repeat(150) + 'x'.repeat(150);
    await t.sql.query(`INSERT INTO chat_messages (session_id, role, content) VALUES ($1, 'user', $2)`, [
      id,
      long,
    ]);
    const row = await sessionRow(id);
    expect(row.message_count).toBe(1);
    expect(row.last_message_preview).toBe(long.slice(0, 200));
    expect(row.last_message_at).toBe(row.newest);
  });

  it('a multi-row INSERT counts every row and previews the newest (ties broken by insertion order)', async () => {
    const id = await newSession();
    await t.sql.query(
      `INSERT INTO chat_messages (session_id, role, content, created_at)
       SELECT $1, CASE WHEN g % 2 = 1 THEN 'user' ELSE 'assistant' END, 'message ' || g, '2020-01-01T00:00:00Z'::timestamptz + (g / 2) * interval '1 minute'
         FROM generate_series(1, 1000) g`,
      [id],
    );
    const row = await sessionRow(id);
    expect(row.message_count).toBe(1000);
    expect(row.last_message_preview).toBe('message 1000');
    expect(row.last_message_at).toBe(row.newest);
  });

  it('an imported history older than the session still sets last_message_at to its newest message', async () => {
    const id = await newSession();
    await t.sql.query(
      `INSERT INTO chat_messages (session_id, role, content, created_at) VALUES ($1, 'user', 'old', '2019-05-01T10:00:00Z')`,
      [id],
    );
    const row = await sessionRow(id);
    expect(new Date(row.last_message_at).toISOString()).toBe('2019-05-01T10:00:00.000Z');
  });

  /** A session with messages m1..m5 written a second apart (m5 newest); returns its id and creation time. */
  const sessionWithFiveMessages = async () => {
    const id = await newSession();
    await t.sql.query(
      `INSERT INTO chat_messages (session_id, role, content, created_at)
       SELECT $1, 'user', 'm' || g, '2025-03-01T10:00:00Z'::timestamptz + g * interval '1 second'
         FROM generate_series(1, 5) g`,
      [id],
    );
    const [row] = await t.sql.query<{ created_at: string }>(
      `SELECT ${UTC('created_at')} AS created_at FROM sessions WHERE session_id = $1`,
      [id],
    );
    return { id, createdAt: row.created_at };
  };
  const counters = async (id: string) =>
    (
      await t.sql.query<{
        message_count: number;
        last_message_preview: string | null;
        last_message_at: string;
      }>(
        `SELECT message_count, last_message_preview, ${UTC('last_message_at')} AS last_message_at
           FROM sessions WHERE session_id = $1`,
        [id],
      )
    )[0];
  const violationsOf = async (...ids: string[]) =>
    (await findInvariantViolations(t.sql)).filter((v) => ids.includes(v.id));

  it('deleting the newest message moves last_message_at and the preview back to the one before it', async () => {
    const a = await sessionWithFiveMessages();
    const b = await sessionWithFiveMessages();
    // One statement across two sessions: each gets its own newest survivor.
    await t.sql.query(
      `DELETE FROM chat_messages
        WHERE (session_id = $1 AND content = 'm5') OR (session_id = $2 AND content IN ('m4', 'm5'))`,
      [a.id, b.id],
    );
    expect(await counters(a.id)).toEqual({
      message_count: 4,
      last_message_preview: 'm4',
      last_message_at: '2025-03-01T10:00:04.000Z',
    });
    expect(await counters(b.id)).toEqual({
      message_count: 3,
      last_message_preview: 'm3',
      last_message_at: '2025-03-01T10:00:03.000Z',
    });
    expect(await violationsOf(a.id, b.id)).toEqual([]);
  });

  it('deleting a message deletes the messages under it (its subtree), and the counters follow what remains', async () => {
    const { id } = await sessionWithFiveMessages();
    await t.sql.query(`DELETE FROM chat_messages WHERE session_id = $1 AND content = 'm3'`, [id]);
    expect(await counters(id)).toEqual({
      message_count: 2,
      last_message_preview: 'm2',
      last_message_at: '2025-03-01T10:00:02.000Z',
    });
    const left = await t.sql.query<{ content: string }>(
      `SELECT content FROM chat_messages WHERE session_id = $1 ORDER BY depth`,
      [id],
    );
    expect(left.map((m) => m.content)).toEqual(['m1', 'm2']);
    expect(await violationsOf(id)).toEqual([]);
  });

  it("deleting every message leaves count 0, no preview and last_message_at at the session's created_at", async () => {
    const { id, createdAt } = await sessionWithFiveMessages();
    await t.sql.query(`DELETE FROM chat_messages WHERE session_id = $1`, [id]);
    expect(await counters(id)).toEqual({
      message_count: 0,
      last_message_preview: null,
      last_message_at: createdAt,
    });
    expect(await violationsOf(id)).toEqual([]);
    // The next message counts from zero again.
    await t.sql.query(
      `INSERT INTO chat_messages (session_id, role, content, created_at)
       VALUES ($1, 'user', 'again', '2025-04-01T00:00:00Z')`,
      [id],
    );
    expect(await counters(id)).toEqual({
      message_count: 1,
      last_message_preview: 'again',
      last_message_at: '2025-04-01T00:00:00.000Z',
    });
  });

  it.each(['users', 'dossier', 'sessions', 'chat_messages'])(
    'updated_at moves on UPDATE of %s',
    async (table) => {
      const session = await newSession();
      const [message] = await t.sql.query<{ id: string }>(
        `INSERT INTO chat_messages (session_id, role, content) VALUES ($1, 'user', 'x')
         RETURNING message_id::text AS id`,
        [session],
      );
      const [key, id] = {
        users: ['user_id', user],
        dossier: ['project_id', project],
        sessions: ['session_id', session],
        chat_messages: ['message_id', message.id],
      }[table]!;
      await t.sql.query(`UPDATE ${table} SET updated_at = '2000-01-01' WHERE ${key} = $1`, [id]);
      const [after] = await t.sql.query<{ recent: boolean }>(
        `SELECT updated_at > now() - interval '1 hour' AS recent FROM ${table} WHERE ${key} = $1`,
        [id],
      );
      expect(after.recent).toBe(true);
    },
  );

  it('deleting a session that a legacy turn points at works: messages go, the turn stays with session_id NULL', async () => {
    const id = await newSession();
    const turn = randomUUID();
    await t.sql.exec(`
      INSERT INTO turns (turn_id, project_id, user_text, assistant_text, session_id, user_id)
        VALUES ('${turn}', '${project}', 'q', 'a', '${id}', '${user}');
      INSERT INTO chat_messages (session_id, turn_id, role, content) VALUES ('${id}', '${turn}', 'user', 'q');`);
    await t.sql.query(`DELETE FROM sessions WHERE session_id = $1`, [id]);
    expect(await count(t.sql, `SELECT count(*) FROM chat_messages WHERE session_id = '${id}'`)).toBe(0);
    const [row] = await t.sql.query<{ session_id: string | null; user_id: string }>(
      `SELECT session_id, user_id FROM turns WHERE turn_id = $1`,
      [turn],
    );
    expect(row).toEqual({ session_id: null, user_id: user });
  });

  it('deleting a project removes its sessions, messages, memberships and turns, leaving no orphans', async () => {
    const other = randomUUID();
    const session = randomUUID();
    await t.sql.exec(`
      INSERT INTO dossier (project_id, title, created_by) VALUES ('${other}', 'gone', '${user}');
      INSERT INTO user_projects (user_id, project_id) VALUES ('${user}', '${other}');
      INSERT INTO sessions (session_id, user_id, project_id) VALUES ('${session}', '${user}', '${other}');
      INSERT INTO chat_messages (session_id, role, content) VALUES ('${session}', 'user', 'x');
      INSERT INTO turns (project_id, user_text) VALUES ('${other}', 'x');
      DELETE FROM dossier WHERE project_id = '${other}';`);
    expect(
      await count(
        t.sql,
        `SELECT (SELECT count(*) FROM sessions WHERE project_id = '${other}') + (SELECT count(*) FROM chat_messages WHERE session_id = '${session}')
              + (SELECT count(*) FROM user_projects WHERE project_id = '${other}') + (SELECT count(*) FROM turns WHERE project_id = '${other}')`,
      ),
    ).toBe(0);
  });

  it("a message carries its session's owner: filled in when left out, refused when it names anyone else", async () => {
    const id = await newSession();
    const stranger = randomUUID();
    await t.sql.query(`INSERT INTO users (user_id) VALUES ($1)`, [stranger]);
    await t.sql.query(`INSERT INTO chat_messages (session_id, role, content) VALUES ($1, 'user', 'mine')`, [
      id,
    ]);
    await t.sql.query(
      `INSERT INTO chat_messages (session_id, user_id, role, content) VALUES ($1, $2, 'user', 'named')`,
      [id, user],
    );
    expect(
      await count(
        t.sql,
        `SELECT count(*) FROM chat_messages WHERE session_id = '${id}' AND user_id = '${user}'`,
      ),
    ).toBe(2);
    await expect(
      t.sql.query(
        `INSERT INTO chat_messages (session_id, user_id, role, content) VALUES ($1, $2, 'user', 'forged')`,
        [id, stranger],
      ),
    ).rejects.toThrow(/foreign key/);
    await expect(
      t.sql.query(`INSERT INTO chat_messages (session_id, role, content) VALUES ($1, 'user', 'lost')`, [
        randomUUID(),
      ]),
    ).rejects.toThrow(/null value|not-null/);
    // A session that changes hands takes its messages with it.
    await t.sql.query(`INSERT INTO user_projects (user_id, project_id) VALUES ($1, $2)`, [stranger, project]);
    await t.sql.query(`UPDATE sessions SET user_id = $2 WHERE session_id = $1`, [id, stranger]);
    expect(
      await count(
        t.sql,
        `SELECT count(*) FROM chat_messages WHERE session_id = '${id}' AND user_id = '${stranger}'`,
      ),
    ).toBe(2);
  });

  it('a message role outside user/assistant/system is refused', async () => {
    const id = await newSession();
    await expect(
      t.sql.query(`INSERT INTO chat_messages (session_id, role, content) VALUES ($1, 'tool', 'x')`, [id]),
    ).rejects.toThrow(/check constraint/);
  });
});

describe(`schema: the message-owner migration on a database with history (${DATABASE_KIND})`, () => {
  it("fills every message's user_id from its session and leaves updated_at as it was", async () => {
    const db = await openEmptyDatabase();
    try {
      const all = await readMigrations();
      const last = all.findIndex((m) => m.name.endsWith('_message_owner'));
      expect(last).toBeGreaterThan(0);
      const dir = await mkdtemp(join(tmpdir(), 'parley-migrations-'));
      for (const m of all.slice(0, last))
        await cp(join(MIGRATIONS_DIR, m.name), join(dir, m.name), { recursive: true });
      await migrate(db.sql, dir);
      const [a, b] = [randomUUID(), randomUUID()];
      await db.sql.exec(`
        INSERT INTO users (user_id) VALUES ('${a}'), ('${b}');
        INSERT INTO sessions (session_id, user_id) VALUES ('${a}', '${a}'), ('${b}', '${b}');
        INSERT INTO chat_messages (session_id, role, content, created_at, updated_at) VALUES
          ('${a}', 'user', 'one', '2025-01-01T10:00:00Z', '2025-01-01T10:00:00Z'),
          ('${a}', 'assistant', 'two', '2025-01-01T10:00:01Z', '2025-01-01T10:00:02Z'),
          ('${b}', 'user', 'three', '2025-02-01T10:00:00Z', '2025-02-01T10:00:00Z');`);

      expect((await migrate(db.sql)).applied).toEqual([
        all[last].name,
        ...all.slice(last + 1).map((m) => m.name),
      ]);
      const rows = await db.sql.query<{ session_id: string; user_id: string; updated_at: string }>(
        `SELECT session_id, user_id, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS updated_at
           FROM chat_messages ORDER BY seq`,
      );
      expect(rows).toEqual([
        { session_id: a, user_id: a, updated_at: '2025-01-01 10:00:00' },
        { session_id: a, user_id: a, updated_at: '2025-01-01 10:00:02' },
        { session_id: b, user_id: b, updated_at: '2025-02-01 10:00:00' },
      ]);
    } finally {
      await db.close();
    }
  });
});

describe(`schema: the last_message_at repair on a database with history (${DATABASE_KIND})`, () => {
  it('moves last_message_at of sessions the old delete trigger left behind, and leaves updated_at as it was', async () => {
    const db = await openEmptyDatabase();
    try {
      const all = await readMigrations();
      const fix = all.findIndex((m) => m.name.endsWith('_last_message_at_after_delete'));
      expect(fix).toBeGreaterThan(0);
      const dir = await mkdtemp(join(tmpdir(), 'parley-migrations-'));
      for (const m of all.slice(0, fix))
        await cp(join(MIGRATIONS_DIR, m.name), join(dir, m.name), { recursive: true });
      await migrate(db.sql, dir);
      const [owner, newest, emptied, intact] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await db.sql.exec(`
        INSERT INTO users (user_id) VALUES ('${owner}');
        INSERT INTO sessions (session_id, user_id, created_at) VALUES
          ('${newest}', '${owner}', '2025-01-01T09:00:00Z'),
          ('${emptied}', '${owner}', '2025-01-01T09:00:00Z'),
          ('${intact}', '${owner}', '2025-01-01T09:00:00Z');
        INSERT INTO chat_messages (session_id, role, content, created_at)
          SELECT s, 'user', 'm' || g, '2025-01-01T10:00:00Z'::timestamptz + g * interval '1 minute'
            FROM unnest(ARRAY['${newest}', '${emptied}', '${intact}']::uuid[]) s, generate_series(1, 3) g;
        DELETE FROM chat_messages WHERE session_id = '${newest}' AND content = 'm3';
        DELETE FROM chat_messages WHERE session_id = '${emptied}';`);
      const state = () =>
        db.sql.query<{ session_id: string; last_message_at: string; updated_at: string }>(
          `SELECT session_id, ${UTC('last_message_at')} AS last_message_at,
                  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS updated_at
             FROM sessions ORDER BY session_id`,
        );
      const before = await state();
      // What the old trigger left: last_message_at still at the deleted messages' time.
      expect(before.find((s) => s.session_id === newest)?.last_message_at).toBe('2025-01-01T10:03:00.000Z');
      expect(before.find((s) => s.session_id === emptied)?.last_message_at).toBe('2025-01-01T10:03:00.000Z');

      expect((await migrate(db.sql)).applied).toEqual(all.slice(fix).map((m) => m.name));
      const expected: Record<string, string> = {
        [newest]: '2025-01-01T10:02:00.000Z',
        [emptied]: '2025-01-01T09:00:00.000Z',
        [intact]: '2025-01-01T10:03:00.000Z',
      };
      expect(await state()).toEqual(before.map((s) => ({ ...s, last_message_at: expected[s.session_id] })));
      expect(await findInvariantViolations(db.sql)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe(`schema: upgrading a database that already has the legacy tables (${DATABASE_KIND})`, () => {
  it('keeps existing dossiers and turns (including orphan turns) and adds the new columns and tables', async () => {
    const db = await openEmptyDatabase();
    try {
      await db.sql.exec(`
        CREATE TABLE dossier (project_id UUID PRIMARY KEY DEFAULT gen_random_uuid(), title TEXT,
                              created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ DEFAULT now());
        CREATE TABLE turns (turn_id UUID PRIMARY KEY DEFAULT gen_random_uuid(), project_id UUID, user_text TEXT,
                            assistant_text TEXT, created_at TIMESTAMPTZ DEFAULT now());
        INSERT INTO dossier (project_id, title) VALUES ('11111111-1111-4111-8111-111111111111', 'Old story');
        INSERT INTO turns (project_id, user_text, assistant_text) VALUES
          ('11111111-1111-4111-8111-111111111111', 'hello', 'hi'),
          ('22222222-2222-4222-8222-222222222222', 'orphan', 'turn');`);
      const result = await migrate(db.sql);
      expect(result.applied.length).toBeGreaterThan(0);
      const [state] = await db.sql.query<Record<string, unknown>>(`
        SELECT (SELECT count(*)::int FROM dossier) AS dossiers,
               (SELECT count(*)::int FROM turns) AS turns,
               (SELECT count(*)::int FROM information_schema.columns
                 WHERE table_name = 'turns' AND column_name IN ('session_id', 'user_id')) AS new_turn_columns,
               (SELECT count(*)::int FROM information_schema.columns
                 WHERE table_name = 'dossier' AND column_name = 'created_by') AS created_by,
               to_regclass('chat_messages') IS NOT NULL AS messages_table`);
      expect(state).toEqual({
        dossiers: 1,
        turns: 2,
        new_turn_columns: 2,
        created_by: 1,
        messages_table: true,
      });
      // New rows are checked against the dossier key even though old orphans were accepted.
      await expect(
        db.sql.query(
          `INSERT INTO turns (project_id, user_text) VALUES ('33333333-3333-4333-8333-333333333333', 'x')`,
        ),
      ).rejects.toThrow(/foreign key/);
    } finally {
      await db.close();
    }
  });
});
