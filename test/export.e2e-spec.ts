import { addMessages, createProject, createSession, createUser, type TestUser } from './support/factories.js';
import { addTree } from './support/message-tree.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface ParleyExport {
  format: string;
  version: number;
  exported_at: string;
  sessions: {
    session_id: string;
    title: string | null;
    current_leaf_id: string | null;
    project_id: string | null;
    messages: {
      message_id: string;
      parent_id: string | null;
      role: string;
      content: string;
      metadata: unknown;
    }[];
  }[];
}

interface ChatGptNode {
  id: string;
  parent: string | null;
  children: string[];
  message: null | {
    author: { role: string };
    content: { content_type: string; parts: string[] };
    create_time: number;
    metadata: { model_slug?: string; parley: unknown };
  };
}
interface ChatGptConversation {
  id: string;
  title: string | null;
  create_time: number;
  update_time: number;
  current_node: string;
  mapping: Record<string, ChatGptNode>;
  default_model_slug: string | null;
  parley: { session_id: string };
}

describe(`export (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let owner: TestUser;
  let stranger: TestUser;
  let branched: { session_id: string };
  let ids: Record<string, string>;

  beforeAll(async () => {
    t = await createTestApp();
    owner = await createUser(t.app);
    stranger = await createUser(t.app);
    branched = await createSession(t.app, owner, { title: 'Lighthouse' });
    // q1 -> a1 -> q2 -> a2 (first answer) and a2' (regenerated, on screen); q1' edits the first question.
    ids = await addTree(t.sql, branched.session_id, [
      { key: 'q1', role: 'user', content: 'Write an opening', at: '2026-05-01T10:00:00Z' },
      {
        key: 'a1',
        parent: 'q1',
        role: 'assistant',
        content: 'The lamp was dark.',
        metadata: { model: 'parley-builtin-1', usage: { output_tokens: 5 } },
        at: '2026-05-01T10:00:01Z',
      },
      { key: 'q2', parent: 'a1', role: 'user', content: 'Shorter', at: '2026-05-01T10:00:02Z' },
      { key: 'a2', parent: 'q2', role: 'assistant', content: 'Dark lamp.', at: '2026-05-01T10:00:03Z' },
      { key: 'q1b', role: 'user', content: 'Write a closing', at: '2026-05-01T10:00:04Z' },
      {
        key: 'a2b',
        parent: 'q2',
        role: 'assistant',
        content: 'The lamp, dark.',
        metadata: { model: 'gpt-4o-mini' },
        at: '2026-05-01T10:00:05Z',
      },
    ]);
    await t.sql.query(`UPDATE sessions SET current_leaf_id = $2::uuid WHERE session_id = $1::uuid`, [
      branched.session_id,
      ids.a2b,
    ]);
  });
  afterAll(() => t?.close());

  const get = (user: TestUser, url: string) => t.app.inject({ method: 'GET', url, headers: user.headers });

  it('json: every message of every branch with its parent, the current leaf, parents before replies', async () => {
    const response = await get(owner, `/api/v1/sessions/${branched.session_id}/export?format=json`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['content-disposition']).toBe('attachment; filename="parley-export.json"');
    const body = response.json<ParleyExport>();
    expect(body).toMatchObject({ format: 'parley', version: 1, exported_at: expect.any(String) });
    expect(body.sessions).toHaveLength(1);
    const [session] = body.sessions;
    expect(session).toMatchObject({
      session_id: branched.session_id,
      title: 'Lighthouse',
      current_leaf_id: ids.a2b,
    });
    const byId = new Map(session.messages.map((m, i) => [m.message_id, { ...m, index: i }]));
    expect(session.messages.map((m) => m.content)).toEqual([
      'Write an opening',
      'The lamp was dark.',
      'Shorter',
      'Dark lamp.',
      'Write a closing',
      'The lamp, dark.',
    ]);
    expect(byId.get(ids.a2b)).toMatchObject({ parent_id: ids.q2, metadata: { model: 'gpt-4o-mini' } });
    expect(byId.get(ids.q1b)?.parent_id).toBeNull();
    for (const m of session.messages)
      if (m.parent_id) expect(byId.get(m.parent_id)!.index).toBeLessThan(byId.get(m.message_id)!.index);
  });

  it('chatgpt: conversations.json with a null-message root, children, current_node, model_slug and a parley key', async () => {
    const response = await get(owner, `/api/v1/sessions/${branched.session_id}/export?format=chatgpt`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toBe('attachment; filename="conversations.json"');
    const conversations = response.json<ChatGptConversation[]>();
    expect(conversations).toHaveLength(1);
    const [c] = conversations;
    expect(c).toMatchObject({
      id: branched.session_id,
      title: 'Lighthouse',
      current_node: ids.a2b,
      default_model_slug: 'gpt-4o-mini',
      parley: { session_id: branched.session_id },
    });
    const root = Object.values(c.mapping).find((node) => node.message === null)!;
    expect(root).toMatchObject({ parent: null });
    expect(root.children).toEqual([ids.q1, ids.q1b]);
    expect(Object.keys(c.mapping)).toHaveLength(7);
    expect(c.mapping[ids.q2].children).toEqual([ids.a2, ids.a2b]);
    expect(c.mapping[ids.q1].parent).toBe(root.id);
    expect(c.mapping[ids.a1].message).toMatchObject({
      author: { role: 'assistant' },
      content: { content_type: 'text', parts: ['The lamp was dark.'] },
      create_time: Date.parse('2026-05-01T10:00:01Z') / 1000,
      metadata: {
        model_slug: 'parley-builtin-1',
        parley: { model: 'parley-builtin-1', usage: { output_tokens: 5 } },
      },
    });
    expect(c.mapping[ids.q1].message!.metadata.model_slug).toBeUndefined();
    // Walking current_node up through parent gives the branch on screen.
    const branch: string[] = [];
    for (let node = c.mapping[c.current_node]; node.message; node = c.mapping[node.parent!])
      branch.unshift(node.message.content.parts[0]);
    expect(branch).toEqual(['Write an opening', 'The lamp was dark.', 'Shorter', 'The lamp, dark.']);
  });

  it('markdown: the branch on screen, with the title and the roles', async () => {
    const response = await get(owner, `/api/v1/sessions/${branched.session_id}/export?format=markdown`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/markdown; charset=utf-8');
    const text = response.body;
    expect(text.startsWith('# Lighthouse\n')).toBe(true);
    expect(text).toContain('## User · 2026-05-01T10:00:00.000Z\n\nWrite an opening\n');
    expect(text).toContain('## Assistant · 2026-05-01T10:00:05.000Z · gpt-4o-mini\n\nThe lamp, dark.\n');
    expect(text).not.toContain('Dark lamp.');
    expect(text).not.toContain('Write a closing');
  });

  it("another user's session is 404 like a missing one; a bad format is 400 naming it", async () => {
    const foreign = await get(stranger, `/api/v1/sessions/${branched.session_id}/export?format=json`);
    expect(foreign.statusCode).toBe(404);
    const missing = await get(stranger, `/api/v1/sessions/00000000-0000-4000-8000-000000000000/export`);
    expect(missing.statusCode).toBe(404);
    expect(foreign.json().message).toBe(missing.json().message);
    const bad = await get(owner, `/api/v1/sessions/${branched.session_id}/export?format=xml`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.map((d: { field: string }) => d.field)).toEqual(['format']);
  });

  it('the account export holds every session of the caller (and only theirs), across pages; project_id filters', async () => {
    const user = await createUser(t.app);
    const project = await createProject(t.app, user, 'Novel');
    const inProject = await createSession(t.app, user, {
      project_id: project.project_id,
      title: 'in project',
    });
    // More messages than one page (500) in one session, and more sessions than one page (100).
    await addMessages(t.sql, inProject.session_id, 1203);
    const others: string[] = [];
    for (let i = 0; i < 101; i++) {
      const s = await createSession(t.app, user, { title: `s${i}` });
      others.push(s.session_id);
    }
    await addMessages(t.sql, others[100], 2);
    await createSession(t.app, stranger, { title: 'not yours' });

    const all = (await get(user, '/api/v1/users/me/export?format=json')).json<ParleyExport>();
    expect(all.sessions).toHaveLength(102);
    expect(new Set(all.sessions.map((s) => s.session_id))).toEqual(
      new Set([inProject.session_id, ...others]),
    );
    const big = all.sessions.find((s) => s.session_id === inProject.session_id)!;
    expect(big.messages.map((m) => m.content)).toEqual(
      Array.from({ length: 1203 }, (_, i) => `message ${i + 1}`),
    );
    expect(big.messages.slice(1).every((m, i) => m.parent_id === big.messages[i].message_id)).toBe(true);

    const chatgpt = (await get(user, '/api/v1/users/me/export?format=chatgpt')).json<ChatGptConversation[]>();
    expect(chatgpt).toHaveLength(102);
    expect(Object.keys(chatgpt.find((c) => c.id === inProject.session_id)!.mapping)).toHaveLength(1204);
    const empty = chatgpt.find((c) => c.id === others[0])!;
    expect(empty.current_node).toBe('client-created-root');
    expect(empty.mapping).toEqual({
      'client-created-root': { id: 'client-created-root', message: null, parent: null, children: [] },
    });

    const filtered = (
      await get(user, `/api/v1/users/me/export?format=json&project_id=${project.project_id}`)
    ).json<ParleyExport>();
    expect(filtered.sessions.map((s) => s.session_id)).toEqual([inProject.session_id]);
    const foreignProject = (
      await get(stranger, `/api/v1/users/me/export?format=json&project_id=${project.project_id}`)
    ).json<ParleyExport>();
    expect(foreignProject.sessions).toEqual([]);

    const markdown = (await get(user, '/api/v1/users/me/export?format=markdown')).body;
    expect(markdown.match(/^# /gm)).toHaveLength(102);
    expect(markdown).toContain('\n\nmessage 1203\n');
  });
});
