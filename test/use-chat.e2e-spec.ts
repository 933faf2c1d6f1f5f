import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import { randomUUID } from 'node:crypto';
import { createSession, createUser, type TestUser } from './support/factories.js';
import { FAKE_MODEL, FAKE_REPLY, startFakeLlmServer, type FakeLlmServer } from './support/fake-llm-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface Paged {
  data: {
    message_id: string;
    parent_id: string | null;
    sibling_ids: string[];
    role: string;
    content: string;
  }[];
}

/**
 * useChat as-is (issue 14 §5): the AI SDK's own DefaultChatTransport, pointed at POST /api/v1/chat with no
 * other glue, sends its default body ({id, messages, trigger, messageId}) to the running app: the chat id names
 * the session (a client chat id kept per user, or the session's own id), the last user message is sent,
 * regenerate-message regenerates, an edit goes beside the edited message, and reconnectToStream resumes a
 * reply through GET /api/v1/chat/{id}/stream.
 */
describe(`useChat's DefaultChatTransport against the app (${DATABASE_KIND})`, () => {
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
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await t.app.getUrl();
    ada = await createUser(t.app);
    bob = await createUser(t.app);
  });
  afterAll(async () => {
    t?.app.getHttpServer().closeAllConnections();
    await t?.close();
    await fake?.close();
  });

  const transportOf = (user: TestUser) =>
    new DefaultChatTransport<UIMessage>({ api: `${baseUrl}/api/v1/chat`, headers: user.headers });
  const userMessage = (text: string, id = `c-${randomUUID().slice(0, 8)}`): UIMessage => ({
    id,
    role: 'user',
    parts: [{ type: 'text', text }],
  });
  /** The assistant message as useChat holds it at the end of a stream. */
  async function finalMessage(stream: ReadableStream<UIMessageChunk>): Promise<UIMessage> {
    let last: UIMessage | undefined;
    for await (const message of readUIMessageStream({ stream })) last = message;
    return last!;
  }
  const textOf = (m: UIMessage) => m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
  async function send(
    chatId: string,
    messages: UIMessage[],
    options: { trigger?: 'submit-message' | 'regenerate-message'; messageId?: string; user?: TestUser } = {},
  ): Promise<UIMessage> {
    const stream = await transportOf(options.user ?? ada).sendMessages({
      chatId,
      messages,
      trigger: options.trigger ?? 'submit-message',
      messageId: options.messageId,
      abortSignal: undefined,
    });
    return finalMessage(stream);
  }
  const sessionOf = async (chatId: string, user = ada) =>
    (
      await t.sql.query<{ session_id: string }>(
        'SELECT session_id::text FROM sessions WHERE user_id = $1 AND client_chat_id = $2',
        [user.user_id, chatId],
      )
    )[0]?.session_id;
  const branch = async (sessionId: string): Promise<Paged['data']> =>
    (
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/v1/sessions/${sessionId}/messages`,
          headers: ada.headers,
        })
      ).json() as Paged
    ).data;

  it('sends, continues, regenerates and edits a chat named by the client’s own id', async () => {
    const chatId = `chat-${randomUUID().slice(0, 10)}`;
    const u1 = userMessage('What is a sonnet?');
    const a1 = await send(chatId, [u1]);
    expect(textOf(a1)).toBe(FAKE_REPLY);
    const sessionId = await sessionOf(chatId);
    expect(sessionId).toBeDefined();
    // The assistant message's id is the saved one (the stream's start part).
    expect((await branch(sessionId!)).map((m) => [m.role, m.content])).toEqual([
      ['user', 'What is a sonnet?'],
      ['assistant', FAKE_REPLY],
    ]);
    expect((await branch(sessionId!))[1].message_id).toBe(a1.id);

    // The whole list is sent again; only the last user message is new.
    const u2 = userMessage('And a villanelle?');
    const a2 = await send(chatId, [u1, a1, u2]);
    let saved = await branch(sessionId!);
    expect(saved.map((m) => m.content)).toEqual([
      'What is a sonnet?',
      FAKE_REPLY,
      'And a villanelle?',
      FAKE_REPLY,
    ]);
    expect(saved[3].message_id).toBe(a2.id);
    expect(
      fake
        .find('And a villanelle?')
        .at(-1)!
        .body.messages.filter((m) => m.role !== 'system'),
    ).toHaveLength(3);

    // regenerate(): useChat drops the last reply and names it.
    const a2b = await send(chatId, [u1, a1, u2], { trigger: 'regenerate-message', messageId: a2.id });
    saved = await branch(sessionId!);
    expect(saved.at(-1)!.message_id).toBe(a2b.id);
    expect(saved.at(-1)!.sibling_ids).toEqual([a2.id, a2b.id]);

    // sendMessage({text, messageId}) edits u2 (a client id): the new question goes beside it.
    const edited = userMessage('And a sestina?', u2.id);
    await send(chatId, [u1, a1, edited], { messageId: u2.id });
    saved = await branch(sessionId!);
    expect(saved.map((m) => m.content)).toEqual([
      'What is a sonnet?',
      FAKE_REPLY,
      'And a sestina?',
      FAKE_REPLY,
    ]);
    expect(saved[2].sibling_ids).toHaveLength(2);
    expect(saved[2].parent_id).toBe(a1.id);

    // Bob's chat with the same client id is his own session.
    await send(chatId, [userMessage('Bob here')], { user: bob });
    expect(await sessionOf(chatId, bob)).not.toBe(sessionId);
    expect((await branch(sessionId!)).map((m) => m.content)).not.toContain('Bob here');
  });

  it('a chat id that is the caller’s session id continues that session; another user’s is a new chat', async () => {
    const session = await createSession(t.app, ada);
    await send(session.session_id, [userMessage('Into the existing session')]);
    expect((await branch(session.session_id)).map((m) => m.content)).toEqual([
      'Into the existing session',
      FAKE_REPLY,
    ]);
    // Bob naming Ada's session id gets a chat of his own under that client id: nothing of Ada's changes.
    await send(session.session_id, [userMessage('Bob again')], { user: bob });
    expect((await branch(session.session_id)).map((m) => m.content)).toHaveLength(2);
    expect(await sessionOf(session.session_id, bob)).toBeDefined();
  });

  it('the old {text, session_id} body keeps working, and a malformed transport body is 400 naming the field', async () => {
    const old = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { ...ada.headers, accept: 'application/json' },
      payload: { text: 'plain body' },
    });
    expect(old.statusCode).toBe(200);
    const post = (payload: unknown) =>
      t.app.inject({ method: 'POST', url: '/api/v1/chat', headers: ada.headers, payload: payload as object });
    const cases: [unknown, string][] = [
      [
        { id: 'x', messages: [{ id: 'a', role: 'assistant', parts: [] }], trigger: 'submit-message' },
        'messages',
      ],
      [{ id: 'x', messages: [{ id: 'a', role: 'user', parts: [{ type: 'text', text: '  ' }] }] }, 'messages'],
      [{ messages: [userMessage('hi')] }, 'id'],
      [{ id: 'x', messages: [userMessage('hi')], trigger: 'resume' }, 'trigger'],
      [{ id: 'x', messages: [userMessage('hi')], session_id: randomUUID() }, 'session_id'],
      [{ id: 'x' }, 'text'],
    ];
    for (const [payload, field] of cases) {
      const response = await post(payload);
      const fields = new Set((response.json().details ?? []).map((d: { field: string }) => d.field));
      expect([response.statusCode, [...fields]]).toEqual([400, [field]]);
    }
  });

  it('reconnectToStream picks up a running reply from its start after the first reader left', async () => {
    const session = await createSession(t.app, ada);
    const controller = new AbortController();
    const first = await transportOf(ada).sendMessages({
      chatId: session.session_id,
      messages: [userMessage('Go on [words:40][every:25]')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: controller.signal,
    });
    const reader = first.getReader();
    let messageId: string | undefined;
    while (!messageId) {
      const { value } = await reader.read();
      if (value?.type === 'start') messageId = value.messageId;
    }
    controller.abort();
    await reader.cancel().catch(() => undefined);

    const resumed = await transportOf(ada).reconnectToStream({ chatId: session.session_id });
    expect(resumed).not.toBeNull();
    const message = await finalMessage(resumed!);
    expect(message.id).toBe(messageId);
    const words = Array.from({ length: 40 }, (_, i) => `w${i + 1}`).join(' ');
    expect(textOf(message)).toBe(words);
    const rows = await t.sql.query<{ content: string }>(
      `SELECT content FROM chat_messages WHERE session_id = $1 AND role = 'assistant'`,
      [session.session_id],
    );
    expect(rows).toEqual([{ content: words }]);
    // Nothing running any more: null, as useChat reads a 204.
    expect(await transportOf(ada).reconnectToStream({ chatId: session.session_id })).toBeNull();
  });
});
