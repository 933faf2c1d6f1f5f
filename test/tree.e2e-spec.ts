import { randomUUID } from 'node:crypto';
import { readChatStream } from './support/chat-stream.js';
import { addMessages, createSession, createUser, type TestUser } from './support/factories.js';
import { FAKE_MODEL, FAKE_REPLY, startFakeLlmServer, type FakeLlmServer } from './support/fake-llm-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface Message {
  message_id: string;
  parent_id: string | null;
  sibling_ids: string[];
  role: string;
  content: string;
}

interface Page {
  data: Message[];
  total: number;
  has_more: boolean;
  prev_before: string | null;
  next_after: string | null;
}

interface Exchange {
  session: { session_id: string; message_count: number; last_message_preview: string | null };
  session_created: boolean;
  user_message: { message_id: string; parent_id: string | null; content: string };
  assistant_message: {
    message_id: string;
    parent_id: string | null;
    content: string;
    metadata: { reply_to: string };
  };
}

/**
 * Conversations as trees (issue 14, section 1): edit (POST /api/v1/chat with parent_message_id) and regenerate
 * make siblings and nothing is deleted; the model reads the current branch only; switching the current leaf
 * changes what GET …/messages returns and what the next message continues; paging works on a branch; the
 * session's counters follow the branch. Against a fake OpenAI-compatible server that records what the model
 * was sent.
 */
