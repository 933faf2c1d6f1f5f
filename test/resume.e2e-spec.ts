import { randomUUID } from 'node:crypto';
import { readChatStream } from './support/chat-stream.js';
import { createUser, type TestUser } from './support/factories.js';
import { FAKE_MODEL, startFakeLlmServer, type FakeLlmServer } from './support/fake-llm-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `read` returns something (not undefined): waiting for an event, not for the clock. */
async function eventually<T>(read: () => Promise<T | undefined> | T | undefined, ms = 20000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

interface SseEvent {
  id?: string;
  data: string;
}

/** The events of an SSE text (raw, for what the AI SDK's reader hides: ids, and a stream resumed mid-text). */
function sseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const event: SseEvent = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) event.id = line.slice(4);
        if (line.startsWith('data: ')) event.data += line.slice(6);
      }
      return event;
    });
}

/**
 * Resumable replies on one instance (issue 14 §2, §3, §4): a reply outlives its client and is read again
 * through GET /api/v1/chat/{session_id}/stream (from its start, or from Last-Event-ID), its text is written
 * to chat_generation_chunks in batches under row-level security and folded into the message at the end,
 * POST .../stop stops it, and a reply whose instance died is finished as `interrupted`. Several instances:
 * test/resume-instances.e2e-spec.ts.
 */
