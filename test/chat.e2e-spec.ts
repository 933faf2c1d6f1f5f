import { randomUUID } from 'node:crypto';
import { ChatIdempotency } from '../src/chat/chat-idempotency.js';
import { readChatStream } from './support/chat-stream.js';
import { createProject, createSession, createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface MessageRow {
  message_id: string;
  role: string;
  content: string;
  metadata: Record<string, unknown> | null;
}

/**
 * POST /api/v1/chat with the built-in offline provider (the default configuration): the stream protocol as
 * the AI SDK's own client reads it, the JSON mode, persistence, isolation, validation and Idempotency-Key.
 * Real providers and failures: chat-providers.e2e-spec.ts.
 */
describe(`POST /api/v1/chat, built-in provider (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let baseUrl: string;
  let ada: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await t.app.getUrl();
    ada = await createUser(t.app, { display_name: 'Ada' });
    bob = await createUser(t.app, { display_name: 'Bob' });
  });
  afterAll(async () => {
    // fetch may keep a spare connection that never carried a request; server.close() would wait for it.
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
  });

  const messagesOf = (sessionId: string) =>
    t.sql.query<MessageRow>(
      `SELECT message_id::text, role, content, metadata FROM chat_messages
        WHERE session_id = $1 ORDER BY created_at, seq`,
      [sessionId],
    );

  const chatJson = (user: TestUser, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { ...user.headers, accept: 'application/json', ...headers },
      payload,
    });

  it('streams the UI message stream protocol that the AI SDK client reads, and saves both messages', async () => {
    const response = await fetch(`${baseUrl}/api/v1/chat`, {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ text: '  I want to write a horror story\nabout a lighthouse keeper  ' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const sessionId = response.headers.get('x-session-id');
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const { chunks, message, text, errors } = await readChatStream(response.body!);
    expect(errors).toEqual([]);
    const types = chunks.map((c) => c.type);
    expect(types.slice(0, 3)).toEqual(['start', 'data-session', 'text-start']);
    expect(types.slice(-2)).toEqual(['text-end', 'finish']);
    expect(types.filter((type) => type === 'text-delta').length).toBeGreaterThan(5);

    const start = chunks[0] as { messageId: string };
    expect(message?.id).toBe(start.messageId);
    const session = chunks[1] as { type: string; data: Record<string, unknown> };
    expect(session.data).toEqual({
      session_id: sessionId,
      project_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      title: 'I want to write a horror story',
      user_message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      assistant_message_id: start.messageId,
      session_created: true,
    });
    expect(message?.parts.find((p) => p.type === 'data-session')).toMatchObject({ data: session.data });
    expect(text).toContain("Parley's built-in offline model");
    expect(text).toContain('You wrote 11 words about "I want to write a horror story about …"');
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });

    const rows = await messagesOf(sessionId!);
    expect(rows.map((r) => [r.message_id, r.role, r.content])).toEqual([
      [session.data.user_message_id, 'user', 'I want to write a horror story\nabout a lighthouse keeper'],
      [start.messageId, 'assistant', text],
    ]);
    expect(rows[1].metadata).toEqual({
      provider: 'builtin',
      model: 'parley-builtin-1',
      usage: {
        input_tokens: expect.any(Number),
        output_tokens: expect.any(Number),
        total_tokens: expect.any(Number),
      },
      finish_reason: 'stop',
      latency_ms: expect.any(Number),
      first_token_ms: expect.any(Number),
      reply_to: session.data.user_message_id,
    });
    const [project] = await t.sql.query<{ title: string; members: number }>(
      `SELECT d.title, (SELECT count(*)::int FROM user_projects up WHERE up.project_id = d.project_id
                          AND up.user_id = $2) AS members
         FROM dossier d WHERE d.project_id = $1`,
      [session.data.project_id, ada.user_id],
    );
    expect(project).toEqual({ title: 'I want to write a horror story', members: 1 });
  });

  it('answers one JSON object with Accept: application/json or ?stream=false, and continues a session', async () => {
    const first = await chatJson(ada, { text: 'Draft an opening line' });
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/^application\/json/);
    const body = first.json();
    expect(first.headers['x-session-id']).toBe(body.session.session_id);
    expect(body).toMatchObject({
      session_created: true,
      session: { title: 'Draft an opening line', message_count: 2, is_active: true },
      user_message: { role: 'user', content: 'Draft an opening line', metadata: null, turn_id: null },
      assistant_message: {
        role: 'assistant',
        metadata: { provider: 'builtin', finish_reason: 'stop', reply_to: body.user_message.message_id },
      },
    });
    expect(body.session.last_message_preview).toBe(body.assistant_message.content.slice(0, 200));

    const second = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: ada.headers,
      payload: { text: 'Make it darker', session_id: body.session.session_id },
    });
    expect(second.statusCode).toBe(200);
    const next = second.json();
    expect(next.session_created).toBe(false);
    expect(next.session).toMatchObject({
      session_id: body.session.session_id,
      title: 'Draft an opening line',
      message_count: 4,
    });
    // The built-in model reports how much of the conversation it was given.
    expect(next.assistant_message.content).toContain('I can see 2 earlier messages');
    expect(new Date(next.session.last_message_at).getTime()).toBeGreaterThanOrEqual(
      new Date(body.session.last_message_at).getTime(),
    );
    const rows = await messagesOf(body.session.session_id);
    expect(rows.map((r) => r.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  });

  it('starts a session in a project the caller is a member of, with a title cut at a word boundary', async () => {
    const project = await createProject(t.app, ada);
    const text = `${'A long first line with many words '.repeat(4)}\nsecond line`;
    const response = await chatJson(ada, { text, project_id: project.project_id });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.session.project_id).toBe(project.project_id);
    expect(body.session.title).toBe(
      'A long first line with many words A long first line with many words A long…',
    );
    expect(Array.from(body.session.title as string).length).toBeLessThanOrEqual(80);
  });

  it("another user's session_id or project_id, or an unknown one, is 404 and writes nothing", async () => {
    const adaSession = await createSession(t.app, ada);
    const adaProject = await createProject(t.app, ada);
    const before = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM chat_messages');
    for (const payload of [
      { text: 'hi', session_id: adaSession.session_id },
      { text: 'hi', project_id: adaProject.project_id },
      { text: 'hi', session_id: randomUUID() },
      { text: 'hi', project_id: randomUUID() },
    ]) {
      const response = await chatJson(bob, payload);
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found' });
      // The streaming mode answers the same way: the error comes before the stream starts.
      const streamed = await t.app.inject({
        method: 'POST',
        url: '/api/v1/chat',
        headers: bob.headers,
        payload,
      });
      expect(streamed.statusCode).toBe(404);
    }
    const after = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM chat_messages');
    expect(after[0].n).toBe(before[0].n);
    const sessions = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sessions WHERE user_id = $1',
      [bob.user_id],
    );
    expect(sessions[0].n).toBe(0);
  });

  it.each([
    ['empty text', { text: '' }, 'text'],
    ['whitespace-only text', { text: ' \n\t ' }, 'text'],
    ['text over 32,000 characters', { text: 'x'.repeat(32001) }, 'text'],
    ['missing text', {}, 'text'],
    ['a malformed session_id', { text: 'hi', session_id: 'nope' }, 'session_id'],
    ['a malformed project_id', { text: 'hi', project_id: 42 }, 'project_id'],
    ['an unknown field', { text: 'hi', model: 'gpt-5' }, 'model'],
  ])('%s is 400 naming the field', async (_name, payload, field) => {
    const response = await chatJson(ada, payload);
    expect(response.statusCode).toBe(400);
    expect(response.json().details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('accepts exactly 32,000 characters (after trimming) and rejects a project_id that is not the session’s', async () => {
    const ok = await chatJson(ada, { text: `  ${'y'.repeat(32000)}  ` });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().user_message.content).toHaveLength(32000);
    const other = await createProject(t.app, ada);
    const mismatch = await chatJson(ada, {
      text: 'hi',
      session_id: ok.json().session.session_id,
      project_id: other.project_id,
    });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json().details).toEqual([
      { field: 'project_id', message: 'is not the project of session_id' },
    ]);
  });

  it('needs a caller', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/chat', payload: { text: 'hi' } });
    expect(response.statusCode).toBe(401);
  });

  describe('Idempotency-Key', () => {
    it('a retry returns the original reply (JSON or stream) and writes no second pair of messages', async () => {
      const key = `key-${randomUUID()}`;
      const first = await chatJson(ada, { text: 'Name my novel' }, { 'idempotency-key': key });
      expect(first.statusCode).toBe(200);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const again = await chatJson(ada, { text: '  Name my novel ' }, { 'idempotency-key': key });
      expect(again.statusCode).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());

      const streamed = await fetch(`${baseUrl}/api/v1/chat`, {
        method: 'POST',
        headers: { ...ada.headers, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ text: 'Name my novel' }),
      });
      expect(streamed.headers.get('idempotent-replayed')).toBe('true');
      const { message, text } = await readChatStream(streamed.body!);
      expect(message?.id).toBe(first.json().assistant_message.message_id);
      expect(text).toBe(first.json().assistant_message.content);

      const rows = await messagesOf(first.json().session.session_id);
      expect(rows).toHaveLength(2);
    });

    it('the same key with another body is 422; another user may use the same key', async () => {
      const key = `key-${randomUUID()}`;
      expect((await chatJson(ada, { text: 'one' }, { 'idempotency-key': key })).statusCode).toBe(200);
      const reused = await chatJson(ada, { text: 'two' }, { 'idempotency-key': key });
      expect(reused.statusCode).toBe(422);
      expect(reused.json()).toMatchObject({ error: 'unprocessable' });
      const bobs = await chatJson(bob, { text: 'two' }, { 'idempotency-key': key });
      expect(bobs.statusCode).toBe(200);
      expect(bobs.headers['idempotent-replayed']).toBeUndefined();
    });

    it('keys expire after 24 hours', async () => {
      const key = `key-${randomUUID()}`;
      const first = await chatJson(ada, { text: 'old' }, { 'idempotency-key': key });
      await t.sql.query(
        `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1 AND key = $2`,
        [ada.user_id, key],
      );
      const fresh = await chatJson(ada, { text: 'new body, same key' }, { 'idempotency-key': key });
      expect(fresh.statusCode).toBe(200);
      expect(fresh.json().session.session_id).not.toBe(first.json().session.session_id);
    });

    it("the hourly purge deletes every user's expired keys and keeps the others", async () => {
      const [expired, fresh] = [`key-${randomUUID()}`, `key-${randomUUID()}`];
      await t.sql.query(
        `INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)
         VALUES ($1, $3, 'h', now() - interval '25 hours'), ($2, $4, 'h', now() - interval '23 hours')`,
        [ada.user_id, bob.user_id, expired, fresh],
      );
      expect(await t.app.get(ChatIdempotency).purge()).toBeGreaterThanOrEqual(1);
      const left = await t.sql.query<{ key: string }>(
        'SELECT key FROM idempotency_keys WHERE key IN ($1, $2)',
        [expired, fresh],
      );
      expect(left).toEqual([{ key: fresh }]);
    });

    it('a key that is not 1 to 255 visible ASCII characters is 400; a failed request leaves no key', async () => {
      const long = await chatJson(ada, { text: 'hi' }, { 'idempotency-key': 'k'.repeat(256) });
      expect(long.statusCode).toBe(400);
      const key = `key-${randomUUID()}`;
      const missing = await chatJson(
        ada,
        { text: 'hi', session_id: randomUUID() },
        { 'idempotency-key': key },
      );
      expect(missing.statusCode).toBe(404);
      const keys = await t.sql.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
      expect(keys).toHaveLength(0);
    });
  });
});
