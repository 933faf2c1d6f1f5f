import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { readChatStream } from './support/chat-stream.js';
import { FAKE_MODEL, startFakeLlmServer, type FakeLlmServer } from './support/fake-llm-server.js';
import { startServiceProcess, stopServiceProcess, type ServiceProcess } from './support/service-process.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from './support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `read` returns something (not undefined): waiting for an event, not for the clock. */
async function eventually<T>(read: () => Promise<T | undefined> | T | undefined, ms = 30000): Promise<T> {
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

const textOf = (received: string) =>
  sseEvents(received)
    .filter((e) => e.data.startsWith('{'))
    .map((e) => JSON.parse(e.data) as { type: string; delta?: string })
    .filter((p) => p.type === 'text-delta')
    .map((p) => p.delta)
    .join('');

const skipReason =
  DATABASE_KIND === 'pglite' ? 'the embedded database has one process: nothing crosses instances' : undefined;
const describeInstances = skipReason ? describe.skip : describe;

/**
 * Three Parley processes on one PostgreSQL database (issue 14 §2-§4): a client dropped at 30% of a reply
 * reconnects to another instance and ends with the saved text byte for byte; a third instance stops a reply
 * another generates while a second streams it; a kill -9 mid-reply leaves the partial, finished as
 * `interrupted` by a live instance, and a keyed retry is served at once.
 */
describeInstances(
  `resumable replies across three instances (${skipReason ? `[skipped: ${skipReason}]` : 'postgres'})`,
  () => {
    let fake: FakeLlmServer;
    let database: TestDatabase;
    let sql: pg.Client;
    const instances: ServiceProcess[] = [];
    let userHeaders: Record<string, string>;

    beforeAll(async () => {
      fake = await startFakeLlmServer();
      database = await createTestDatabase();
      const env = {
        ...database.env,
        LLM_PROVIDER: 'openai-compatible',
        LLM_BASE_URL: fake.baseUrl,
        LLM_MODEL: FAKE_MODEL,
        LLM_TIMEOUT_MS: '60000',
        DB_POOL_MAX: '4',
        RATE_LIMIT_ENABLED: 'false',
        LOG_LEVEL: 'warn',
      };
      // One at a time: the first applies the migrations.
      for (let i = 0; i < 3; i++) instances.push(await startServiceProcess({ ...env, LOG_LEVEL: 'info' }));
      sql = new pg.Client({ connectionString: database.env.DATABASE_URL });
      await sql.connect();
      const created = await fetch(`${instances[0].base}/api/v1/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ display_name: 'Ada' }),
      });
      userHeaders = { 'x-user-id': ((await created.json()) as { user_id: string }).user_id };
    }, 180_000);

    afterAll(async () => {
      await Promise.all(instances.map((instance) => stopServiceProcess(instance)));
      await sql?.end();
      await database?.drop();
      await fake?.close();
    }, 60_000);

    const [a, b, c] = [0, 1, 2];
    const unique = (label: string) => `${label} #${randomUUID().slice(0, 8)}`;

    const assistantsOf = async (sessionId: string) =>
      (
        await sql.query<{ message_id: string; content: string; metadata: Record<string, unknown> }>(
          `SELECT message_id::text, content, metadata FROM chat_messages
            WHERE session_id = $1 AND role = 'assistant' ORDER BY created_at, seq`,
          [sessionId],
        )
      ).rows;

    /** A streamed chat on `instance`, read until `until` holds for the text so far. */
    async function startChat(
      instance: number,
      text: string,
      until: (text: string) => boolean,
      headers: Record<string, string> = {},
    ) {
      const abort = new AbortController();
      const response = await fetch(`${instances[instance].base}/api/v1/chat`, {
        method: 'POST',
        headers: { ...userHeaders, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ text }),
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let received = '';
      const history: { at: number; length: number }[] = [];
      while (!until(textOf(received))) {
        const { value, done } = await reader.read();
        if (done) break;
        received += decoder.decode(value, { stream: true });
        history.push({ at: Date.now(), length: textOf(received).length });
      }
      const start = JSON.parse(sseEvents(received)[0].data) as { messageId: string };
      return {
        sessionId: response.headers.get('x-session-id')!,
        messageId: start.messageId,
        received,
        history,
        drop: () => abort.abort(),
        rest: async () => {
          let more = '';
          for (;;) {
            const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
            if (done) return more;
            more += decoder.decode(value, { stream: true });
          }
        },
      };
    }

    const words = (text: string) => text.split(' ').filter(Boolean).length;

    it('a client dropped at 30% of a reply reconnects to another instance and ends with the saved text byte for byte, and one assistant row', async () => {
      const text = unique('[words:100][every:15] cross-instance resume');
      const chat = await startChat(a, text, (sofar) => words(sofar) >= 30);
      chat.drop();

      const again = await fetch(`${instances[b].base}/api/v1/chat/${chat.sessionId}/stream`, {
        headers: userHeaders,
      });
      expect(again.status).toBe(200);
      const { chunks, message, text: resumed, errors } = await readChatStream(again.body!);
      expect(errors).toEqual([]);
      expect(chunks[0]).toEqual({ type: 'start', messageId: chat.messageId });
      expect(message?.id).toBe(chat.messageId);
      expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });

      const rows = await assistantsOf(chat.sessionId);
      expect(rows).toHaveLength(1);
      expect(rows[0].message_id).toBe(chat.messageId);
      expect(Buffer.from(resumed).equals(Buffer.from(rows[0].content))).toBe(true);
      expect(rows[0].content).toMatch(/^w1 w2 .* w100$/);
      expect(
        (await sql.query(`SELECT 1 FROM chat_generation_chunks WHERE message_id = $1`, [chat.messageId]))
          .rows,
      ).toEqual([]);
    });

    it('a third instance stops a reply that one instance generates and another streams: the provider request is aborted within 500 ms, both streams end with finish', async () => {
      const text = unique('[words:400][every:15] stop from elsewhere');
      const chat = await startChat(a, text, (sofar) => words(sofar) >= 10);
      const watcher = await fetch(`${instances[b].base}/api/v1/chat/${chat.sessionId}/stream`, {
        headers: userHeaders,
      });
      expect(watcher.status).toBe(200);
      const watched = readChatStream(watcher.body!);
      const [request] = fake.find(text);

      const asked = performance.now();
      const stop = await fetch(`${instances[c].base}/api/v1/sessions/${chat.sessionId}/stop`, {
        method: 'POST',
        headers: userHeaders,
      });
      expect(stop.status).toBe(202);
      expect(await stop.json()).toEqual({ session_id: chat.sessionId, message_ids: [chat.messageId] });
      await expect(request.closed).resolves.toEqual({ byClient: true });
      const stopToAbortMs = performance.now() - asked;
      expect(stopToAbortMs).toBeLessThan(500);

      const tail = sseEvents(await chat.rest());
      expect(JSON.parse(tail.at(-2)!.data)).toMatchObject({
        type: 'finish',
        messageMetadata: { finish_reason: 'stopped' },
      });
      const seen = await watched;
      expect(seen.errors).toEqual([]);
      expect(seen.chunks.at(-1)).toMatchObject({
        type: 'finish',
        messageMetadata: { finish_reason: 'stopped' },
      });
      const [row] = await assistantsOf(chat.sessionId);
      expect(row.metadata).toMatchObject({ finish_reason: 'stopped' });
      expect(seen.text).toBe(row.content);
      expect(row.content).not.toContain('w400');
    });

    it('kill -9 during a reply: the partial (all but at most the last second) is saved as "interrupted" by a live instance, and a keyed retry is served at once with the same user message', async () => {
      const key = `kill-${randomUUID()}`;
      const text = unique('[words:400][every:15] killed mid-reply');
      const chat = await startChat(a, text, (sofar) => words(sofar) >= 40, { 'idempotency-key': key });
      // Its batches are being written.
      await eventually(async () =>
        (await sql.query(`SELECT 1 FROM chat_generation_chunks WHERE message_id = $1`, [chat.messageId])).rows
          .length > 0
          ? true
          : undefined,
      );
      const killedAt = Date.now();
      instances[a].child.kill('SIGKILL');
      await instances[a].exited;
      const receivedBefore = [...chat.history].reverse().find((h) => h.at <= killedAt - 1000)?.length ?? 0;

      const row = await eventually(async () => {
        const [saved] = await assistantsOf(chat.sessionId);
        return saved;
      });
      expect(row.message_id).toBe(chat.messageId);
      expect(row.metadata).toMatchObject({ finish_reason: 'interrupted', provider: 'openai-compatible' });
      expect(row.content).toMatch(/^w1 w2 w3/);
      expect(
        textOf(chat.received).startsWith(row.content) || row.content.startsWith(textOf(chat.received)),
      ).toBe(true);
      expect(row.content.length).toBeGreaterThanOrEqual(receivedBefore);
      expect(
        (await sql.query(`SELECT 1 FROM chat_generations WHERE message_id = $1`, [chat.messageId])).rows,
      ).toEqual([]);

      const retry = await fetch(`${instances[b].base}/api/v1/chat?stream=false`, {
        method: 'POST',
        headers: { ...userHeaders, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ text }),
      });
      expect(retry.status).toBe(200);
      const body = (await retry.json()) as {
        user_message: { message_id: string };
        assistant_message: { content: string };
      };
      const users = (
        await sql.query<{ message_id: string }>(
          `SELECT message_id::text FROM chat_messages WHERE session_id = $1 AND role = 'user'`,
          [chat.sessionId],
        )
      ).rows;
      expect(users).toHaveLength(1);
      expect(body.user_message.message_id).toBe(users[0].message_id);
      expect(body.assistant_message.content).toMatch(/w400$/);
    });
  },
);
