import { randomUUID } from 'node:crypto';
import { DatabaseService, prismaOf, type Tx } from '../src/database/database.service.js';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import {
  addMessages,
  createSession,
  createUser,
  type TestMessage,
  type TestSession,
  type TestUser,
} from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface Page {
  data: { message_id: string; content: string; metadata?: unknown }[];
  total: number;
  has_more: boolean;
  prev_before: string | null;
  next_after: string | null;
}

describe(`messages API (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let owner: TestUser;
  /** Seven messages written in ONE statement: they share created_at, so only seq orders them. */
  let tied: TestSession;
  let tiedMessages: TestMessage[];

  beforeAll(async () => {
    t = await createTestApp();
    owner = await createUser(t.app);
    tied = await createSession(t.app, owner, { title: 'tied' });
    tiedMessages = await addMessages(t.sql, tied.session_id, 7);
  });
  afterAll(() => t?.close());

  const get = (user: TestUser, sessionId: string, query = '') =>
    t.app.inject({
      method: 'GET',
      url: `/api/v1/sessions/${sessionId}/messages${query ? `?${query}` : ''}`,
      headers: user.headers,
    });
  const page = async (sessionId: string, query = ''): Promise<Page> => {
    const response = await get(owner, sessionId, query);
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  const contents = (p: Page) => p.data.map((m) => m.content);
  const fieldsOf = (body: { details?: { field: string }[] }) => (body.details ?? []).map((d) => d.field);
  const all = Array.from({ length: 7 }, (_, i) => `message ${i + 1}`);

  it('branch=all returns every field, oldest first by created_at, with total and has_more false on the only page', async () => {
    const session = await createSession(t.app, owner);
    await addMessages(t.sql, session.session_id, [
      { role: 'system', content: 'be brief', created_at: '2026-05-01T10:00:00Z' },
      {
        role: 'assistant',
        content: 'later',
        metadata: { model: 'builtin', tokens: 3 },
        created_at: '2026-05-01T10:00:02Z',
      },
      // Inserted after "later" but written earlier: order follows created_at, not insertion.
      { role: 'user', content: 'earlier', created_at: '2026-05-01T10:00:01Z' },
    ]);
    const body = await page(session.session_id, 'branch=all');
    expect(contents(body)).toEqual(['be brief', 'earlier', 'later']);
    expect(body.data[2]).toEqual({
      message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      session_id: session.session_id,
      turn_id: null,
      parent_id: body.data[0].message_id,
      sibling_ids: [body.data[2].message_id],
      role: 'assistant',
      content: 'later',
      metadata: { model: 'builtin', tokens: 3 },
      created_at: '2026-05-01T10:00:02.000Z',
      updated_at: expect.any(String),
    });
    expect(body.data[0].metadata).toBeNull();
    expect(body).toMatchObject({ total: 3, has_more: false, prev_before: null, next_after: null });
  });

  it('an empty session is an empty page', async () => {
    const session = await createSession(t.app, owner);
    expect(await page(session.session_id, 'latest=true')).toEqual({
      data: [],
      total: 0,
      has_more: false,
      prev_before: null,
      next_after: null,
    });
  });

  it('limit/offset pages forward; an offset at or beyond the end is an empty page with has_more false', async () => {
    const first = await page(tied.session_id, 'limit=3');
    expect(contents(first)).toEqual(all.slice(0, 3));
    expect(first).toMatchObject({
      total: 7,
      has_more: true,
      prev_before: null,
      next_after: tiedMessages[2].message_id,
    });
    const middle = await page(tied.session_id, 'limit=3&offset=3');
    expect(contents(middle)).toEqual(all.slice(3, 6));
    expect(middle).toMatchObject({ has_more: true, prev_before: tiedMessages[3].message_id });
    const last = await page(tied.session_id, 'limit=3&offset=6');
    expect(contents(last)).toEqual(['message 7']);
    expect(last).toMatchObject({ has_more: false, next_after: null });
    for (const offset of [7, 1000]) {
      const beyond = await page(tied.session_id, `limit=3&offset=${offset}`);
      expect(beyond).toEqual({ data: [], total: 7, has_more: false, prev_before: null, next_after: null });
    }
  });

  it('exactly one page: a limit equal to the number of messages has has_more false', async () => {
    const body = await page(tied.session_id, 'limit=7');
    expect(contents(body)).toEqual(all);
    expect(body.has_more).toBe(false);
  });

  it('the default limit is 50 and 200 is accepted', async () => {
    const session = await createSession(t.app, owner);
    await addMessages(t.sql, session.session_id, 51);
    const byDefault = await page(session.session_id);
    expect(byDefault.data).toHaveLength(50);
    expect(byDefault).toMatchObject({ total: 51, has_more: true });
    const max = await page(session.session_id, 'limit=200');
    expect(max.data).toHaveLength(51);
    expect(max.has_more).toBe(false);
  });

  it('latest=true gives the newest page oldest-first; before=prev_before walks back through all history once', async () => {
    const latest = await page(tied.session_id, 'latest=true&limit=3');
    expect(contents(latest)).toEqual(all.slice(4));
    expect(latest).toMatchObject({
      has_more: true,
      prev_before: tiedMessages[4].message_id,
      next_after: null,
    });
    const seen = [...contents(latest)];
    let cursor = latest.prev_before;
    const sizes = [];
    while (cursor) {
      const older = await page(tied.session_id, `before=${cursor}&limit=3`);
      expect(older.next_after).toBe(older.data[older.data.length - 1].message_id);
      seen.unshift(...contents(older));
      sizes.push(older.data.length);
      cursor = older.prev_before;
      expect(older.has_more).toBe(cursor !== null);
    }
    expect(sizes).toEqual([3, 1]);
    expect(seen).toEqual(all);
  });

  it('after=next_after walks forward; after the newest message is an empty page', async () => {
    const seen = ['message 1'];
    let cursor: string | null = tiedMessages[0].message_id;
    while (cursor) {
      const newer = await page(tied.session_id, `after=${cursor}&limit=2`);
      expect(newer.prev_before).toBe(newer.data[0].message_id);
      seen.push(...contents(newer));
      cursor = newer.next_after;
      expect(newer.has_more).toBe(cursor !== null);
    }
    expect(seen).toEqual(all);
    const end = await page(tied.session_id, `after=${tiedMessages[6].message_id}`);
    expect(end).toEqual({ data: [], total: 7, has_more: false, prev_before: null, next_after: null });
  });

  it('before=the oldest message is an empty page', async () => {
    const start = await page(tied.session_id, `before=${tiedMessages[0].message_id}`);
    expect(start).toMatchObject({ data: [], has_more: false, prev_before: null });
  });

  it('messages that arrive while paging back do not disturb the older pages', async () => {
    const session = await createSession(t.app, owner);
    const written = await addMessages(t.sql, session.session_id, 6);
    const latest = await page(session.session_id, 'latest=true&limit=2');
    await addMessages(t.sql, session.session_id, ['new 1', 'new 2']);
    const older = await page(session.session_id, `before=${latest.prev_before}&limit=2`);
    expect(contents(older)).toEqual(['message 3', 'message 4']);
    expect(older.total).toBe(8);
    // The client picks up what arrived with after=<the last id it has>.
    const newer = await page(session.session_id, `after=${written[5].message_id}`);
    expect(contents(newer)).toEqual(['new 1', 'new 2']);
  });

  it('an anchor from another session, or no message at all, is 400 naming before/after', async () => {
    const other = await createSession(t.app, owner);
    const [foreign] = await addMessages(t.sql, other.session_id, ['elsewhere']);
    for (const [param, id] of [
      ['before', foreign.message_id],
      ['after', foreign.message_id],
      ['before', randomUUID()],
      ['after', randomUUID()],
    ]) {
      const response = await get(owner, tied.session_id, `${param}=${id}`);
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('validation_failed');
      expect(fieldsOf(response.json())).toEqual([param]);
    }
  });

  it.each([
    ['offset=1&before=@1', ['offset', 'before']],
    ['before=@1&after=@2', ['before', 'after']],
    ['latest=true&after=@1', ['after', 'latest']],
    ['latest=true&offset=2', ['offset', 'latest']],
  ])('combining ways of paging (%s) is 400 naming them', async (query, fields) => {
    const q = query.replace('@1', tiedMessages[1].message_id).replace('@2', tiedMessages[2].message_id);
    const response = await get(owner, tied.session_id, q);
    expect(response.statusCode).toBe(400);
    expect(fieldsOf(response.json())).toEqual(fields);
  });

  it('offset=0 and latest=false combine with anything', async () => {
    const body = await page(tied.session_id, `offset=0&latest=false&before=${tiedMessages[2].message_id}`);
    expect(contents(body)).toEqual(['message 1', 'message 2']);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=ten', 'limit'],
    ['offset=-1', 'offset'],
    ['offset=1e3', 'offset'],
    ['offset=99999999999', 'offset'],
    ['before=not-a-uuid', 'before'],
    ['after=42', 'after'],
    ['latest=yes', 'latest'],
    ['page=2', 'page'],
  ])('?%s is 400 naming %s', async (query, field) => {
    const response = await get(owner, tied.session_id, query);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('validation_failed');
    expect(fieldsOf(response.json())).toContain(field);
  });

  it("another user's session is 404 like an unknown one; a malformed session id is 400", async () => {
    const intruder = await createUser(t.app);
    const bodies = [];
    for (const id of [tied.session_id, randomUUID()]) {
      const response = await get(intruder, id, 'latest=true');
      expect(response.statusCode).toBe(404);
      const { request_id: _ignored, ...body } = response.json();
      bodies.push(body);
    }
    expect(bodies[0]).toEqual(bodies[1]);
    // An anchor that exists is no side door either: still 404, not 400.
    expect((await get(intruder, tied.session_id, `before=${tiedMessages[3].message_id}`)).statusCode).toBe(
      404,
    );
    const malformed = await get(owner, 'nope');
    expect(malformed.statusCode).toBe(400);
    expect(fieldsOf(malformed.json())).toEqual(['session_id']);
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/v1/sessions/${tied.session_id}/messages` })).statusCode,
    ).toBe(401);
  });

  it("RLS: an unfiltered read of another user's messages inside the caller's context returns nothing", async () => {
    const intruder = await createUser(t.app);
    const asIntruder = <T>(work: (tx: Tx) => Promise<T>) =>
      t.app.get(DatabaseService).asUser({ userId: intruder.user_id, via: 'header' }, work);
    const viaRepository = await asIntruder((tx) =>
      t.app
        .get(MessagesRepository)
        .page(tx, owner.user_id, tied.session_id, { branch: 'current', limit: 200, offset: 0, latest: true }),
    );
    expect(viaRepository).toBeNull();
    const raw = await asIntruder((tx) =>
      prismaOf(tx).$queryRawUnsafe<unknown[]>(
        `SELECT * FROM chat_messages WHERE session_id = $1::uuid`,
        tied.session_id,
      ),
    );
    expect(raw).toEqual([]);
  });
});
