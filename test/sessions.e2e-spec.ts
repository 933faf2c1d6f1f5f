import { randomUUID } from 'node:crypto';
import { DatabaseService, prismaOf, type Tx } from '../src/database/database.service.js';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import { SessionsRepository } from '../src/sessions/sessions.repository.js';
import {
  addMessages,
  createProject,
  createSession,
  createUser,
  type TestSession,
  type TestUser,
} from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

describe(`sessions API (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const inject = (...args: Parameters<TestApp['app']['inject']>) => t.app.inject(...args);
  const list = (user: TestUser, query = '') =>
    inject({ method: 'GET', url: `/api/v1/sessions${query ? `?${query}` : ''}`, headers: user.headers });

  /** Follows next_cursor until the last page; returns the ids in order and the page sizes. */
  async function walk(user: TestUser, query: string): Promise<{ ids: string[]; pages: number[] }> {
    const ids: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const response = await list(user, `${query}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      ids.push(...body.data.map((s: TestSession) => s.session_id));
      pages.push(body.data.length);
      cursor = body.next_cursor;
      if (pages.length > 50) throw new Error('pagination does not end');
    } while (cursor);
    return { ids, pages };
  }

  /** Moves sessions to fixed last_message_at values (maintenance path), e.g. to make ties. */
  const setLastMessageAt = (sessionId: string, at: string) =>
    t.sql.query(`UPDATE sessions SET last_message_at = $2::timestamptz WHERE session_id = $1`, [
      sessionId,
      at,
    ]);

  const sessionRow = async (sessionId: string) =>
    (
      await t.sql.query<{ title: string | null; is_active: boolean; message_count: number }>(
        `SELECT title, is_active, message_count FROM sessions WHERE session_id = $1`,
        [sessionId],
      )
    )[0];

  const fieldsOf = (body: { details?: { field: string }[] }) => (body.details ?? []).map((d) => d.field);

  describe('POST /api/v1/sessions', () => {
    it('without project_id creates an empty session, title trimmed, in a new project the caller belongs to', async () => {
      const user = await createUser(t.app);
      const response = await inject({
        method: 'POST',
        url: '/api/v1/sessions',
        headers: user.headers,
        payload: { title: '  Horror story  ' },
      });
      expect(response.statusCode).toBe(201);
      const body = response.json();
      expect(body).toEqual({
        session_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        project_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        title: 'Horror story',
        is_active: true,
        message_count: 0,
        last_message_preview: null,
        pinned: false,
        temporary: false,
        last_message_at: expect.any(String),
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      const [project] = await t.sql.query<{ created_by: string; member: boolean }>(
        `SELECT created_by::text,
                EXISTS (SELECT 1 FROM user_projects WHERE project_id = d.project_id AND user_id = $2) AS member
           FROM dossier d WHERE project_id = $1`,
        [body.project_id, user.user_id],
      );
      expect(project).toEqual({ created_by: user.user_id, member: true });
    });

    it('with a project the caller belongs to puts the session there; without a title it is untitled', async () => {
      const user = await createUser(t.app);
      const project = await createProject(t.app, user);
      const response = await inject({
        method: 'POST',
        url: '/api/v1/sessions',
        headers: user.headers,
        payload: { project_id: project.project_id },
      });
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ project_id: project.project_id, title: null });
    });

    it('a title of exactly 200 characters after trimming is accepted', async () => {
      const user = await createUser(t.app);
      const title = 'x'.repeat(200);
      const response = await inject({
        method: 'POST',
        url: '/api/v1/sessions',
        headers: user.headers,
        payload: { title: `  ${title}\n` },
      });
      expect(response.statusCode).toBe(201);
      expect(response.json().title).toBe(title);
    });

    it("another user's project and an unknown project are both 404, alike, and create nothing", async () => {
      const user = await createUser(t.app);
      const other = await createUser(t.app);
      const othersProject = await createProject(t.app, other);
      const bodies = [];
      for (const projectId of [othersProject.project_id, randomUUID()]) {
        const response = await inject({
          method: 'POST',
          url: '/api/v1/sessions',
          headers: user.headers,
          payload: { project_id: projectId, title: 'sneaky' },
        });
        expect(response.statusCode).toBe(404);
        const { request_id: _ignored, ...body } = response.json();
        bodies.push(body);
      }
      expect(bodies[0]).toEqual(bodies[1]);
      expect(bodies[0]).toMatchObject({ error: 'not_found' });
      const [counts] = await t.sql.query<{ sessions: number; projects: number }>(
        `SELECT (SELECT count(*)::int FROM sessions WHERE user_id = $1) AS sessions,
                (SELECT count(*)::int FROM dossier WHERE created_by = $1) AS projects`,
        [user.user_id],
      );
      expect(counts).toEqual({ sessions: 0, projects: 0 });
    });

    it.each([
      ['a blank title', { title: '   ' }, 'title'],
      ['a 201-character title', { title: 'x'.repeat(201) }, 'title'],
      ['a numeric title', { title: 42 }, 'title'],
      ['a malformed project_id', { project_id: 'not-a-uuid' }, 'project_id'],
      ['a numeric project_id', { project_id: 7 }, 'project_id'],
      ['an unknown field', { colour: 'red' }, 'colour'],
    ])('%s is 400 naming %s', async (_label, payload, field) => {
      const user = await createUser(t.app);
      const response = await inject({
        method: 'POST',
        url: '/api/v1/sessions',
        headers: user.headers,
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('validation_failed');
      expect(fieldsOf(response.json())).toContain(field);
    });

    it('without a caller it is 401', async () => {
      const response = await inject({ method: 'POST', url: '/api/v1/sessions', payload: {} });
      expect(response.statusCode).toBe(401);
    });
  });

  describe('GET /api/v1/sessions', () => {
    it('a user without sessions gets an empty page and no cursor', async () => {
      const user = await createUser(t.app);
      const response = await list(user);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ data: [], next_cursor: null });
    });

    it("lists only the caller's sessions, most recent message first, with message_count and preview", async () => {
      const user = await createUser(t.app);
      const other = await createUser(t.app);
      const first = await createSession(t.app, user, { title: 'first' });
      const second = await createSession(t.app, user, { title: 'second' });
      const third = await createSession(t.app, user, { title: 'third' });
      await createSession(t.app, other, { title: 'not mine' });
      await setLastMessageAt(first.session_id, '2026-01-01T00:00:01Z');
      await setLastMessageAt(second.session_id, '2026-01-01T00:00:02Z');
      await setLastMessageAt(third.session_id, '2026-01-01T00:00:03Z');
      await addMessages(t.sql, first.session_id, ['hello', 'hi, how can I help?']);
      const response = await list(user);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.next_cursor).toBeNull();
      expect(body.data.map((s: TestSession) => s.title)).toEqual(['first', 'third', 'second']);
      expect(body.data[0]).toMatchObject({ message_count: 2, last_message_preview: 'hi, how can I help?' });
      expect(body.data[1]).toMatchObject({ message_count: 0, last_message_preview: null });
    });

    it('exactly one page: a limit equal to the number of sessions has no next_cursor', async () => {
      const user = await createUser(t.app);
      for (let i = 0; i < 3; i++) await createSession(t.app, user);
      const exact = await list(user, 'limit=3');
      expect(exact.json().data).toHaveLength(3);
      expect(exact.json().next_cursor).toBeNull();
      const { ids, pages } = await walk(user, 'limit=2');
      expect(pages).toEqual([2, 1]);
      expect(new Set(ids).size).toBe(3);
    });

    it('the default limit is 10 and a limit of 100 is accepted', async () => {
      const user = await createUser(t.app);
      for (let i = 0; i < 11; i++) await createSession(t.app, user);
      const byDefault = (await list(user)).json();
      expect(byDefault.data).toHaveLength(10);
      expect(byDefault.next_cursor).toEqual(expect.any(String));
      const max = (await list(user, 'limit=100')).json();
      expect(max.data).toHaveLength(11);
      expect(max.next_cursor).toBeNull();
    });

    it('ties: sessions with the same last_message_at are each listed once, ordered by id', async () => {
      const user = await createUser(t.app);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createSession(t.app, user)).session_id);
      for (const id of ids) await setLastMessageAt(id, '2026-03-01T12:00:00.123456Z');
      const walked = await walk(user, 'limit=2');
      expect(walked.pages).toEqual([2, 2, 1]);
      expect(walked.ids).toEqual([...ids].sort().reverse());
    });

    it('the cursor keeps microseconds: sessions one microsecond apart are neither skipped nor repeated', async () => {
      const user = await createUser(t.app);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await createSession(t.app, user)).session_id);
      // Newest first: ids[0] at .123457, then .123456, .123455, .123454 (all in the same millisecond).
      for (const [i, id] of ids.entries()) await setLastMessageAt(id, `2026-03-02T12:00:00.12345${7 - i}Z`);
      expect((await walk(user, 'limit=1')).ids).toEqual(ids);
    });

    it('a cursor stays valid while messages arrive: nothing is repeated and sessions that moved up are not re-listed', async () => {
      const user = await createUser(t.app);
      const s: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = (await createSession(t.app, user, { title: `s${i}` })).session_id;
        await setLastMessageAt(id, `2026-04-01T00:00:0${i}Z`);
        s.push(id);
      }
      // Newest first: s4, s3 | s2, s1, s0.
      const page1 = (await list(user, 'limit=2')).json();
      expect(page1.data.map((x: TestSession) => x.session_id)).toEqual([s[4], s[3]]);
      // s3 (already seen) and s1 (not yet seen) get new messages and jump to the top.
      await addMessages(t.sql, s[3], ['new in s3']);
      await addMessages(t.sql, s[1], ['new in s1']);
      const rest = await walk(user, `limit=2&cursor=${page1.next_cursor}`);
      expect(rest.ids).toEqual([s[2], s[0]]);
      // A fresh first page shows them on top.
      const fresh = (await list(user, 'limit=2')).json();
      expect(new Set(fresh.data.map((x: TestSession) => x.session_id))).toEqual(new Set([s[1], s[3]]));
    });

    it('filters by project_id and is_active, and pages within the filter', async () => {
      const user = await createUser(t.app);
      const other = await createUser(t.app);
      const p1 = await createProject(t.app, user, 'one');
      const p2 = await createProject(t.app, user, 'two');
      const inP1: string[] = [];
      for (let i = 0; i < 3; i++)
        inP1.push((await createSession(t.app, user, { project_id: p1.project_id })).session_id);
      const inP2 = (await createSession(t.app, user, { project_id: p2.project_id })).session_id;
      const archive = await inject({
        method: 'PATCH',
        url: `/api/v1/sessions/${inP1[0]}`,
        headers: user.headers,
        payload: { is_active: false },
      });
      expect(archive.statusCode).toBe(200);
      const sorted = (ids: string[]) => [...ids].sort();
      expect(sorted((await walk(user, `limit=2&project_id=${p1.project_id}`)).ids)).toEqual(sorted(inP1));
      expect((await walk(user, `project_id=${p2.project_id}`)).ids).toEqual([inP2]);
      expect((await walk(user, 'is_active=false')).ids).toEqual([inP1[0]]);
      expect(sorted((await walk(user, 'limit=1&is_active=true')).ids)).toEqual(
        sorted([inP1[1], inP1[2], inP2]),
      );
      expect(sorted((await walk(user, `is_active=true&project_id=${p1.project_id}`)).ids)).toEqual(
        sorted([inP1[1], inP1[2]]),
      );
      // Another user's project as a filter shows nothing (there is nothing of the caller's in it).
      const othersProject = await createProject(t.app, other);
      await createSession(t.app, other, { project_id: othersProject.project_id });
      expect((await list(user, `project_id=${othersProject.project_id}`)).json()).toEqual({
        data: [],
        next_cursor: null,
      });
    });

    it("a cursor carries no authority: another user's cursor lists only the caller's own sessions", async () => {
      const a = await createUser(t.app);
      const b = await createUser(t.app);
      for (let i = 0; i < 3; i++) await createSession(t.app, a);
      const bSession = await createSession(t.app, b);
      await setLastMessageAt(bSession.session_id, '2000-01-01T00:00:00Z');
      const cursor = (await list(a, 'limit=1')).json().next_cursor;
      const response = await list(b, `cursor=${cursor}`);
      expect(response.statusCode).toBe(200);
      expect(response.json().data.map((s: TestSession) => s.session_id)).toEqual([bSession.session_id]);
    });

    const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
    it.each([
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['is_active=yes', 'is_active'],
      ['project_id=not-a-uuid', 'project_id'],
      ['cursor=!!!', 'cursor'],
      [`cursor=${cursorOf('hello')}`, 'cursor'],
      [`cursor=${cursorOf(`v1|2026-02-30T00:00:00.000000Z|${randomUUID()}`)}`, 'cursor'],
      [`cursor=${cursorOf('v1|2026-02-03T00:00:00.000000Z|not-a-uuid')}`, 'cursor'],
      [`cursor=${cursorOf(`v2|2026-02-03T00:00:00.000000Z|${randomUUID()}`)}`, 'cursor'],
      ['sort=asc', 'sort'],
    ])('GET /api/v1/sessions?%s is 400 naming %s', async (query, field) => {
      const user = await createUser(t.app);
      const response = await list(user, query);
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('validation_failed');
      expect(fieldsOf(response.json())).toContain(field);
    });
  });

  describe('one session', () => {
    let owner: TestUser;
    let intruder: TestUser;
    beforeAll(async () => {
      owner = await createUser(t.app);
      intruder = await createUser(t.app);
    });

    it('GET returns the session with its counters', async () => {
      const session = await createSession(t.app, owner, { title: 'Mine' });
      await addMessages(t.sql, session.session_id, ['one', 'two']);
      const response = await inject({
        method: 'GET',
        url: `/api/v1/sessions/${session.session_id}`,
        headers: owner.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        session_id: session.session_id,
        title: 'Mine',
        message_count: 2,
        last_message_preview: 'two',
      });
    });

    it('a malformed id is 400 naming session_id on every route', async () => {
      for (const [method, suffix, payload] of [
        ['GET', '', undefined],
        ['PUT', '/title', { title: 'x' }],
        ['PATCH', '', { title: 'x' }],
        ['DELETE', '', undefined],
        ['GET', '/messages', undefined],
      ] as const) {
        const response = await inject({
          method,
          url: `/api/v1/sessions/not-a-uuid${suffix}`,
          headers: owner.headers,
          ...(payload ? { payload } : {}),
        });
        expect(response.statusCode).toBe(400);
        expect(fieldsOf(response.json())).toEqual(['session_id']);
      }
    });

    it("another user's session answers 404 exactly like a missing id on every route, and nothing changes", async () => {
      const session = await createSession(t.app, owner, { title: 'Private' });
      await addMessages(t.sql, session.session_id, ['secret']);
      const before = await sessionRow(session.session_id);
      for (const [method, suffix, payload] of [
        ['GET', '', undefined],
        ['PUT', '/title', { title: 'stolen' }],
        ['PATCH', '', { title: 'stolen', is_active: false }],
        ['DELETE', '', undefined],
        ['GET', '/messages', undefined],
      ] as const) {
        const bodies = [];
        for (const id of [session.session_id, randomUUID()]) {
          const response = await inject({
            method,
            url: `/api/v1/sessions/${id}${suffix}`,
            headers: intruder.headers,
            ...(payload ? { payload } : {}),
          });
          expect(`${method} ${suffix} ${response.statusCode}`).toBe(`${method} ${suffix} 404`);
          const { request_id: _ignored, ...body } = response.json();
          bodies.push(body);
        }
        expect(bodies[0]).toEqual(bodies[1]);
      }
      expect(await sessionRow(session.session_id)).toEqual(before);
      expect(before).toEqual({ title: 'Private', is_active: true, message_count: 1 });
    });

    it('PUT /title sets the trimmed title and moves updated_at', async () => {
      const session = await createSession(t.app, owner, { title: 'Old' });
      const response = await inject({
        method: 'PUT',
        url: `/api/v1/sessions/${session.session_id}/title`,
        headers: owner.headers,
        payload: { title: '  New title ' },
      });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.title).toBe('New title');
      expect(new Date(body.updated_at).getTime()).toBeGreaterThanOrEqual(
        new Date(session.updated_at).getTime(),
      );
      expect((await sessionRow(session.session_id)).title).toBe('New title');
    });

    it.each([
      ['no title', {}, 'title'],
      ['a blank title', { title: '  ' }, 'title'],
      ['a 201-character title', { title: 'y'.repeat(201) }, 'title'],
      ['a null title', { title: null }, 'title'],
      ['an array title', { title: ['a'] }, 'title'],
      ['an extra field', { title: 'ok', is_active: false }, 'is_active'],
    ])('PUT /title with %s is 400 naming %s and changes nothing', async (_label, payload, field) => {
      const session = await createSession(t.app, owner, { title: 'Keep' });
      const response = await inject({
        method: 'PUT',
        url: `/api/v1/sessions/${session.session_id}/title`,
        headers: owner.headers,
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(fieldsOf(response.json())).toContain(field);
      expect((await sessionRow(session.session_id)).title).toBe('Keep');
    });

    it('PATCH archives and restores a session, changes and clears the title, and an empty body changes nothing', async () => {
      const session = await createSession(t.app, owner, { title: 'Draft' });
      const patch = (payload: object) =>
        inject({
          method: 'PATCH',
          url: `/api/v1/sessions/${session.session_id}`,
          headers: owner.headers,
          payload,
        });
      const archived = await patch({ is_active: false });
      expect(archived.statusCode).toBe(200);
      expect(archived.json()).toMatchObject({ is_active: false, title: 'Draft' });
      const both = await patch({ is_active: true, title: ' Final ' });
      expect(both.json()).toMatchObject({ is_active: true, title: 'Final' });
      const cleared = await patch({ title: null });
      expect(cleared.json()).toMatchObject({ is_active: true, title: null });
      const empty = await patch({});
      expect(empty.statusCode).toBe(200);
      expect(empty.json()).toMatchObject({ session_id: session.session_id, is_active: true, title: null });
    });

    it.each([
      [{ is_active: 'no' }, 'is_active'],
      [{ is_active: null }, 'is_active'],
      [{ title: '' }, 'title'],
      [{ title: 5 }, 'title'],
      [{ message_count: 0 }, 'message_count'],
    ])('PATCH with %j is 400 naming %s and changes nothing', async (payload, field) => {
      const session = await createSession(t.app, owner, { title: 'Keep' });
      const response = await inject({
        method: 'PATCH',
        url: `/api/v1/sessions/${session.session_id}`,
        headers: owner.headers,
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(fieldsOf(response.json())).toContain(field);
      expect(await sessionRow(session.session_id)).toEqual({
        title: 'Keep',
        is_active: true,
        message_count: 0,
      });
    });

    it('DELETE is 204, removes the messages, keeps the legacy turn with session_id NULL; a second DELETE is 404', async () => {
      const session = await createSession(t.app, owner);
      const [turn] = await t.sql.query<{ turn_id: string }>(
        `INSERT INTO turns (project_id, user_text, assistant_text, session_id, user_id)
         VALUES ($1, 'hi', 'hello', $2, $3) RETURNING turn_id`,
        [session.project_id, session.session_id, owner.user_id],
      );
      await addMessages(t.sql, session.session_id, [
        { role: 'user', content: 'hi', turn_id: turn.turn_id },
        { role: 'assistant', content: 'hello', turn_id: turn.turn_id },
      ]);
      const url = `/api/v1/sessions/${session.session_id}`;
      const response = await inject({ method: 'DELETE', url, headers: owner.headers });
      expect(response.statusCode).toBe(204);
      expect(response.body).toBe('');
      const [after] = await t.sql.query<Record<string, unknown>>(
        `SELECT (SELECT count(*)::int FROM sessions WHERE session_id = $1) AS sessions,
                (SELECT count(*)::int FROM chat_messages WHERE session_id = $1) AS messages,
                (SELECT count(*)::int FROM turns WHERE turn_id = $2) AS turns,
                (SELECT session_id::text FROM turns WHERE turn_id = $2) AS turn_session`,
        [session.session_id, turn.turn_id],
      );
      expect(after).toEqual({ sessions: 0, messages: 0, turns: 1, turn_session: null });
      expect((await inject({ method: 'GET', url, headers: owner.headers })).statusCode).toBe(404);
      expect((await inject({ method: 'DELETE', url, headers: owner.headers })).statusCode).toBe(404);
    });
  });

  describe('counters kept by the trigger, seen through the API', () => {
    it('message_count, last_message_preview and last_message_at move with a single insert and with a multi-row INSERT', async () => {
      const user = await createUser(t.app);
      const session = await createSession(t.app, user);
      const get = async () =>
        (
          await inject({
            method: 'GET',
            url: `/api/v1/sessions/${session.session_id}`,
            headers: user.headers,
          })
        ).json();

      // The chat path: one message through the repository, in the caller's RLS context.
      await t.app
        .get(DatabaseService)
        .asUser({ userId: user.user_id, via: 'header' }, (tx) =>
          t.app
            .get(MessagesRepository)
            .insert(tx, { sessionId: session.session_id, role: 'user', content: 'first' }),
        );
      const one = await get();
      expect(one).toMatchObject({ message_count: 1, last_message_preview: 'first' });
      expect(new Date(one.last_message_at).getTime()).toBeGreaterThanOrEqual(
        new Date(session.last_message_at).getTime(),
      );

      // One statement, three rows, the same created_at: the newest by insertion order is previewed.
      const long = 'z'.repeat(250);
      const rows = await addMessages(t.sql, session.session_id, ['second', 'third', long]);
      const three = await get();
      expect(three).toMatchObject({ message_count: 4, last_message_preview: 'z'.repeat(200) });
      const [{ last }] = await t.sql.query<{ last: string }>(
        `SELECT last_message_at::text AS last FROM sessions WHERE session_id = $1`,
        [session.session_id],
      );
      expect(last).toBe(rows[2].created_at);

      // The listing agrees and puts the session on top; the messages endpoint's total agrees too.
      await createSession(t.app, user);
      await setLastMessageAt(session.session_id, '2999-01-01T00:00:00Z');
      const listed = (await list(user, 'limit=1')).json().data[0];
      expect(listed).toMatchObject({ session_id: session.session_id, message_count: 4 });
      const messages = await inject({
        method: 'GET',
        url: `/api/v1/sessions/${session.session_id}/messages`,
        headers: user.headers,
      });
      expect(messages.json().total).toBe(4);
    });
  });

  describe('row-level security underneath the service', () => {
    let a: TestUser;
    let b: TestUser;
    let bSession: TestSession;
    beforeAll(async () => {
      a = await createUser(t.app);
      b = await createUser(t.app);
      await createSession(t.app, a, { title: "A's" });
      bSession = await createSession(t.app, b, { title: "B's" });
      await addMessages(t.sql, bSession.session_id, ['for B only']);
    });
    const asA = <T>(work: (tx: Tx) => Promise<T>) =>
      t.app.get(DatabaseService).asUser({ userId: a.user_id, via: 'header' }, work);

    it("the list query asked for B's sessions inside A's context returns nothing (as does get_user_sessions with B's id)", async () => {
      const repo = t.app.get(SessionsRepository);
      const page = await asA((tx) => repo.list(tx, { userId: b.user_id, limit: 100 }));
      expect(page).toEqual({ sessions: [], next: null });
      const raw = await asA((tx) =>
        prismaOf(tx).$queryRawUnsafe(`SELECT * FROM get_user_sessions($1::uuid, 100)`, b.user_id),
      );
      expect(raw).toEqual([]);
      const unfiltered = await asA((tx) =>
        prismaOf(tx).$queryRawUnsafe<{ user_id: string }[]>(`SELECT user_id::text FROM sessions`),
      );
      expect(unfiltered.length).toBeGreaterThan(0);
      expect(unfiltered.every((row) => row.user_id === a.user_id)).toBe(true);
    });

    it("a write with the wrong owner filter (a service bug) cannot touch B's session", async () => {
      const repo = t.app.get(SessionsRepository);
      const owned = { userId: b.user_id, sessionId: bSession.session_id };
      expect(await asA((tx) => repo.findById(tx, bSession.session_id))).toBeNull();
      expect(await asA((tx) => repo.update(tx, owned, { title: 'pwned', isActive: false }))).toBeNull();
      expect(await asA((tx) => repo.delete(tx, owned))).toBe(false);
      expect(await sessionRow(bSession.session_id)).toEqual({
        title: "B's",
        is_active: true,
        message_count: 1,
      });
    });

    it("reading B's messages through the repository inside A's context returns nothing", async () => {
      const page = await asA((tx) =>
        t.app.get(MessagesRepository).page(tx, b.user_id, bSession.session_id, {
          branch: 'current',
          limit: 50,
          offset: 0,
          latest: false,
        }),
      );
      expect(page).toBeNull();
    });
  });
});