describe(`resumable replies, one instance (${DATABASE_KIND})`, () => {
  let fake: FakeLlmServer;
  let t: TestApp;
  let baseUrl: string;
  let ada: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    t = await createTestApp({
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fake.baseUrl,
      LLM_MODEL: FAKE_MODEL,
      LLM_TIMEOUT_MS: '60000',
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await t.app.getUrl();
    ada = await createUser(t.app, { display_name: 'Ada' });
    bob = await createUser(t.app, { display_name: 'Bob' });
  });
  afterAll(async () => {
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
    await fake?.close();
  });

  const unique = (label: string) => `${label} #${randomUUID().slice(0, 8)}`;

  const assistantsOf = (sessionId: string) =>
    t.sql.query<{ message_id: string; content: string; metadata: Record<string, unknown> }>(
      `SELECT message_id::text, content, metadata FROM chat_messages
        WHERE session_id = $1 AND role = 'assistant' ORDER BY created_at, seq`,
      [sessionId],
    );

  /** Rows of the running-reply tables for a message (maintenance view). */
  const leftovers = async (messageId: string) => {
    const [row] = await t.sql.query<{ generations: number; chunks: number }>(
      `SELECT (SELECT count(*)::int FROM chat_generations WHERE message_id = $1) AS generations,
              (SELECT count(*)::int FROM chat_generation_chunks WHERE message_id = $1) AS chunks`,
      [messageId],
    );
    return row;
  };

  /** Counts chunks of `messageId` as `user` sees them, through row-level security. */
  const chunksSeenBy = (user: TestUser, messageId: string) =>
    t.database.maintenanceTransaction(async (sql) => {
      await sql.query(`SELECT set_config('role', 'parley_app', true), set_config('app.user_id', $1, true)`, [
        user.user_id,
      ]);
      const [row] = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM chat_generation_chunks WHERE message_id = $1`,
        [messageId],
      );
      const [generations] = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM chat_generations WHERE message_id = $1`,
        [messageId],
      );
      return { chunks: row.n, generations: generations.n };
    });

  /**
   * Starts a streamed chat and reads its raw body until `until` holds for what arrived, then (with `drop`)
   * disconnects. Returns what was read and the ids of the first parts.
   */
  async function startChat(
    user: TestUser,
    text: string,
    until: (received: string) => boolean,
    extraHeaders: Record<string, string> = {},
  ) {
    const abort = new AbortController();
    const response = await fetch(`${baseUrl}/api/v1/chat`, {
      method: 'POST',
      headers: { ...user.headers, 'content-type': 'application/json', ...extraHeaders },
      body: JSON.stringify({ text }),
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    const sessionId = response.headers.get('x-session-id')!;
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    while (!until(received)) {
      const { value, done } = await reader.read();
      if (done) break;
      received += decoder.decode(value, { stream: true });
    }
    const start = JSON.parse(sseEvents(received)[0].data) as { messageId: string };
    return {
      sessionId,
      messageId: start.messageId,
      received,
      drop: () => abort.abort(),
      /** Reads the rest of the stream. */
      rest: async () => {
        let more = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return more;
          more += decoder.decode(value, { stream: true });
        }
      },
    };
  }

  const textDeltas = (received: string) =>
    sseEvents(received)
      .filter((e) => e.data.startsWith('{') && JSON.parse(e.data).type === 'text-delta')
      .map((e) => ({ id: e.id, delta: (JSON.parse(e.data) as { delta: string }).delta }));

  const resume = (user: TestUser, sessionId: string, headers: Record<string, string> = {}) =>
    fetch(`${baseUrl}/api/v1/chat/${sessionId}/stream`, { headers: { ...user.headers, ...headers } });

  it("GET .../stream answers 204 when nothing runs, 404 for another user's session and 400 for a malformed id", async () => {
    const done = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: ada.headers,
      payload: { text: unique('a short one [words:3]') },
    });
    expect(done.statusCode).toBe(200);
    const sessionId = done.json().session.session_id as string;
    expect((await resume(ada, sessionId)).status).toBe(204);
    const foreign = await resume(bob, sessionId);
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toMatchObject({ statusCode: 404, error: 'not_found' });
    expect((await resume(bob, randomUUID())).status).toBe(404);
    expect((await resume(ada, 'not-a-uuid')).status).toBe(400);
    expect((await resume({ ...ada, headers: {} }, sessionId)).status).toBe(401);
  });

  it('a client dropped at 30% of a reply comes back through GET .../stream: same message id, the whole text byte for byte, one assistant row, no chunks left', async () => {
    const text = unique('[words:60][every:15] drop and come back');
    const chat = await startChat(ada, text, (received) => textDeltas(received).length >= 18);
    chat.drop();
    // The provider call goes on without its client (CHAT_ON_DISCONNECT=continue by default).
    const [request] = fake.find(text);
    expect(await Promise.race([request.closed, sleep(150).then(() => 'still running')])).toBe(
      'still running',
    );

    // While it runs its text is written in batches, visible to its owner only.
    await eventually(async () => ((await chunksSeenBy(ada, chat.messageId)).chunks > 0 ? true : undefined));
    expect(await chunksSeenBy(bob, chat.messageId)).toEqual({ chunks: 0, generations: 0 });
    expect((await chunksSeenBy(ada, chat.messageId)).generations).toBe(1);

    const again = await resume(ada, chat.sessionId);
    expect(again.status).toBe(200);
    expect(again.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(again.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    const { chunks, message, text: replyText, errors } = await readChatStream(again.body!);
    expect(errors).toEqual([]);
    expect(chunks[0]).toEqual({ type: 'start', messageId: chat.messageId });
    expect(chunks[1]).toMatchObject({ type: 'data-session', id: chat.sessionId });
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    expect(message?.id).toBe(chat.messageId);

    const rows = await assistantsOf(chat.sessionId);
    expect(rows).toHaveLength(1);
    expect(rows[0].message_id).toBe(chat.messageId);
    expect(Buffer.from(replyText).equals(Buffer.from(rows[0].content))).toBe(true);
    expect(rows[0].content).toMatch(/^w1 w2 .* w60$/);
    expect(rows[0].metadata).toMatchObject({ finish_reason: 'stop' });
    expect(await leftovers(chat.messageId)).toEqual({ generations: 0, chunks: 0 });
    expect((await resume(ada, chat.sessionId)).status).toBe(204);
  });

  it('Last-Event-ID resumes after the text the client has: no start part again, the rest of the text only', async () => {
    const text = unique('[words:50][every:15] last event id');
    const chat = await startChat(ada, text, (received) => textDeltas(received).length >= 10);
    chat.drop();
    const deltas = textDeltas(chat.received);
    const have = deltas.map((d) => d.delta).join('');
    // Each text part's id is the text's length up to its end.
    expect(deltas.at(-1)!.id).toBe(String(have.length));
    const dataSession = sseEvents(chat.received).find((e) => e.data.includes('"data-session"'));
    expect(dataSession?.id).toBe('0');

    const again = await resume(ada, chat.sessionId, { 'last-event-id': String(have.length) });
    expect(again.status).toBe(200);
    const events = sseEvents(await again.text());
    const parts = events
      .filter((e) => e.data !== '[DONE]')
      .map((e) => JSON.parse(e.data) as { type: string });
    expect(parts.map((p) => p.type)).not.toContain('start');
    expect(parts.map((p) => p.type)).not.toContain('text-start');
    expect(parts.slice(-2).map((p) => p.type)).toEqual(['text-end', 'finish']);
    const rest = textDeltas(
      events.map((e) => (e.id ? `id: ${e.id}\n` : '') + `data: ${e.data}`).join('\n\n'),
    );
    const [row] = await assistantsOf(chat.sessionId);
    expect(have + rest.map((d) => d.delta).join('')).toBe(row.content);
    expect(rest.at(-1)!.id).toBe(String(row.content.length));
  });

  it('POST .../stop stops the reply: the provider request is aborted, the stream ends with finish, the partial is saved as "stopped"; then 204', async () => {
    const text = unique('[words:400][every:15] stop me');
    const chat = await startChat(ada, text, (received) => textDeltas(received).length >= 5);
    const [request] = fake.find(text);

    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: `/api/v1/sessions/${chat.sessionId}/stop`,
          headers: bob.headers,
        })
      ).statusCode,
    ).toBe(404);
    const stopped = await t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${chat.sessionId}/stop`,
      headers: ada.headers,
      payload: { message_id: chat.messageId },
    });
    expect(stopped.statusCode).toBe(202);
    expect(stopped.json()).toEqual({ session_id: chat.sessionId, message_ids: [chat.messageId] });
    await expect(request.closed).resolves.toEqual({ byClient: true });
    expect(request.chunksSent).toBeLessThan(400);

    const tail = sseEvents(await chat.rest());
    const finish = JSON.parse(tail.at(-2)!.data) as {
      type: string;
      messageMetadata: Record<string, unknown>;
    };
    expect(finish).toMatchObject({ type: 'finish', messageMetadata: { finish_reason: 'stopped' } });
    expect(tail.at(-1)!.data).toBe('[DONE]');

    const [row] = await assistantsOf(chat.sessionId);
    expect(row.metadata).toMatchObject({ finish_reason: 'stopped' });
    expect(row.content).toMatch(/^w1 w2 w3 w4 w5/);
    expect(row.content).not.toContain('w400');
    expect(await leftovers(chat.messageId)).toEqual({ generations: 0, chunks: 0 });

    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${chat.sessionId}/stop`,
      headers: ada.headers,
    });
    expect(again.statusCode).toBe(204);
    expect(again.body).toBe('');
  });

  it('a reply whose instance died is finished by this one as "interrupted" with its chunks, and its Idempotency-Key lets a retry continue at once', async () => {
    // What a killed instance leaves: the user message, the generation record naming an instance that has no
    // heartbeat, the chunks it wrote, and its key `running`.
    const text = unique('interrupted elsewhere');
    const key = `crash-${randomUUID()}`;
    const first = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: ada.headers,
      payload: { text: unique('the session') },
    });
    const sessionId = first.json().session.session_id as string;
    const userMessageId = randomUUID();
    const assistantId = randomUUID();
    const deadInstance = randomUUID();
    await t.sql.query(
      `INSERT INTO chat_messages (message_id, session_id, role, content) VALUES ($1, $2, 'user', $3)`,
      [userMessageId, sessionId, text],
    );
    const hash = (await import('../src/chat/chat-idempotency.js')).requestHash({ text, sessionId });
    await t.sql.query(
      `INSERT INTO idempotency_keys (user_id, key, request_hash, response) VALUES ($1, $2, $3, $4::jsonb)`,
      [
        ada.user_id,
        key,
        hash,
        JSON.stringify({
          state: 'running',
          started_at: new Date().toISOString(),
          prepared: { session_id: sessionId, user_message_id: userMessageId, session_created: false },
        }),
      ],
    );
    await t.sql.query(
      `INSERT INTO chat_generations (message_id, session_id, user_id, user_message_id, instance_id, idempotency_key, provider, model)
       VALUES ($1, $2, $3, $4, $5, $6, 'openai-compatible', $7)`,
      [assistantId, sessionId, ada.user_id, userMessageId, deadInstance, key, FAKE_MODEL],
    );
    await t.sql.query(
      `INSERT INTO chat_generation_chunks (message_id, seq, user_id, delta)
       VALUES ($1, 0, $2, 'Half a '), ($1, 1, $2, 'réply ✓')`,
      [assistantId, ada.user_id],
    );

    const row = await eventually(async () =>
      (await assistantsOf(sessionId)).find((r) => r.message_id === assistantId),
    );
    expect(row.content).toBe('Half a réply ✓');
    expect(row.metadata).toMatchObject({
      finish_reason: 'interrupted',
      provider: 'openai-compatible',
      reply_to: userMessageId,
    });
    expect(await leftovers(assistantId)).toEqual({ generations: 0, chunks: 0 });

    // The keyed retry is served at once, continuing with the same user message (a new reply beside it).
    const retry = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat?stream=false',
      headers: { ...ada.headers, 'idempotency-key': key },
      payload: { text, session_id: sessionId },
    });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().user_message.message_id).toBe(userMessageId);
    const users = await t.sql.query(`SELECT 1 FROM chat_messages WHERE session_id = $1 AND content = $2`, [
      sessionId,
      text,
    ]);
    expect(users).toHaveLength(1);
  });
});
