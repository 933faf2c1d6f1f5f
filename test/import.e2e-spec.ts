import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';
import { addTree } from './support/message-tree.js';
import { createProject, createSession, createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = readFileSync(join(here, 'fixtures', 'chatgpt-conversations.json'));

interface ImportBody {
  import_id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  source: string;
  project_id: string | null;
  conversations_seen: number;
  sessions_created: number;
  messages_created: number;
  skipped_count: number;
  skipped: { conversation_id: string | null; reason: string }[];
  errors: { reason: string }[];
  session_ids: string[];
}

interface ExportedSession {
  session_id: string;
  title: string | null;
  is_active: boolean;
  created_at: string;
  current_leaf_id: string | null;
  messages: {
    message_id: string;
    parent_id: string | null;
    role: string;
    content: string;
    metadata: Record<string, unknown> | null;
    created_at: string;
  }[];
}

/** A session as a shape without ids: messages in order, each naming its parent by position, and the leaf. */
function shapeOf(session: ExportedSession) {
  const position = new Map(session.messages.map((m, i) => [m.message_id, i]));
  return {
    title: session.title,
    is_active: session.is_active,
    messages: session.messages.map((m) => ({
      role: m.role,
      content: m.content,
      metadata: m.metadata,
      created_at: m.created_at,
      parent: m.parent_id === null ? null : position.get(m.parent_id),
    })),
    leaf: session.current_leaf_id === null ? null : position.get(session.current_leaf_id),
  };
}

function zipOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(files))
    zip.addBuffer(Buffer.isBuffer(content) ? content : Buffer.from(content), name);
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

