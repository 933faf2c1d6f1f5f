import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestHash } from '../src/chat/chat-idempotency.js';
import { createUser, type TestUser } from './support/factories.js';
import { FAKE_MODEL, FAKE_REPLY, startFakeLlmServer, type FakeLlmServer } from './support/fake-llm-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const TIMEOUT_MS = 1500;
/** A `running` key older than this belongs to a request whose instance died (ChatIdempotency's lease). */
const LEASE_MS = TIMEOUT_MS + 30_000;

/**
 * Idempotency-Key across what goes wrong between a request and its retry: a request whose instance died while
 * it was `running` (its key is taken over once stale, refused while fresh), and a retry after the model timed
 * out before any text (504). The fake OpenAI-compatible server decides what the model does
 * (support/fake-llm-server.ts).
 */
describe(`Idempotency-Key after a failure (${DATABASE_KIND})`, () => {
  let fake: FakeLlmServer;
  let t: TestApp;
  let ada: TestUser;

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    t = await createTestApp({
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fake.baseUrl,
      LLM_MODEL: FAKE_MODEL,
      LLM_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    ada = await createUser(t.app);
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const unique = (label: string) => `${label} #${randomUUID().slice(0, 8)}`;

  const chatJson = (payload: Record<string, unknown>, key: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { ...ada.headers, accept: 'application/json', 'idempotency-key': key },
      payload,
    });

  const messagesOf = (sessionId: string) =>
    t.sql.query<{ message_id: string; role: string; content: string }>(
      `SELECT message_id::text, role, content FROM chat_messages WHERE session_id = $1 ORDER BY created_at, seq`,
      [sessionId],
    );

  const keyState = async (key: string) =>
    (
      await t.sql.query<{ response: { state: string } | null }>(
        'SELECT response FROM idempotency_keys WHERE user_id = $1 AND key = $2',
        [ada.user_id, key],
      )
    )[0]?.response?.state;

  /** Sets the key's `running` record as a request that started `ageMs` ago would have left it. */
  const runningSince = (key: string, ageMs: number) =>
    t.sql.query(
      `UPDATE idempotency_keys
          SET response = jsonb_set(jsonb_set(response, '{state}', '"running"'), '{started_at}', to_jsonb($3::text))
        WHERE user_id = $1 AND key = $2`,
      [ada.user_id, key, new Date(Date.now() - ageMs).toISOString()],
    );

  it('a stale running key (its instance died after committing the user message) is taken over by a retry', async () => {
    const key = `key-${randomUUID()}`;
    const payload = { text: unique('[fail-once] taken over') };
    // The first attempt commits the user message and records what it committed (prepared).
    const first = await chatJson(payload, key);
    expect(first.statusCode).toBe(502);
    const sessionId = first.headers['x-session-id'] as string;
    const [userMessage] = await messagesOf(sessionId);

    // As if its instance had died while running: the record says `running`, started recently.
    await runningSince(key, 1000);
    const fresh = await chatJson(payload, key);
    expect(fresh.statusCode).toBe(409);
    expect(fresh.json().message).toContain('still in progress');
    // Just inside the lease it is still someone else's request.
    await runningSince(key, LEASE_MS - 10_000);
    expect((await chatJson(payload, key)).statusCode).toBe(409);

    // Past the lease the retry takes it over and continues from the committed user message.
    await runningSince(key, LEASE_MS + 1000);
    const retried = await chatJson(payload, key);
    expect(retried.statusCode).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.json()).toMatchObject({
      session: { session_id: sessionId, message_count: 2 },
      user_message: { message_id: userMessage.message_id },
      assistant_message: { content: FAKE_REPLY, metadata: { reply_to: userMessage.message_id } },
    });
    expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(await keyState(key)).toBe('completed');
    const replay = await chatJson(payload, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(retried.json());
  });

  it('a stale running key that never committed anything is taken over as a new request', async () => {
    const key = `key-${randomUUID()}`;
    const payload = { text: unique('claimed, then the instance died') };
    await t.sql.query(
      `INSERT INTO idempotency_keys (user_id, key, request_hash, response)
       VALUES ($1, $2, $3, jsonb_build_object('state', 'running', 'started_at', $4::text))`,
      [ada.user_id, key, requestHash(payload), new Date(Date.now() - LEASE_MS - 1000).toISOString()],
    );
    const retried = await chatJson(payload, key);
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toMatchObject({
      session_created: true,
      session: { message_count: 2 },
      assistant_message: { content: FAKE_REPLY },
    });
    expect(await keyState(key)).toBe('completed');
    // A stale key with another body is still bound to its own request.
    const other = await chatJson({ text: unique('another body') }, key);
    expect(other.statusCode).toBe(422);
  });

  it('a retry after a 504 (no text within LLM_TIMEOUT_MS) continues the same exchange, then replays it', async () => {
    const key = `key-${randomUUID()}`;
    const payload = { text: unique('[stall-once] slow start') };
    const timedOut = await chatJson(payload, key);
    expect(timedOut.statusCode).toBe(504);
    expect(timedOut.json()).toMatchObject({ error: 'provider_timeout' });
    const sessionId = timedOut.headers['x-session-id'] as string;
    const [userMessage] = await messagesOf(sessionId);
    expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user']);
    expect(await keyState(key)).toBe('failed');

    const retried = await chatJson(payload, key);
    expect(retried.statusCode).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.json()).toMatchObject({
      session_created: true,
      session: { session_id: sessionId, message_count: 2 },
      user_message: { message_id: userMessage.message_id },
      assistant_message: {
        content: FAKE_REPLY,
        metadata: { finish_reason: 'stop', reply_to: userMessage.message_id },
      },
    });
    expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user', 'assistant']);
    // The model was asked twice with one user message, never with a duplicate of it.
    const asked = fake.find(payload.text);
    expect(asked).toHaveLength(2);
    expect(asked[1].body.messages.filter((m) => m.content === payload.text)).toHaveLength(1);

    const replay = await chatJson(payload, key);
    expect(replay.statusCode).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(retried.json());
    expect(fake.find(payload.text)).toHaveLength(2);
  });
});

