import pg from 'pg';
import { RetentionService } from '../src/retention/retention.service.js';
import {
  addMessages,
  createSession,
  createUser,
  type TestSession,
  type TestUser,
} from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe(`retention, temporary sessions and pins (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ TEMP_SESSION_RETENTION_HOURS: '2', SESSION_RETENTION_DAYS: '30' });
  });
  afterAll(() => t?.close());

  const inject = (...args: Parameters<TestApp['app']['inject']>) => t.app.inject(...args);
  const getSession = (user: TestUser, id: string) =>
    inject({ method: 'GET', url: `/api/v1/sessions/${id}`, headers: user.headers });
  const patch = (user: TestUser, id: string, payload: Record<string, unknown>) =>
    inject({ method: 'PATCH', url: `/api/v1/sessions/${id}`, headers: user.headers, payload });
  /** Moves a session's creation and last activity back in time (the clock the database reads is now()). */
  const age = (sessionId: string, ms: number) =>
    t.sql.query(
      `UPDATE sessions SET created_at = created_at - $2::interval, last_message_at = last_message_at - $2::interval
        WHERE session_id = $1`,
      [sessionId, `${ms / 1000} seconds`],
    );
  const exists = async (table: string, column: string, id: string) =>
    (
      await t.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id])
    )[0].n;
  const purgedMetric = async () => {
    const text = (await inject({ method: 'GET', url: '/metrics' })).body;
    return Number(/^parley_sessions_purged_total (\d+)/m.exec(text)?.[1] ?? 0);
  };
  const purge = (at: Date) => t.app.get(RetentionService).purge(at);

  it('applies TEMP_SESSION_RETENTION_HOURS and SESSION_RETENTION_DAYS to the database at start', async () => {
    expect(await t.sql.query('SELECT temporary_hours, session_days FROM retention_settings')).toEqual([
      { temporary_hours: 2, session_days: 30 },
    ]);
  });

  it('a temporary session answers 404 everywhere the moment it expires, then the purge deletes it', async () => {
    const ada = await createUser(t.app);
    const created = await inject({
      method: 'POST',
      url: '/api/v1/sessions',
      headers: ada.headers,
      payload: { title: 'Scratch pad', temporary: true },
    });
    expect(created.statusCode).toBe(201);
    const session: TestSession & { temporary: boolean; pinned: boolean } = created.json();
    expect(session).toMatchObject({ temporary: true, pinned: false });
    await addMessages(t.sql, session.session_id, ['a temporary platypus']);
    expect((await getSession(ada, session.session_id)).statusCode).toBe(200);

    await age(session.session_id, 2 * HOUR + 1000);
    expect((await getSession(ada, session.session_id)).statusCode).toBe(404);
    const messages = await inject({
      method: 'GET',
      url: `/api/v1/sessions/${session.session_id}/messages`,
      headers: ada.headers,
    });
    expect(messages.statusCode).toBe(404);
    expect((await patch(ada, session.session_id, { title: 'x' })).statusCode).toBe(404);
    const chat = await inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: ada.headers,
      payload: { text: 'still there?', session_id: session.session_id },
    });
    expect(chat.statusCode).toBe(404);
    const list = await inject({ method: 'GET', url: '/api/v1/sessions', headers: ada.headers });
    expect(list.json().data.map((s: TestSession) => s.session_id)).not.toContain(session.session_id);
    const search = await inject({ method: 'GET', url: '/api/v1/search?q=platypus', headers: ada.headers });
    expect(search.json().data).toEqual([]);

    const before = await purgedMetric();
    expect(await purge(new Date())).toBeGreaterThanOrEqual(1);
    expect(await exists('sessions', 'session_id', session.session_id)).toBe(0);
    expect(await exists('chat_messages', 'session_id', session.session_id)).toBe(0);
    expect(await exists('message_search', 'session_id', session.session_id)).toBe(0);
    expect(await purgedMetric()).toBeGreaterThan(before);
  });

  it('the purge, on a test clock, deletes a temporary chat with its messages, stream chunks and stored replies', async () => {
    const bob = await createUser(t.app);
    const chat = await inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: { ...bob.headers, 'idempotency-key': 'retention-key' },
      payload: { text: 'Help with a temporary ode', temporary: true },
    });
    expect(chat.statusCode).toBe(200);
    const { session, assistant_message: assistant } = chat.json();
    expect(session.temporary).toBe(true);
    await t.sql.query(
      `INSERT INTO chat_generation_chunks (message_id, seq, user_id, delta) VALUES ($1, 0, $2, 'x')`,
      [assistant.message_id, bob.user_id],
    );
    const ordinary = await createSession(t.app, bob, { title: 'ordinary' });
    expect(await exists('idempotency_keys', 'session_id', session.session_id)).toBe(1);

    // An hour from now nothing has expired; three hours from now the temporary chat has (2 hours), the
    // ordinary session not (30 days).
    await purge(new Date(Date.now() + HOUR));
    expect(await exists('sessions', 'session_id', session.session_id)).toBe(1);
    await purge(new Date(Date.now() + 3 * HOUR));
    expect(await exists('sessions', 'session_id', session.session_id)).toBe(0);
    expect(await exists('chat_messages', 'session_id', session.session_id)).toBe(0);
    expect(await exists('idempotency_keys', 'session_id', session.session_id)).toBe(0);
    expect(await exists('chat_generation_chunks', 'message_id', assistant.message_id)).toBe(0);
    expect(await exists('sessions', 'session_id', ordinary.session_id)).toBe(1);
    // A retry with the key after the purge is a new request, not a replay of a deleted session.
    expect((await getSession(bob, session.session_id)).statusCode).toBe(404);
  });

  it('ordinary sessions expire SESSION_RETENTION_DAYS after their last activity; pinned ones never', async () => {
    const cy = await createUser(t.app);
    const [old, recent, pinned, pinnedTemporary] = [
      await createSession(t.app, cy, { title: 'old' }),
      await createSession(t.app, cy, { title: 'recent' }),
      await createSession(t.app, cy, { title: 'pinned' }),
      (
        await inject({
          method: 'POST',
          url: '/api/v1/sessions',
          headers: cy.headers,
          payload: { temporary: true },
        })
      ).json() as TestSession,
    ];
    for (const s of [pinned, pinnedTemporary]) {
      const response = await patch(cy, s.session_id, { pinned: true });
      expect(response.statusCode).toBe(200);
      expect(response.json().pinned).toBe(true);
    }
    await age(old.session_id, 31 * DAY);
    await age(recent.session_id, 29 * DAY);
    await age(pinned.session_id, 400 * DAY);
    await age(pinnedTemporary.session_id, 400 * DAY);
    expect((await getSession(cy, old.session_id)).statusCode).toBe(404);
    for (const s of [recent, pinned, pinnedTemporary])
      expect((await getSession(cy, s.session_id)).statusCode).toBe(200);

    await purge(new Date());
    expect(await exists('sessions', 'session_id', old.session_id)).toBe(0);
    for (const s of [recent, pinned, pinnedTemporary])
      expect(await exists('sessions', 'session_id', s.session_id)).toBe(1);

    // Unpinned, a session past its retention expires at once: deleted, 404.
    expect((await patch(cy, pinned.session_id, { pinned: false })).statusCode).toBe(404);
    expect((await getSession(cy, pinned.session_id)).statusCode).toBe(404);
    expect(await exists('sessions', 'session_id', pinned.session_id)).toBe(0);
    // A recent one just loses its pin.
    await patch(cy, recent.session_id, { pinned: true });
    expect((await patch(cy, recent.session_id, { pinned: false })).json()).toMatchObject({ pinned: false });
  });

  const lockTest =
    'one purge at a time: while another instance holds the advisory lock, a purge skips its round';
  (DATABASE_KIND === 'postgres' ? it : it.skip)(
    DATABASE_KIND === 'postgres'
      ? lockTest
      : `${lockTest} [skipped: the embedded database has one connection]`,
    async () => {
      const client = new pg.Client({ connectionString: t.config.DATABASE_URL });
      await client.connect();
      try {
        await client.query(`SELECT pg_advisory_lock(hashtext('parley:purge_expired_sessions'))`);
        expect(await purge(new Date())).toBeNull();
        await client.query(`SELECT pg_advisory_unlock(hashtext('parley:purge_expired_sessions'))`);
        expect(await purge(new Date())).not.toBeNull();
      } finally {
        await client.end();
      }
    },
  );

  it('pinned sessions list first, and the cursor walks pinned then unpinned, each session once', async () => {
    const dee = await createUser(t.app);
    const sessions: TestSession[] = [];
    for (let i = 0; i < 6; i++) sessions.push(await createSession(t.app, dee, { title: `s${i}` }));
    // Activity: s5 newest ... s0 oldest, one second apart.
    for (let i = 0; i < 6; i++)
      await t.sql.query(`UPDATE sessions SET last_message_at = $2::timestamptz WHERE session_id = $1`, [
        sessions[i].session_id,
        new Date(Date.now() - (10 - i) * 1000).toISOString(),
      ]);
    await patch(dee, sessions[1].session_id, { pinned: true });
    await patch(dee, sessions[3].session_id, { pinned: true });
    const expected = [3, 1, 5, 4, 2, 0].map((i) => sessions[i].session_id);

    const first = await inject({ method: 'GET', url: '/api/v1/sessions?limit=100', headers: dee.headers });
    expect(first.json().data.map((s: TestSession) => s.session_id)).toEqual(expected);
    for (const limit of [1, 2, 4]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await inject({
          method: 'GET',
          url: `/api/v1/sessions?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
          headers: dee.headers,
        });
        expect(page.statusCode).toBe(200);
        seen.push(...page.json().data.map((s: TestSession) => s.session_id));
        cursor = page.json().next_cursor;
      } while (cursor && seen.length < 20);
      expect([limit, seen]).toEqual([limit, expected]);
    }
  });
});