describe(`import (${DATABASE_KIND})`, () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const post = (user: TestUser, body: Buffer | string, contentType = 'application/json', query = '') =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/imports${query}`,
      headers: { ...user.headers, 'content-type': contentType },
      payload: body,
    });

  /** Posts and waits until the import has ended. */
  async function runImport(
    user: TestUser,
    body: Buffer | string,
    contentType = 'application/json',
    query = '',
  ): Promise<ImportBody> {
    const response = await post(user, body, contentType, query);
    expect(response.statusCode).toBe(202);
    const started = response.json<ImportBody>();
    expect(started.status).toBe('queued');
    for (let i = 0; i < 600; i++) {
      const poll = await t.app.inject({
        method: 'GET',
        url: `/api/v1/imports/${started.import_id}`,
        headers: user.headers,
      });
      expect(poll.statusCode).toBe(200);
      const body = poll.json<ImportBody>();
      if (body.status === 'succeeded' || body.status === 'failed') return body;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the import did not end');
  }

  async function exported(user: TestUser, sessionId: string): Promise<ExportedSession> {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/sessions/${sessionId}/export?format=json`,
      headers: user.headers,
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ sessions: ExportedSession[] }>().sessions[0];
  }

  async function sessionCount(user: TestUser): Promise<number> {
    const [row] = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sessions WHERE user_id = $1::uuid',
      [user.user_id],
    );
    return row.n;
  }

  it('the ChatGPT fixture imports as documented: branches kept, hidden system and tool nodes dropped, images as [image], cycles and junk skipped', async () => {
    const user = await createUser(t.app);
    const result = await runImport(user, FIXTURE);
    expect(result).toMatchObject({
      status: 'succeeded',
      source: 'chatgpt',
      conversations_seen: 5,
      sessions_created: 2,
      messages_created: 9,
      skipped_count: 3,
      errors: [],
    });
    expect(result.skipped).toEqual([
      {
        conversation_id: 'conv-c',
        reason: 'no message a chat shows (empty, or only hidden, tool or system content)',
      },
      { conversation_id: null, reason: 'not a conversation (not a JSON object)' },
      { conversation_id: 'conv-e', reason: 'no mapping (no messages)' },
    ]);
    expect(result.session_ids).toHaveLength(2);
    expect(result.project_id).toEqual(expect.any(String));

    const [first, second] = await Promise.all(result.session_ids.map((id) => exported(user, id)));
    // Null title, created at the conversation's time; seven messages of two branches.
    expect(first.title).toBeNull();
    expect(first.created_at).toBe('2023-11-14T22:13:20.250Z');
    const shape = shapeOf(first);
    expect(shape.messages.map((m) => [m.role, m.content, m.parent])).toEqual([
      ['user', 'Write a haiku about the sea', null],
      ['assistant', 'Waves fold into foam', 0],
      ['assistant', 'Salt wind on the pier', 0],
      ['user', '[image]\nWhat is in this picture?', 1],
      ['assistant', 'A lighthouse at dusk.', 3],
      ['user', 'Another one', 2],
      ['assistant', 'Gulls argue with the tide.', 5],
    ]);
    // The branch on screen is current_node's (through the spliced-out tool nodes).
    expect(shape.leaf).toBe(4);
    expect(shape.messages[1].metadata).toEqual({ imported_from: 'chatgpt', model: 'gpt-4' });
    // A missing model_slug, and missing metadata altogether.
    expect(shape.messages[2].metadata).toEqual({ imported_from: 'chatgpt' });
    expect(shape.messages[6].metadata).toEqual({ imported_from: 'chatgpt' });
    expect(shape.messages[0].created_at).toBe('2023-11-14T22:13:20.500Z');

    // The cycle (c1 <-> c2) is dropped; the rest of that conversation is kept.
    expect(second.title).toBe('Cycles');
    expect(shapeOf(second).messages.map((m) => m.content)).toEqual(['Hello', 'Hi there']);

    // The session list shows them with the branch on screen's counters.
    const listed = await t.app.inject({ method: 'GET', url: '/api/v1/sessions', headers: user.headers });
    const sessions = listed.json<{
      data: { session_id: string; message_count: number; last_message_preview: string }[];
    }>().data;
    expect(sessions.find((s) => s.session_id === first.session_id)).toMatchObject({
      message_count: 4,
      last_message_preview: 'A lighthouse at dusk.',
    });
  });

  it('is idempotent: the same conversations again create nothing and say why', async () => {
    const user = await createUser(t.app);
    const once = await runImport(user, FIXTURE);
    expect(once.sessions_created).toBe(2);
    const again = await runImport(user, FIXTURE);
    expect(again).toMatchObject({
      status: 'succeeded',
      sessions_created: 0,
      messages_created: 0,
      session_ids: [],
    });
    expect(again.skipped.slice(0, 2)).toEqual([
      {
        conversation_id: '6f1c2d3e-0000-4000-8000-00000000000a',
        reason: `already imported (session ${once.session_ids[0]})`,
      },
      { conversation_id: 'conv-b', reason: `already imported (session ${once.session_ids[1]})` },
    ]);
    expect(await sessionCount(user)).toBe(2);
    // Another user imports the same file: their own sessions.
    const other = await createUser(t.app);
    expect((await runImport(other, FIXTURE)).sessions_created).toBe(2);
  });

  it("reads the export's zip: split conversations-NNN.json files in the order of their index", async () => {
    const conversations = JSON.parse(FIXTURE.toString()) as unknown[];
    const user = await createUser(t.app);
    const zip = await zipOf({
      'user.json': '{"id":"user-x"}',
      'conversations-001.json': JSON.stringify([conversations[0]]),
      'conversations-000.json': JSON.stringify([conversations[1]]),
      'conversations.json.index': JSON.stringify({
        files: ['conversations-000.json', 'conversations-001.json'],
      }),
      'chat.html': '<html></html>',
    });
    const result = await runImport(user, zip, 'application/zip');
    expect(result).toMatchObject({ status: 'succeeded', sessions_created: 2, messages_created: 9 });
    expect((await exported(user, result.session_ids[0])).title).toBe('Cycles');

    // The single conversations.json of older exports, in a zip.
    const older = await createUser(t.app);
    const single = await runImport(older, await zipOf({ 'conversations.json': FIXTURE }), 'application/zip');
    expect(single).toMatchObject({ status: 'succeeded', sessions_created: 2 });
  });

  it('a broken file fails with the reason and writes nothing', async () => {
    const user = await createUser(t.app);
    const truncated = await runImport(user, FIXTURE.subarray(0, FIXTURE.length - 200));
    expect(truncated).toMatchObject({
      status: 'failed',
      sessions_created: 0,
      messages_created: 0,
      session_ids: [],
    });
    expect(truncated.errors).toEqual([{ reason: expect.stringMatching(/^upload is not valid JSON: /) }]);

    const incomplete = await runImport(
      user,
      await zipOf({
        'conversations-000.json': FIXTURE,
        'conversations.json.index': '["conversations-000.json","conversations-001.json"]',
      }),
      'application/zip',
    );
    expect(incomplete).toMatchObject({ status: 'failed', sessions_created: 0 });
    expect(incomplete.errors[0].reason).toBe(
      'conversations.json.index names conversations-001.json, which the zip does not hold (an incomplete export)',
    );

    const noConversations = await runImport(user, await zipOf({ 'user.json': '{}' }), 'application/zip');
    expect(noConversations.errors[0].reason).toBe(
      'the zip holds neither conversations.json nor split conversations-NNN.json files',
    );
    const wrongShape = await runImport(user, '{"format":"other","sessions":[]}');
    expect(wrongShape.errors[0].reason).toBe('upload: format is "other", not "parley"');
    expect(await sessionCount(user)).toBe(0);
  });

  it('round trip: export chatgpt (and json) then import gives the same sessions, messages, order and branches', async () => {
    const owner = await createUser(t.app);
    const branched = await createSession(t.app, owner, { title: 'Lighthouse' });
    const ids = await addTree(t.sql, branched.session_id, [
      { key: 'q1', role: 'user', content: 'Write an opening', at: '2026-05-01T10:00:00.123Z' },
      {
        key: 'a1',
        parent: 'q1',
        role: 'assistant',
        content: 'The lamp was dark.',
        metadata: { model: 'parley-builtin-1', usage: { output_tokens: 5 } },
        at: '2026-05-01T10:00:01Z',
      },
      { key: 's', parent: 'a1', role: 'system', content: 'Be brief.', at: '2026-05-01T10:00:01.500Z' },
      { key: 'q2', parent: 's', role: 'user', content: 'Shorter', at: '2026-05-01T10:00:02Z' },
      { key: 'a2', parent: 'q2', role: 'assistant', content: 'Dark lamp.', at: '2026-05-01T10:00:03Z' },
      { key: 'q1b', role: 'user', content: 'Write a closing', at: '2026-05-01T10:00:04Z' },
      { key: 'a2b', parent: 'q2', role: 'assistant', content: 'The lamp, dark.', at: '2026-05-01T10:00:05Z' },
    ]);
    await t.sql.query(`UPDATE sessions SET current_leaf_id = $2::uuid WHERE session_id = $1::uuid`, [
      branched.session_id,
      ids.a2,
    ]);
    const empty = await createSession(t.app, owner, { title: 'Empty' });
    const archived = await createSession(t.app, owner, { title: 'Archived' });
    await addTree(t.sql, archived.session_id, [
      { key: 'm', role: 'user', content: 'old', at: '2026-04-01T00:00:00Z' },
    ]);
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/sessions/${archived.session_id}`,
      headers: owner.headers,
      payload: { is_active: false },
    });
    const originals = await Promise.all(
      [branched, empty, archived].map((s) => exported(owner, s.session_id)),
    );

    for (const format of ['chatgpt', 'json'] as const) {
      const file = await t.app.inject({
        method: 'GET',
        url: `/api/v1/users/me/export?format=${format}`,
        headers: owner.headers,
      });
      const target = await createUser(t.app);
      const result = await runImport(target, file.rawPayload);
      expect(result).toMatchObject({
        status: 'succeeded',
        source: format === 'json' ? 'parley' : 'chatgpt',
        sessions_created: 3,
        messages_created: 8,
        skipped_count: 0,
      });
      const copies = await Promise.all(result.session_ids.map((id) => exported(target, id)));
      expect(copies.map(shapeOf)).toEqual(originals.map(shapeOf));
      expect(copies.map((c) => c.created_at)).toEqual(originals.map((o) => o.created_at));

      // Imported into the account it came from: its sessions are recognised, nothing is duplicated.
      const home = await runImport(owner, file.rawPayload);
      expect(home).toMatchObject({ status: 'succeeded', sessions_created: 0, skipped_count: 3 });
      expect(home.skipped[0].reason).toBe('already a session of yours');
    }
    expect(await sessionCount(owner)).toBe(3);
  });

  it('names a project to import into (a member only), refuses what is not an export, and keeps imports private', async () => {
    const user = await createUser(t.app);
    const stranger = await createUser(t.app);
    const project = await createProject(t.app, user, 'Imports');
    const into = await runImport(user, FIXTURE, 'application/json', `?project_id=${project.project_id}`);
    expect(into.project_id).toBe(project.project_id);
    const [row] = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sessions WHERE project_id = $1::uuid',
      [project.project_id],
    );
    expect(row.n).toBe(2);

    const foreignProject = await post(
      stranger,
      FIXTURE,
      'application/json',
      `?project_id=${project.project_id}`,
    );
    expect(foreignProject.statusCode).toBe(404);
    const notExport = await post(user, 'hello world', 'application/octet-stream');
    expect(notExport.statusCode).toBe(400);
    expect(notExport.json().message).toMatch(/not a ChatGPT export/);
    const empty = await post(user, '', 'application/json');
    expect(empty.statusCode).toBe(400);
    const text = await post(user, '[]', 'text/plain');
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ statusCode: 415, error: 'unsupported_media_type' });

    const foreign = await t.app.inject({
      method: 'GET',
      url: `/api/v1/imports/${into.import_id}`,
      headers: stranger.headers,
    });
    expect(foreign.statusCode).toBe(404);
    // Row-level security underneath the service: the stranger's own transaction sees no import of the user.
    const seen = await t.database.asUser({ userId: stranger.user_id, via: 'header' }, async (tx) => {
      const { sqlOf } = await import('../src/database/database.service.js');
      return sqlOf(tx).query(
        'SELECT import_id FROM imports UNION ALL SELECT import_id FROM imported_conversations',
      );
    });
    expect(seen).toEqual([]);
  });

  it('an upload over IMPORT_MAX_BYTES is 413, and nothing is recorded', async () => {
    const small = await createTestApp({ IMPORT_MAX_BYTES: '2048' });
    try {
      const user = await createUser(small.app);
      const response = await small.app.inject({
        method: 'POST',
        url: '/api/v1/imports',
        headers: { ...user.headers, 'content-type': 'application/json' },
        payload: FIXTURE,
      });
      expect(response.statusCode).toBe(413);
      expect(response.json().error).toBe('payload_too_large');
      const [row] = await small.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM imports');
      expect(row.n).toBe(0);
    } finally {
      await small.close();
    }
  });
});
