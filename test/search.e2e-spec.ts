import { DatabaseService } from '../src/database/database.service.js';
import { SearchRepository } from '../src/search/search.repository.js';
import { addMessages, createProject, createSession, createUser, type TestUser } from './support/factories.js';
import { loadConfig } from '../src/config/app-config.js';
import { createTestApp, createTestDatabase, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface Hit {
  message_id: string | null;
  session_id: string;
  session_title: string | null;
  role: string | null;
  created_at: string;
  snippet: string;
  rank: number;
}

describe(`search API (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const search = (user: TestUser, query: Record<string, string | number | boolean>) =>
    t.app.inject({
      method: 'GET',
      url: '/api/v1/search',
      query: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])),
      headers: user.headers,
    });

  async function hits(user: TestUser, query: Record<string, string | number | boolean>): Promise<Hit[]> {
    const response = await search(user, query);
    expect(response.statusCode).toBe(200);
    return response.json().data;
  }

  const fieldsOf = (body: { details?: { field: string }[] }) => (body.details ?? []).map((d) => d.field);

  it('finds a word in the caller’s messages, marks it in the snippet and names the session', async () => {
    const ada = await createUser(t.app);
    const session = await createSession(t.app, ada, { title: 'Ghost story' });
    const [, second] = await addMessages(t.sql, session.session_id, [
      { role: 'user', content: 'Nothing to see here' },
      { role: 'assistant', content: 'The lighthouse keeper heard a knock at midnight' },
    ]);
    const found = await hits(ada, { q: 'lighthouse' });
    expect(found).toEqual([
      {
        message_id: second.message_id,
        session_id: session.session_id,
        session_title: 'Ghost story',
        role: 'assistant',
        created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        snippet: 'The <mark>lighthouse</mark> keeper heard a knock at midnight',
        rank: expect.any(Number),
      },
    ]);
    expect(found[0].rank).toBeGreaterThan(0);
  });

  it('finds session titles: a hit without message_id and role, the title marked', async () => {
    const ada = await createUser(t.app);
    const session = await createSession(t.app, ada, { title: 'Notes on the Marmalade heist' });
    const found = await hits(ada, { q: 'marmalade' });
    expect(found).toEqual([
      {
        message_id: null,
        session_id: session.session_id,
        session_title: 'Notes on the Marmalade heist',
        role: null,
        created_at: session.created_at,
        snippet: 'Notes on the <mark>Marmalade</mark> heist',
        rank: expect.any(Number),
      },
    ]);
    // role filters messages only: the title is left out.
    expect(await hits(ada, { q: 'marmalade', role: 'user' })).toEqual([]);
  });

  it('another user’s words never appear, by word, by exact phrase, or through the repository under RLS', async () => {
    const owner = await createUser(t.app);
    const stranger = await createUser(t.app);
    const session = await createSession(t.app, owner, { title: 'Quixotic zeppelin diaries' });
    await addMessages(t.sql, session.session_id, ['The quixotic zeppelin lands at dawn']);
    // Shared project: members still never see each other's sessions.
    const project = await createProject(t.app, owner, 'Shared');
    await t.sql.query(`INSERT INTO user_projects (user_id, project_id) VALUES ($1, $2)`, [
      stranger.user_id,
      project.project_id,
    ]);
    const shared = await createSession(t.app, owner, { project_id: project.project_id, title: 'shared one' });
    await addMessages(t.sql, shared.session_id, ['quixotic zeppelin in the shared project']);

    expect((await hits(owner, { q: '"quixotic zeppelin"' })).length).toBe(3);
    for (const q of [
      'quixotic',
      'zeppelin',
      '"quixotic zeppelin"',
      '"The quixotic zeppelin lands at dawn"',
      'diaries',
    ]) {
      expect(await hits(stranger, { q })).toEqual([]);
      expect(await hits(stranger, { q, project_id: project.project_id, include_archived: true })).toEqual([]);
      expect(await hits(stranger, { q, session_id: session.session_id })).toEqual([]);
    }
    // The repository asked for the owner's hits inside the stranger's RLS context: nothing.
    const viaRepository = await t.app
      .get(DatabaseService)
      .asUser({ userId: stranger.user_id, via: 'header' }, (tx) =>
        t.app.get(SearchRepository).search(tx, {
          userId: owner.user_id,
          q: 'quixotic',
          includeArchived: true,
          limit: 50,
        }),
      );
    expect(viaRepository).toEqual({ problem: null, hits: [], next: null });
  });

  it('a message is found as soon as its chat commits, and never again once its session is deleted', async () => {
    const ada = await createUser(t.app);
    const chat = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: ada.headers,
      payload: { text: 'Help me name a capybara detective' },
    });
    expect(chat.statusCode).toBe(200);
    const { session, user_message: userMessage } = chat.json();
    const found = await hits(ada, { q: 'capybara' });
    expect(found.map((h) => h.message_id)).toContain(userMessage.message_id);

    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${session.session_id}`,
      headers: ada.headers,
    });
    expect(deleted.statusCode).toBe(204);
    expect(await hits(ada, { q: 'capybara' })).toEqual([]);
  });

  it('reads web-search syntax: phrases, or, and -exclusions', async () => {
    const ada = await createUser(t.app);
    const session = await createSession(t.app, ada, { title: 'syntax' });
    const [a, b, c] = await addMessages(t.sql, session.session_id, [
      'red apple pie',
      'apple red wine',
      'green pear tart',
    ]);
    const ids = async (q: string) => (await hits(ada, { q })).map((h) => h.message_id).sort();
    expect(await ids('"red apple"')).toEqual([a.message_id]);
    expect(await ids('red apple')).toEqual([a.message_id, b.message_id].sort());
    expect(await ids('apple -wine')).toEqual([a.message_id]);
    expect(await ids('pie or tart')).toEqual([a.message_id, c.message_id].sort());
    expect(await ids('RED')).toEqual([a.message_id, b.message_id].sort());
  });

  it('answers 400 naming q for a query with no word, or with excluded words only', async () => {
    const ada = await createUser(t.app);
    for (const q of ['-apple', '!!! ---', '   ']) {
      const response = await search(ada, { q });
      expect(response.statusCode).toBe(400);
      expect(fieldsOf(response.json())).toEqual(['q']);
    }
    const missing = await t.app.inject({ method: 'GET', url: '/api/v1/search', headers: ada.headers });
    expect(missing.statusCode).toBe(400);
    expect(fieldsOf(missing.json())).toContain('q');
    for (const [field, value] of [
      ['limit', '0'],
      ['limit', '51'],
      ['role', 'tool'],
      ['from', 'yesterday'],
      ['session_id', 'nope'],
      ['cursor', 'bm90IGEgY3Vyc29y'],
      ['include_archived', 'yes'],
    ]) {
      const response = await search(ada, { q: 'apple', [field]: value });
      expect([field, response.statusCode]).toEqual([field, 400]);
      expect(fieldsOf(response.json())).toEqual([field]);
    }
  });

  it('escapes the text of snippets: only the <mark> markers are markup', async () => {
    const ada = await createUser(t.app);
    const session = await createSession(t.app, ada, { title: 'html' });
    await addMessages(t.sql, session.session_id, [
      `<script>alert("x")</script> & the <b>walrus</b> said 'hi' \uE000 \uE001`,
    ]);
    const [hit] = await hits(ada, { q: 'walrus' });
    expect(hit.snippet).toContain('&lt;b&gt;<mark>walrus</mark>&lt;/b&gt;');
    expect(hit.snippet).toContain('&lt;/script&gt; &amp; the');
    expect(hit.snippet).toContain('alert(&quot;x&quot;)');
    // Without its markers, nothing in the snippet could be markup; the message's own private-use characters
    // cannot pass for markers.
    expect(hit.snippet.replace(/<\/?mark>/g, '')).not.toMatch(/[<>"'\uE000-\uE004]/);
    // Words inside markup are words.
    expect((await hits(ada, { q: 'script' })).length).toBe(1);
  });

  it('filters by session, project, role, time and archived state', async () => {
    const ada = await createUser(t.app);
    const project = await createProject(t.app, ada, 'P');
    const inProject = await createSession(t.app, ada, { project_id: project.project_id, title: 'one' });
    const other = await createSession(t.app, ada, { title: 'two' });
    const [early, late] = await addMessages(t.sql, inProject.session_id, [
      { role: 'user', content: 'otter early', created_at: '2026-01-01T00:00:00Z' },
      { role: 'assistant', content: 'otter late', created_at: '2026-06-01T00:00:00Z' },
    ]);
    const [elsewhere] = await addMessages(t.sql, other.session_id, [
      { role: 'user', content: 'otter elsewhere' },
    ]);
    const ids = async (query: Record<string, string | boolean>) =>
      (await hits(ada, { q: 'otter', ...query })).map((h) => h.message_id).sort();

    expect(await ids({})).toEqual([early.message_id, late.message_id, elsewhere.message_id].sort());
    expect(await ids({ session_id: inProject.session_id })).toEqual(
      [early.message_id, late.message_id].sort(),
    );
    expect(await ids({ project_id: project.project_id })).toEqual([early.message_id, late.message_id].sort());
    expect(await ids({ role: 'assistant' })).toEqual([late.message_id]);
    expect(await ids({ from: '2026-03-01T00:00:00Z', to: '2026-07-01T00:00:00Z' })).toEqual([
      late.message_id,
    ]);
    expect(await ids({ to: '2026-03-01T00:00:00Z' })).toEqual([early.message_id]);

    const archived = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/sessions/${other.session_id}`,
      headers: ada.headers,
      payload: { is_active: false },
    });
    expect(archived.statusCode).toBe(200);
    expect(await ids({})).toEqual([early.message_id, late.message_id].sort());
    expect(await ids({ include_archived: true })).toEqual(
      [early.message_id, late.message_id, elsewhere.message_id].sort(),
    );
  });

  it('ranks better matches first and pages by keyset: every hit once, ties newest first', async () => {
    const ada = await createUser(t.app);
    const session = await createSession(t.app, ada, { title: 'paging' });
    // 23 equal hits written in one statement (one timestamp on the server) and one better hit.
    const plain = await addMessages(
      t.sql,
      session.session_id,
      Array.from({ length: 23 }, (_, i) => `heron number ${i}`),
    );
    const [best] = await addMessages(t.sql, session.session_id, ['heron heron heron heron']);
    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    let lastRank = Infinity;
    do {
      const response = await search(ada, { q: 'heron', limit: 10, ...(cursor ? { cursor } : {}) });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      for (const hit of body.data as Hit[]) {
        expect(hit.rank).toBeLessThanOrEqual(lastRank);
        lastRank = hit.rank;
        seen.push(hit.message_id as string);
      }
      pages.push(body.data.length);
      cursor = body.next_cursor;
    } while (cursor && pages.length < 10);
    expect(pages).toEqual([10, 10, 4]);
    expect(seen[0]).toBe(best.message_id);
    expect(new Set(seen).size).toBe(24);
    expect(seen.slice(1).sort()).toEqual(plain.map((m) => m.message_id).sort());
  });
});

describe(`search language (${DATABASE_KIND})`, () => {
  it('SEARCH_LANGUAGE=english stems words; a configuration PostgreSQL lacks stops the start', async () => {
    const t = await createTestApp({ SEARCH_LANGUAGE: 'english' });
    try {
      const ada = await createUser(t.app);
      const session = await createSession(t.app, ada, { title: 'Running notes' });
      await addMessages(t.sql, session.session_id, ['The cats were running']);
      const response = await t.app.inject({
        method: 'GET',
        url: '/api/v1/search?q=cat%20runs',
        headers: ada.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().data.map((h: Hit) => h.snippet)).toEqual([
        'The <mark>cats</mark> were <mark>running</mark>',
      ]);
      const [setting] = await t.sql.query<{ language: string }>('SELECT language FROM search_settings');
      expect(setting.language).toBe('english');
    } finally {
      await t.close();
    }
    const database = await createTestDatabase();
    const service = new DatabaseService(
      loadConfig({ LOG_LEVEL: 'silent', NODE_ENV: 'test', ...database.env, SEARCH_LANGUAGE: 'klingon' }),
    );
    try {
      await expect(service.connect()).rejects.toThrow(
        /SEARCH_LANGUAGE: PostgreSQL has no text search configuration named klingon/,
      );
    } finally {
      await service.onApplicationShutdown();
      await database.drop();
    }
  });
});
