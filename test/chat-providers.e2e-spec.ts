import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShutdownService } from '../src/common/shutdown.service.js';
import { loadConfig } from '../src/config/app-config.js';
import type { ModelEvent } from '../src/llm/chat-model.js';
import { createChatModel } from '../src/llm/providers.js';
import { readChatStream } from './support/chat-stream.js';
import { addMessages, createSession, createUser, type TestUser } from './support/factories.js';
import {
  FAKE_MODEL,
  FAKE_REPLY,
  FAKE_REPLY_WORDS,
  startFakeLlmServer,
  type FakeLlmServer,
} from './support/fake-llm-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface MessageRow {
  message_id: string;
  role: string;
  content: string;
  metadata: Record<string, unknown> | null;
}

const TIMEOUT_MS = 1500;
const SYSTEM_PROMPT = 'You are the test prompt.';

/**
 * The OpenAI-compatible provider against a fake OpenAI-compatible server on 127.0.0.1 (real HTTP both ways):
 * streaming, usage, failures before and during the stream, timeouts, client disconnects, the model's
 * context, concurrent chats and keyed retries that span a failure.
 */
describe(`chat with an OpenAI-compatible provider (${DATABASE_KIND})`, () => {
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
      LLM_TIMEOUT_MS: String(TIMEOUT_MS),
      CHAT_ON_DISCONNECT: 'abort',
      LLM_CONTEXT_CHARS: '1000',
      LLM_SYSTEM_PROMPT: SYSTEM_PROMPT,
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await t.app.getUrl();
    ada = await createUser(t.app);
  });
  afterAll(async () => {
    // fetch may keep a spare connection that never carried a request; server.close() would wait for it.
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
    await fake?.close();
  });

  const unique = (label: string) => `${label} #${randomUUID().slice(0, 8)}`;

  const messagesOf = (sessionId: string) =>
    t.sql.query<MessageRow>(
      `SELECT message_id::text, role, content, metadata FROM chat_messages
        WHERE session_id = $1 ORDER BY created_at, seq`,
      [sessionId],
    );

  const chatJson = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { ...ada.headers, accept: 'application/json', ...headers },
      payload,
    });

  const chatStream = (payload: Record<string, unknown>, init: RequestInit = {}) =>
    fetch(`${baseUrl}/api/v1/chat`, {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      ...init,
    });

  /** Polls until `read` returns something, for work that finishes after the response (a disconnect). */
  async function eventually<T>(read: () => Promise<T | undefined>, ms = 5000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await sleep(25);
    }
  }

  it('streams the provider’s chunks, sends the system prompt and the message, and records the usage', async () => {
    const text = unique('Tell me a story');
    const response = await chatJson({ text });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.assistant_message.content).toBe(FAKE_REPLY);
    expect(body.assistant_message.metadata).toEqual({
      provider: 'openai-compatible',
      model: FAKE_MODEL,
      usage: { input_tokens: expect.any(Number), output_tokens: 5, total_tokens: expect.any(Number) },
      finish_reason: 'stop',
      latency_ms: expect.any(Number),
      first_token_ms: expect.any(Number),
      reply_to: body.user_message.message_id,
    });
    const usage = body.assistant_message.metadata.usage;
    expect(usage.total_tokens).toBe(usage.input_tokens + 5);

    const [request] = fake.find(text);
    expect(request.body).toMatchObject({
      model: FAKE_MODEL,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: text },
      ],
    });
  });

  it('each provider chunk reaches the client as a text-delta part', async () => {
    const response = await chatStream({ text: unique('Stream it') });
    const { chunks, text, errors } = await readChatStream(response.body!);
    expect(errors).toEqual([]);
    expect(chunks.filter((c) => c.type === 'text-delta').map((c) => (c as { delta: string }).delta)).toEqual(
      FAKE_REPLY_WORDS,
    );
    expect(text).toBe(FAKE_REPLY);
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
  });

  describe('a provider failing before the first token', () => {
    it('is 502 in JSON mode; the user message stays and no assistant message is written', async () => {
      const response = await chatJson({ text: unique('[fail-500]') });
      expect(response.statusCode).toBe(502);
      expect(response.json()).toMatchObject({
        statusCode: 502,
        error: 'provider_error',
        message: expect.stringContaining('HTTP 5xx'),
      });
      // The provider's own text goes to the log, not to the client (issue 12, item 4).
      expect(response.json().message).not.toContain('The fake model is broken');
      const sessionId = response.headers['x-session-id'] as string;
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user']);
    });

    it('is an error part in the stream, after the start and session parts', async () => {
      const response = await chatStream({ text: unique('[fail-500]') });
      expect(response.status).toBe(200);
      const { chunks, text, errors } = await readChatStream(response.body!);
      expect(chunks.map((c) => c.type)).toEqual(['start', 'data-session', 'error', 'finish']);
      expect(chunks.at(-1)).toMatchObject({ finishReason: 'error' });
      expect(errors).toEqual([expect.stringContaining('HTTP 5xx')]);
      expect(text).toBe('');
      const sessionId = response.headers.get('x-session-id')!;
      expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user']);
    });
  });

  describe('a connection dropped mid-stream', () => {
    it('saves the partial reply with finish_reason "error" and the error in metadata (JSON mode)', async () => {
      const response = await chatJson({ text: unique('[drop-after:2]') });
      expect(response.statusCode).toBe(200);
      const assistant = response.json().assistant_message;
      expect(assistant.content).toBe('Hello from');
      expect(assistant.metadata).toMatchObject({
        finish_reason: 'error',
        usage: null,
        error: { code: 'provider_error', message: expect.any(String) },
      });
    });

    it('streams the partial text, then an error part; the partial reply is saved', async () => {
      const response = await chatStream({ text: unique('[drop-after:3]') });
      const { chunks, text, errors } = await readChatStream(response.body!);
      expect(text).toBe('Hello from the');
      expect(errors).toHaveLength(1);
      expect(chunks.slice(-3).map((c) => c.type)).toEqual(['text-end', 'error', 'finish']);
      expect(chunks.at(-1)).toMatchObject({
        finishReason: 'error',
        messageMetadata: { finish_reason: 'error', error: { code: 'provider_error' } },
      });
      const rows = await messagesOf(response.headers.get('x-session-id')!);
      expect(rows.map((r) => [r.role, r.content])).toEqual([
        ['user', expect.any(String)],
        ['assistant', 'Hello from the'],
      ]);
    });
  });

  describe(`the provider timeout (LLM_TIMEOUT_MS=${TIMEOUT_MS})`, () => {
    it('is 504 when nothing arrived, and the provider request is aborted', async () => {
      const text = unique('[stall-after:0]');
      const response = await chatJson({ text });
      expect(response.statusCode).toBe(504);
      expect(response.json()).toMatchObject({ error: 'provider_timeout' });
      expect((await messagesOf(response.headers['x-session-id'] as string)).map((m) => m.role)).toEqual([
        'user',
      ]);
      await expect(fake.find(text)[0].closed).resolves.toEqual({ byClient: true });
    });

    it('saves what arrived before it, with finish_reason "error" and code provider_timeout', async () => {
      const response = await chatJson({ text: unique('[stall-after:2]') });
      expect(response.statusCode).toBe(200);
      expect(response.json().assistant_message).toMatchObject({
        content: 'Hello from',
        metadata: { finish_reason: 'error', error: { code: 'provider_timeout' } },
      });
      expect(response.json().assistant_message.metadata.latency_ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    });
  });

  it('a client disconnecting mid-stream aborts the provider request and the partial reply is saved as "aborted"', async () => {
    const text = unique('[words:400][every:10] disconnect');
    const abort = new AbortController();
    const response = await chatStream({ text }, { signal: abort.signal });
    const sessionId = response.headers.get('x-session-id')!;
    const reader = response.body!.getReader();
    let seen = '';
    while ((seen.match(/"text-delta"/g) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended early');
      seen += new TextDecoder().decode(value);
    }
    abort.abort();

    const [request] = fake.find(text);
    await expect(request.closed).resolves.toEqual({ byClient: true });
    expect(request.chunksSent).toBeLessThan(400);
    const assistant = await eventually(async () =>
      (await messagesOf(sessionId)).find((m) => m.role === 'assistant'),
    );
    expect(assistant.metadata).toMatchObject({ finish_reason: 'aborted', provider: 'openai-compatible' });
    expect(assistant.metadata).not.toHaveProperty('error');
    expect(assistant.content).toMatch(/^w1 w2 w3/);
    expect(assistant.content).not.toContain('w400');
  });

  it('the model gets the system prompt, the session’s system messages, and the newest messages within LLM_CONTEXT_CHARS', async () => {
    const session = await createSession(t.app, ada);
    const long = (label: string) => `${label}:${'x'.repeat(297)}`; // 300 characters each
    await addMessages(t.sql, session.session_id, [
      { role: 'system', content: 'Always answer in French.' },
      ...['u1', 'a1', 'u2', 'a2', 'u3', 'a3', 'u4', 'a4', 'u5', 'a5'].map((label) => ({
        role: label.startsWith('u') ? ('user' as const) : ('assistant' as const),
        content: long(label),
      })),
    ]);
    const text = unique('Continue');
    const response = await chatJson({ text, session_id: session.session_id });
    expect(response.statusCode).toBe(200);
    // Budget 1000: the system message (24), the new message, a5, u5 and a4 fit; u4 does not. A conversation
    // never starts with an assistant message, so a4 goes too.
    expect(fake.find(text)[0].body.messages).toEqual([
      { role: 'system', content: `${SYSTEM_PROMPT}\n\nAlways answer in French.` },
      { role: 'user', content: long('u5') },
      { role: 'assistant', content: long('a5') },
      { role: 'user', content: text },
    ]);
  });

  it('two chats into the same session at once both persist completely, each reply after its question', async () => {
    const first = (await chatJson({ text: unique('Opening') })).json();
    const sessionId = first.session.session_id;
    const [a, b] = await Promise.all([
      chatJson({ text: unique('[words:12][every:15] first'), session_id: sessionId }),
      chatJson({ text: unique('[words:9][every:20] second'), session_id: sessionId }),
    ]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    const rows = await messagesOf(sessionId);
    expect(rows).toHaveLength(6);
    for (const reply of [a.json(), b.json()]) {
      const question = rows.findIndex((r) => r.message_id === reply.user_message.message_id);
      const answer = rows.findIndex((r) => r.message_id === reply.assistant_message.message_id);
      expect(question).toBeGreaterThan(1);
      expect(answer).toBeGreaterThan(question);
      expect(rows[answer].metadata).toMatchObject({
        reply_to: reply.user_message.message_id,
        finish_reason: 'stop',
      });
    }
    expect(rows.find((r) => r.message_id === a.json().assistant_message.message_id)?.content).toBe(
      'w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12',
    );
    // message_count is the current branch's length: the question committed second continues under the
    // current leaf as it was (the first question, or the opening reply when both read it at once), so the
    // branch holds 5 or 4 messages; every message is in the tree.
    const [session] = await t.sql.query<{ message_count: number; leaf_depth: number }>(
      `SELECT s.message_count, l.depth AS leaf_depth
         FROM sessions s JOIN chat_messages l ON l.message_id = s.current_leaf_id WHERE s.session_id = $1`,
      [sessionId],
    );
    expect(session.message_count).toBe(session.leaf_depth + 1);
    expect([4, 5]).toContain(session.message_count);
  });

  describe('Idempotency-Key across a running or failed request', () => {
    it('a retry while the first is still streaming is 409; after it ends the retry replays it', async () => {
      const key = `key-${randomUUID()}`;
      const payload = { text: unique('[words:30][every:20] busy') };
      const running = await chatStream(payload, {
        headers: { ...ada.headers, 'content-type': 'application/json', 'idempotency-key': key },
      });
      const conflict = await chatJson(payload, { 'idempotency-key': key });
      expect(conflict.statusCode).toBe(409);
      expect(conflict.json().message).toContain('still in progress');
      const { text } = await readChatStream(running.body!);
      expect(text).toBe(Array.from({ length: 30 }, (_, i) => `w${i + 1}`).join(' '));
      const replay = await chatJson(payload, { 'idempotency-key': key });
      expect(replay.statusCode).toBe(200);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json().assistant_message.content).toBe(text);
      expect(await messagesOf(replay.json().session.session_id)).toHaveLength(2);
    });

    it('a retry after the provider failed before any text continues with the same user message', async () => {
      const key = `key-${randomUUID()}`;
      const payload = { text: unique('[fail-once] resume') };
      const failed = await chatJson(payload, { 'idempotency-key': key });
      expect(failed.statusCode).toBe(502);
      const sessionId = failed.headers['x-session-id'] as string;
      const [userMessage] = await messagesOf(sessionId);

      const retried = await chatJson(payload, { 'idempotency-key': key });
      expect(retried.statusCode).toBe(200);
      expect(retried.headers['idempotent-replayed']).toBeUndefined();
      expect(retried.json()).toMatchObject({
        session_created: true,
        session: { session_id: sessionId, message_count: 2 },
        user_message: { message_id: userMessage.message_id },
        assistant_message: { content: FAKE_REPLY, metadata: { reply_to: userMessage.message_id } },
      });
      expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user', 'assistant']);
    });
  });

  describe('legacy POST /chat', () => {
    it('a failure before any text is 502 JSON; the turn keeps the user text', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/chat',
        payload: { text: unique('[fail-500]') },
      });
      expect(response.statusCode).toBe(502);
      expect(response.json()).toMatchObject({ error: 'provider_error' });
      const [turn] = await t.sql.query<{ user_text: string; assistant_text: string | null }>(
        'SELECT user_text, assistant_text FROM turns WHERE turn_id = $1',
        [response.headers['x-turn-id']],
      );
      expect(turn).toEqual({ user_text: expect.stringContaining('[fail-500]'), assistant_text: null });
    });

    it('a failure part-way ends the response without its last chunk; the turn keeps the partial reply', async () => {
      const response = await fetch(`${baseUrl}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: unique('[drop-after:2]') }),
      });
      expect(response.status).toBe(200);
      await expect(response.text()).rejects.toThrow();
      const [turn] = await t.sql.query<{ assistant_text: string | null }>(
        'SELECT assistant_text FROM turns WHERE turn_id = $1',
        [response.headers.get('x-turn-id')],
      );
      expect(turn.assistant_text).toBe('Hello from');
    });
  });

  it('LLM_PROVIDER=openai speaks Chat Completions to the configured base URL, with usage', async () => {
    const model = createChatModel(
      loadConfig({
        LLM_PROVIDER: 'openai',
        LLM_API_KEY: 'sk-test',
        LLM_BASE_URL: fake.baseUrl,
        LLM_MODEL: FAKE_MODEL,
      }),
    );
    const text = unique('Via the OpenAI provider');
    const events: ModelEvent[] = [];
    for await (const event of model.stream({
      system: 'sys',
      messages: [{ role: 'user', content: text }],
      signal: new AbortController().signal,
    })) {
      events.push(event);
    }
    expect(model.provider).toBe('openai');
    expect(
      events
        .filter((e) => e.type === 'text')
        .map((e) => (e as { delta: string }).delta)
        .join(''),
    ).toBe(FAKE_REPLY);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'stop',
      usage: { input_tokens: expect.any(Number), output_tokens: 5, total_tokens: expect.any(Number) },
    });
    expect(fake.find(text)[0].body.messages[0]).toEqual({ role: 'system', content: 'sys' });
  });

  it('LLM_PROVIDER=anthropic speaks the Messages API to the configured base URL, with usage', async () => {
    const model = createChatModel(
      loadConfig({ LLM_PROVIDER: 'anthropic', LLM_API_KEY: 'sk-ant-test', LLM_BASE_URL: fake.baseUrl }),
    );
    const text = unique('Via the Anthropic provider');
    const events: ModelEvent[] = [];
    for await (const event of model.stream({
      system: 'sys',
      messages: [{ role: 'user', content: text }],
      signal: new AbortController().signal,
    })) {
      events.push(event);
    }
    expect(model).toMatchObject({ provider: 'anthropic', modelId: 'claude-3-5-haiku-latest' });
    expect(events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta)).toEqual(
      FAKE_REPLY_WORDS,
    );
    expect(events.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'stop',
      usage: { input_tokens: 12, output_tokens: 5, total_tokens: 17 },
    });
    const [request] = fake.find(text);
    expect(request.body).toMatchObject({ model: 'claude-3-5-haiku-latest', stream: true });
  });

  // Last: it shuts the app down.
  it('shutdown stops a running stream: the client gets an error part and the partial reply is saved as "shutdown"', async () => {
    const text = unique('[words:400][every:10] shutdown');
    const response = await chatStream({ text });
    const reading = readChatStream(response.body!);
    await eventually(async () => ((fake.find(text)[0]?.chunksSent ?? 0) >= 3 ? true : undefined));
    t.app.get(ShutdownService).begin();
    const { chunks, text: received, errors } = await reading;
    expect(errors).toEqual([expect.stringContaining('shutting down')]);
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'error' });
    const rows = await messagesOf(response.headers.get('x-session-id')!);
    expect(rows[1]).toMatchObject({
      role: 'assistant',
      content: received,
      metadata: { finish_reason: 'shutdown' },
    });
    expect(received).toMatch(/^w1 w2/);
    await expect(fake.find(text)[0].closed).resolves.toEqual({ byClient: true });
  });
});