describe(`message tree (${DATABASE_KIND})`, () => {
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
      LLM_SYSTEM_PROMPT: 'system prompt',
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

  const unique = (label: string) => `${label} #${randomUUID().slice(0, 8)}`;

  const chat = async (payload: Record<string, unknown>, user = ada): Promise<Exchange> => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { ...user.headers, accept: 'application/json' },
      payload,
    });
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  const regenerate = (sessionId: string, messageId: string, user = ada) =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/sessions/${sessionId}/messages/${messageId}/regenerate`,
      headers: { ...user.headers, accept: 'application/json' },
    });
  const switchTo = (sessionId: string, messageId: string, user = ada) =>
    t.app.inject({
      method: 'PUT',
      url: `/api/v1/sessions/${sessionId}/current-leaf`,
      headers: user.headers,
      payload: { message_id: messageId },
    });
  const page = async (sessionId: string, query = ''): Promise<Page> => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/sessions/${sessionId}/messages${query ? `?${query}` : ''}`,
      headers: ada.headers,
    });
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  const session = async (sessionId: string) =>
    (
      await t.app.inject({ method: 'GET', url: `/api/v1/sessions/${sessionId}`, headers: ada.headers })
    ).json();
  const ids = (p: Page) => p.data.map((m) => m.message_id);
  /** What the model was sent for the request whose last user message is `text`, without the system prompt. */
  const sentFor = (text: string) =>
    fake
      .find(text)
      .at(-1)!
      .body.messages.filter((m) => m.role !== 'system')
      .map((m) => m.content);

  /** u1, a1, u2, a2: two exchanges in a new session. */
  async function conversation() {
    const first = await chat({ text: unique('first question') });
    const sessionId = first.session.session_id;
    const second = await chat({ text: unique('second question'), session_id: sessionId });
    return {
      sessionId,
      u1: first.user_message,
      a1: first.assistant_message,
      u2: second.user_message,
      a2: second.assistant_message,
    };
  }

  it('messages name their parent: a question follows the previous reply, a reply its question', async () => {
    const c = await conversation();
    expect(c.u1.parent_id).toBeNull();
    expect(c.a1.parent_id).toBe(c.u1.message_id);
    expect(c.u2.parent_id).toBe(c.a1.message_id);
    expect(c.a2.parent_id).toBe(c.u2.message_id);
    const body = await page(c.sessionId);
    expect(ids(body)).toEqual([c.u1, c.a1, c.u2, c.a2].map((m) => m.message_id));
    expect(body.data.map((m) => m.parent_id)).toEqual(
      [null, c.u1, c.a1, c.u2].map((m) => m?.message_id ?? null),
    );
    expect(body.data.map((m) => m.sibling_ids)).toEqual(body.data.map((m) => [m.message_id]));
    expect(body.total).toBe(4);
  });

  it('edit: a new question beside the edited one becomes the current branch; nothing is deleted; the model sees only the branch', async () => {
    const c = await conversation();
    const text = unique('second question, edited');
    const edited = await chat({ text, session_id: c.sessionId, parent_message_id: c.a1.message_id });
    expect(edited.session_created).toBe(false);
    expect(edited.user_message.parent_id).toBe(c.a1.message_id);
    expect(edited.assistant_message.parent_id).toBe(edited.user_message.message_id);
    // The model read u1, a1 and the edit: not the edited question nor its answer.
    expect(sentFor(text)).toEqual([c.u1.content, c.a1.content, text]);

    const body = await page(c.sessionId);
    expect(ids(body)).toEqual([
      c.u1.message_id,
      c.a1.message_id,
      edited.user_message.message_id,
      edited.assistant_message.message_id,
    ]);
    // "‹ 2/2 ›" on the edited question.
    expect(body.data[2].sibling_ids).toEqual([c.u2.message_id, edited.user_message.message_id]);
    expect(body.total).toBe(4);
    expect(edited.session).toMatchObject({ message_count: 4, last_message_preview: FAKE_REPLY });

    const all = await page(c.sessionId, 'branch=all');
    expect(all.total).toBe(6);
    expect(ids(all)).toEqual(
      expect.arrayContaining([c.u2.message_id, c.a2.message_id, edited.user_message.message_id]),
    );
  });

  it('editing the first question (parent_message_id null) makes a new first message', async () => {
    const c = await conversation();
    const text = unique('first question, edited');
    const edited = await chat({ text, session_id: c.sessionId, parent_message_id: null });
    expect(edited.user_message.parent_id).toBeNull();
    expect(sentFor(text)).toEqual([text]);
    const body = await page(c.sessionId);
    expect(ids(body)).toEqual([edited.user_message.message_id, edited.assistant_message.message_id]);
    expect(body.data[0].sibling_ids).toEqual([c.u1.message_id, edited.user_message.message_id]);
    expect((await session(c.sessionId)).message_count).toBe(2);
  });

  it('regenerate: a new reply beside the old one, read from the branch up to its question, becomes the current leaf', async () => {
    const c = await conversation();
    const response = await regenerate(c.sessionId, c.a2.message_id);
    expect(response.statusCode).toBe(200);
    const again: Exchange = response.json();
    expect(again.user_message.message_id).toBe(c.u2.message_id);
    expect(again.assistant_message).toMatchObject({
      parent_id: c.u2.message_id,
      metadata: { reply_to: c.u2.message_id },
    });
    expect(again.assistant_message.message_id).not.toBe(c.a2.message_id);
    // The question was sent again with the branch above it, not the earlier answer.
    const requests = fake.find(c.u2.content);
    expect(requests).toHaveLength(2);
    expect(requests[1].body.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      c.u1.content,
      c.a1.content,
      c.u2.content,
    ]);

    const body = await page(c.sessionId);
    expect(ids(body)).toEqual([c.u1, c.a1, c.u2, again.assistant_message].map((m) => m.message_id));
    expect(body.data[3].sibling_ids).toEqual([c.a2.message_id, again.assistant_message.message_id]);
    expect(again.session.message_count).toBe(4);
  });

  it('regenerating an earlier answer ends the branch at the new answer', async () => {
    const c = await conversation();
    const again: Exchange = (await regenerate(c.sessionId, c.a1.message_id)).json();
    expect(again.assistant_message.parent_id).toBe(c.u1.message_id);
    expect(ids(await page(c.sessionId))).toEqual([c.u1.message_id, again.assistant_message.message_id]);
    expect((await session(c.sessionId)).message_count).toBe(2);
  });

  it('regenerate streams like a chat: start with the new id, the text, finish', async () => {
    const c = await conversation();
    const response = await fetch(
      `${baseUrl}/api/v1/sessions/${c.sessionId}/messages/${c.a2.message_id}/regenerate`,
      { method: 'POST', headers: ada.headers },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-session-id')).toBe(c.sessionId);
    const stream = await readChatStream(response.body!);
    expect(stream.text).toBe(FAKE_REPLY);
    const messageId = stream.message!.id;
    const body = await page(c.sessionId, 'latest=true&limit=1');
    expect(body.data[0].message_id).toBe(messageId);
    expect(body.data[0].sibling_ids).toEqual([c.a2.message_id, messageId]);
  });

  it('regenerating a user message answers it again; a system message or another session is refused', async () => {
    const c = await conversation();
    const again: Exchange = (await regenerate(c.sessionId, c.u2.message_id)).json();
    expect(again.assistant_message.parent_id).toBe(c.u2.message_id);

    const [system] = await addMessages(t.sql, c.sessionId, [{ role: 'system', content: 'be brief' }]);
    const refused = await regenerate(c.sessionId, system.message_id);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().details).toEqual([{ field: 'message_id', message: expect.any(String) }]);

    const other = await conversation();
    for (const response of [
      await regenerate(c.sessionId, other.a2.message_id),
      await regenerate(c.sessionId, randomUUID()),
      await regenerate(c.sessionId, c.a2.message_id, bob),
    ]) {
      expect(response.statusCode).toBe(404);
    }
    expect((await regenerate(c.sessionId, c.a2.message_id, bob)).json().message).toBe('Session not found');
  });

  it('switch: PUT current-leaf moves to the newest branch through a message; reads, counters and the next message follow', async () => {
    const c = await conversation();
    const edited = await chat({
      text: unique('edited'),
      session_id: c.sessionId,
      parent_message_id: c.a1.message_id,
    });
    // Back to the first version of the second question: its branch ends at its answer.
    const back = await switchTo(c.sessionId, c.u2.message_id);
    expect(back.statusCode).toBe(200);
    expect(back.json()).toMatchObject({
      session_id: c.sessionId,
      message_count: 4,
      last_message_preview: c.a2.content.slice(0, 200),
    });
    expect(ids(await page(c.sessionId))).toEqual([c.u1, c.a1, c.u2, c.a2].map((m) => m.message_id));

    // The next message continues that branch, and the model reads it.
    const text = unique('third question');
    const next = await chat({ text, session_id: c.sessionId });
    expect(next.user_message.parent_id).toBe(c.a2.message_id);
    expect(sentFor(text)).toEqual([c.u1.content, c.a1.content, c.u2.content, c.a2.content, text]);
    expect(next.session.message_count).toBe(6);

    // To the edit again, and to an inner message (the branch continues to the newest message under it).
    const forward = await switchTo(c.sessionId, edited.user_message.message_id);
    expect(forward.json().message_count).toBe(4);
    expect(ids(await page(c.sessionId)).at(-1)).toBe(edited.assistant_message.message_id);
    const inner = await switchTo(c.sessionId, c.u1.message_id);
    expect(inner.json().message_count).toBe(6);
    expect(ids(await page(c.sessionId)).at(-1)).toBe(next.assistant_message.message_id);
  });

  it('switch: another user, another session or a missing message is 404; a malformed id 400', async () => {
    const c = await conversation();
    const other = await conversation();
    const responses = {
      bob: await switchTo(c.sessionId, c.a2.message_id, bob),
      foreignMessage: await switchTo(c.sessionId, other.a2.message_id),
      missing: await switchTo(c.sessionId, randomUUID()),
      missingSession: await switchTo(randomUUID(), c.a2.message_id),
    };
    expect(Object.values(responses).map((r) => r.statusCode)).toEqual([404, 404, 404, 404]);
    expect(responses.bob.json().message).toBe('Session not found');
    expect(responses.foreignMessage.json().message).toBe('Message not found');
    const malformed = await switchTo(c.sessionId, 'nope');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().details).toEqual([{ field: 'message_id', message: expect.any(String) }]);
    // Nothing moved.
    expect((await session(c.sessionId)).message_count).toBe(4);
  });

  it('edit: the parent alone names the session; a parent of another session is 404, null without session_id 400', async () => {
    const c = await conversation();
    const other = await conversation();
    const post = (payload: Record<string, unknown>) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/chat',
        headers: { ...ada.headers, accept: 'application/json' },
        payload,
      });
    const foreign = await post({
      text: 'x',
      session_id: c.sessionId,
      parent_message_id: other.a1.message_id,
    });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().message).toBe('Message not found');
    const bobs = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat',
      headers: { ...bob.headers, accept: 'application/json' },
      payload: { text: 'x', parent_message_id: c.a1.message_id },
    });
    expect(bobs.statusCode).toBe(404);
    expect(bobs.json().message).toBe('Message not found');
    const rootless = await post({ text: 'x', parent_message_id: null });
    expect(rootless.statusCode).toBe(400);
    expect(rootless.json().details).toEqual([{ field: 'parent_message_id', message: expect.any(String) }]);
    expect((await page(c.sessionId, 'branch=all')).total).toBe(4);

    const alone = await chat({ text: unique('edited alone'), parent_message_id: c.a1.message_id });
    expect(alone.session.session_id).toBe(c.sessionId);
    expect(alone.session_created).toBe(false);
    expect(alone.user_message.parent_id).toBe(c.a1.message_id);
    expect(ids(await page(c.sessionId)).slice(2)).toEqual([
      alone.user_message.message_id,
      alone.assistant_message.message_id,
    ]);
  });

  it('keyset paging and latest=true work on a branch with forks; after must be on the current branch', async () => {
    // 30 messages, then a fork at message 10 with 25 more: the current branch is 10 + 25 = 35 long.
    const s = await createSession(t.app, ada);
    const trunk = await addMessages(t.sql, s.session_id, 30);
    // Insert the fork one message at a time, each under the previous (the trigger places them).
    let parent = trunk[9].message_id;
    const branch: string[] = trunk.slice(0, 10).map((m) => m.message_id);
    for (let i = 1; i <= 25; i++) {
      const [row] = await t.sql.query<{ message_id: string }>(
        `INSERT INTO chat_messages (session_id, role, content, parent_id)
         VALUES ($1, $2, $3, $4) RETURNING message_id::text`,
        [s.session_id, i % 2 ? 'assistant' : 'user', `fork ${i}`, parent],
      );
      parent = row.message_id;
      branch.push(row.message_id);
    }
    await t.sql.query('UPDATE sessions SET current_leaf_id = $2 WHERE session_id = $1', [
      s.session_id,
      parent,
    ]);

    const latest = await page(s.session_id, 'latest=true&limit=20');
    expect(ids(latest)).toEqual(branch.slice(15));
    expect(latest).toMatchObject({ total: 35, has_more: true, prev_before: branch[15], next_after: null });
    const older = await page(s.session_id, `before=${latest.prev_before}&limit=20`);
    expect(ids(older)).toEqual(branch.slice(0, 15));
    expect(older.has_more).toBe(false);
    const after = await page(s.session_id, `after=${branch[5]}&limit=10`);
    expect(ids(after)).toEqual(branch.slice(6, 16));
    expect(after.has_more).toBe(true);
    const offset = await page(s.session_id, 'offset=8&limit=4');
    expect(ids(offset)).toEqual(branch.slice(8, 12));
    // The fork point shows both continuations.
    expect(offset.data[2].sibling_ids).toEqual([trunk[10].message_id, branch[10]]);

    // `before` reads the branch through any message of the session, even off the current branch.
    const offBranch = await page(s.session_id, `before=${trunk[29].message_id}&limit=3`);
    expect(ids(offBranch)).toEqual(trunk.slice(26, 29).map((m) => m.message_id));
    const notOnBranch = await t.app.inject({
      method: 'GET',
      url: `/api/v1/sessions/${s.session_id}/messages?after=${trunk[20].message_id}`,
      headers: ada.headers,
    });
    expect(notOnBranch.statusCode).toBe(400);
    expect(notOnBranch.json().details).toEqual([
      { field: 'after', message: "is not a message of this session's current branch" },
    ]);
    expect((await page(s.session_id, 'branch=all&limit=200')).total).toBe(55);
  });

  it('a keyed regenerate retried replays the same reply and writes nothing', async () => {
    const c = await conversation();
    const key = `regen-${randomUUID()}`;
    const send = () =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/sessions/${c.sessionId}/messages/${c.a2.message_id}/regenerate`,
        headers: { ...ada.headers, accept: 'application/json', 'idempotency-key': key },
      });
    const first = await send();
    const second = await send();
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json().assistant_message.message_id).toBe(first.json().assistant_message.message_id);
    expect((await page(c.sessionId, 'branch=all')).total).toBe(5);
  });
});