/**
 * A client that goes away mid-reply: the reply so far is kept, in JSON mode and on the legacy route too
 * (docs/chat.md, Failures), and the provider request is aborted.
 */
describe(`partial replies on client disconnect (${DATABASE_KIND})`, () => {
  let fake: FakeLlmServer;
  let t: TestApp;
  let baseUrl: string;
  let ada: TestUser;

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    t = await createTestApp({
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fake.baseUrl,
      LLM_MODEL: FAKE_MODEL,
      LLM_TIMEOUT_MS: '60000',
      // Today's behaviour, kept as an option (the default continues: test/resume.e2e-spec.ts).
      CHAT_ON_DISCONNECT: 'abort',
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await t.app.getUrl();
    ada = await createUser(t.app);
  });
  afterAll(async () => {
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
    await fake?.close();
  });

  const unique = (label: string) => `${label} #${randomUUID().slice(0, 8)}`;

  /** Polls until `read` returns something: for work that finishes after the client has gone. */
  async function eventually<T>(read: () => Promise<T | undefined> | T | undefined, ms = 20000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await sleep(20);
    }
  }

  /** Sends the request, waits until the model has streamed `chunks` pieces of its reply, and disconnects. */
  async function disconnectMidReply(
    path: string,
    headers: Record<string, string>,
    text: string,
    chunks = 3,
  ): Promise<void> {
    const abort = new AbortController();
    const response = fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
      signal: abort.signal,
    }).catch((error: unknown) => error);
    await eventually(() => (fake.find(text)[0]?.chunksSent >= chunks ? true : undefined));
    abort.abort();
    await response;
    // The provider request is aborted at once, long before its 400 words.
    const [request] = fake.find(text);
    await expect(request.closed).resolves.toEqual({ byClient: true });
    expect(request.chunksSent).toBeLessThan(400);
  }

  it('JSON mode: the partial reply is saved with finish_reason "aborted"', async () => {
    const text = unique('[words:400][every:10] json disconnect');
    await disconnectMidReply('/api/v1/chat?stream=false', ada.headers, text);
    const assistant = await eventually(
      async () =>
        (
          await t.sql.query<{ content: string; metadata: Record<string, unknown> }>(
            `SELECT a.content, a.metadata FROM chat_messages u
               JOIN chat_messages a ON a.session_id = u.session_id AND a.role = 'assistant'
              WHERE u.role = 'user' AND u.content = $1`,
            [text],
          )
        )[0],
    );
    expect(assistant.metadata).toMatchObject({ finish_reason: 'aborted', provider: 'openai-compatible' });
    expect(assistant.content).toMatch(/^w1 w2 w3/);
    expect(assistant.content).not.toContain('w400');
  });

  it('legacy POST /chat, anonymous: the turn keeps the partial reply', async () => {
    const text = unique('[words:400][every:10] legacy disconnect');
    await disconnectMidReply('/chat', {}, text);
    const turn = await eventually(
      async () =>
        (
          await t.sql.query<{ assistant_text: string | null }>(
            'SELECT assistant_text FROM turns WHERE user_text = $1 AND assistant_text IS NOT NULL',
            [text],
          )
        )[0],
    );
    expect(turn.assistant_text).toMatch(/^w1 w2 w3/);
    expect(turn.assistant_text).not.toContain('w400');
  });

  it('legacy POST /chat with a user: the turn and the session history keep the partial reply', async () => {
    const text = unique('[words:400][every:10] legacy user disconnect');
    await disconnectMidReply('/chat', ada.headers, text);
    const turn = await eventually(
      async () =>
        (
          await t.sql.query<{ turn_id: string; assistant_text: string }>(
            'SELECT turn_id::text, assistant_text FROM turns WHERE user_text = $1 AND assistant_text IS NOT NULL',
            [text],
          )
        )[0],
    );
    expect(turn.assistant_text).toMatch(/^w1 w2 w3/);
    expect(turn.assistant_text).not.toContain('w400');
    const messages = await eventually(async () => {
      const rows = await t.sql.query<{ role: string; content: string; metadata: Record<string, unknown> }>(
        `SELECT role, content, metadata FROM chat_messages WHERE turn_id = $1 ORDER BY created_at, seq`,
        [turn.turn_id],
      );
      return rows.length === 2 ? rows : undefined;
    });
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(messages[1].content).toBe(turn.assistant_text);
    expect(messages[1].metadata).toMatchObject({ finish_reason: 'aborted' });
  });
});
