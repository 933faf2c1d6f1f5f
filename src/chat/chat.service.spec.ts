import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import type { AppConfig } from '../config/app-config.js';
import { SessionsService } from '../sessions/sessions.service.js';
import {
  caller,
  FakeDatabase,
  FakeIdempotencyKeysRepository,
  FakeMessagesRepository,
  FakeMetrics,
  FakeProjectsRepository,
  FakeSessionsRepository,
  FakeStore,
  rejectionOf,
  ScriptedModel,
  type ModelScript,
} from '../../test/support/service-fakes.js';
import { ChatIdempotency } from './chat-idempotency.js';
import { ChatInstance } from './chat-instance.js';
import { ChatService } from './chat.service.js';
import type { GenerationsRepository } from './generations.repository.js';
import type { ReplyChunkWriter } from './reply-chunk-writer.js';
import type { ChatRequest, ChatRun } from './chat.types.js';
import { ContextBuilder } from './context-builder.js';
import { InFlightReplies } from './in-flight-replies.js';
import { ReplyGenerator } from './reply-generator.js';
import { ReplyRecorder } from './reply-recorder.js';

const config = {
  LLM_SYSTEM_PROMPT: 'You help people write.',
  LLM_CONTEXT_CHARS: 10_000,
  LLM_TIMEOUT_MS: 5_000,
} as AppConfig;

/** ChatService with its own parts (context, model call, metadata, in-flight tracking) over the shared fakes. */
function setup(...scripts: ModelScript[]) {
  const store = new FakeStore();
  const db = new FakeDatabase(store);
  const messages = new FakeMessagesRepository(store);
  const sessions = new SessionsService(
    db.service,
    new FakeSessionsRepository(store).repository,
    new FakeProjectsRepository(store).repository,
  );
  const model = new ScriptedModel(...scripts);
  const metrics = new FakeMetrics();
  const recorder = new ReplyRecorder(model, metrics.service);
  const inFlight = new InFlightReplies();
  const service = new ChatService(
    db.service,
    sessions,
    messages.repository,
    new ChatIdempotency(db.service, new FakeIdempotencyKeysRepository(store).repository, config),
    new ContextBuilder(messages.repository, config),
    new ReplyGenerator(model, config, recorder),
    recorder,
    inFlight,
    // The generation records and chunk batches need a database (test/resume.e2e-spec.ts covers them).
    { insert: async () => undefined, delete: async () => undefined } as unknown as GenerationsRepository,
    {
      open: () => undefined,
      append: () => undefined,
      close: async () => undefined,
    } as unknown as ReplyChunkWriter,
    new ChatInstance(),
    model,
  );
  const me = caller();
  const chat = (
    request: ChatRequest,
    options: { auth?: AuthContext; key?: string; signal?: AbortSignal } = {},
  ): Promise<ChatRun> =>
    service.chat(options.auth ?? me, request, {
      idempotencyKey: options.key,
      signal: options.signal ?? new AbortController().signal,
    });
  return { store, model, metrics, inFlight, service, me, chat };
}

async function textOf(run: ChatRun): Promise<string> {
  let text = '';
  for await (const delta of run.deltas) text += delta;
  return text;
}

async function replyOf(run: ChatRun) {
  const end = await run.end;
  if (end.kind !== 'replied') throw new Error(`expected a reply, got ${end.error.code}`);
  return end.reply;
}

beforeAll(() => Logger.overrideLogger(false));
afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

describe('ChatService', () => {
  describe('opening the session', () => {
    it('without ids, starts a session titled by the message in a new project of the caller', async () => {
      const { store, me, chat } = setup();
      const run = await chat({ text: 'I want to write a horror story' });
      expect(run.start.sessionCreated).toBe(true);
      const session = store.sessions.get(run.start.session.sessionId)!;
      expect(session.title).toBe('I want to write a horror story');
      expect(store.projects.get(session.projectId!)?.createdBy).toBe(me.userId);
      expect(store.isMember(session.projectId!, me.userId)).toBe(true);
      await run.end;
    });

    it("continues the caller's session: the model gets its earlier messages and system messages", async () => {
      const { store, model, me, chat } = setup();
      const session = store.session(me.userId, store.project(me.userId, me.userId));
      store.message({ sessionId: session.sessionId, role: 'system', content: 'Answer in French.' });
      store.message({ sessionId: session.sessionId, role: 'user', content: 'Earlier question' });
      store.message({ sessionId: session.sessionId, role: 'assistant', content: 'Earlier answer' });
      const run = await chat({ text: 'And now?', sessionId: session.sessionId });
      await run.end;
      expect(run.start.sessionCreated).toBe(false);
      expect(model.requests[0]).toEqual({
        system: 'You help people write.\n\nAnswer in French.',
        messages: [
          { role: 'user', content: 'Earlier question' },
          { role: 'assistant', content: 'Earlier answer' },
          { role: 'user', content: 'And now?' },
        ],
      });
      expect(store.projects.size).toBe(1);
    });

    it("another user's session is 404 and nothing is written into it, even when RLS lets it through", async () => {
      const { store, model, chat } = setup();
      const other = caller();
      const theirs = store.session(other.userId, store.project(other.userId, other.userId));
      store.rlsLeaks = true;
      const error = await rejectionOf(chat({ text: 'hi', sessionId: theirs.sessionId }));
      expect([error.code, error.message]).toEqual(['not_found', 'Session not found']);
      expect(store.messagesOf(theirs.sessionId)).toEqual([]);
      expect(model.requests).toEqual([]);
    });

    it('a project the caller is not a member of is 404 Project, and no session or project is made', async () => {
      const { store, chat } = setup();
      const other = caller();
      const theirs = store.project(other.userId, other.userId);
      const before = store.snapshot();
      const error = await rejectionOf(chat({ text: 'hi', projectId: theirs }));
      expect([error.code, error.message]).toEqual(['not_found', 'Project not found']);
      expect(store.snapshot()).toEqual(before);
    });
  });

  describe('the exchange', () => {
    it('saves the user message before the model runs, then the reply with its metadata', async () => {
      const { store, model, metrics, chat } = setup({ deltas: ['Once', ' upon'] });
      const run = await chat({ text: 'Tell me a story' });
      const sessionId = run.start.session.sessionId;
      // Committed before any text was read: the user message, and nothing else yet.
      expect(store.messagesOf(sessionId).map((m) => m.role)).toEqual(['user']);
      expect(await textOf(run)).toBe('Once upon');
      const reply = await replyOf(run);
      expect(reply.assistantMessage).toMatchObject({
        messageId: run.start.assistantMessageId,
        role: 'assistant',
        content: 'Once upon',
        metadata: {
          provider: 'builtin',
          model: 'scripted',
          finish_reason: 'stop',
          reply_to: run.start.userMessage.messageId,
          usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
        },
      });
      expect(reply.session.messageCount).toBe(2);
      expect(store.messagesOf(sessionId).map((m) => m.content)).toEqual(['Tell me a story', 'Once upon']);
      expect(model.requests).toHaveLength(1);
      expect(metrics.calls).toEqual([{ provider: 'builtin', model: 'scripted', outcome: 'ok' }]);
    });

    it('a provider failing before any text keeps only the user message and ends as 502', async () => {
      const { store, chat } = setup({ end: { fail: new Error('connection refused') } });
      const run = await chat({ text: 'hello' });
      const end = await run.end;
      expect(end.kind === 'failed' && end.error.code).toBe('provider_error');
      expect(store.messagesOf(run.start.session.sessionId).map((m) => m.role)).toEqual(['user']);
    });

    it('a provider failing part-way saves the partial reply with finish reason error', async () => {
      const { chat } = setup({ deltas: ['Half'], end: { fail: new Error('reset') } });
      const reply = await replyOf(await chat({ text: 'hello' }));
      expect(reply.assistantMessage.content).toBe('Half');
      expect(reply.assistantMessage.metadata).toMatchObject({
        finish_reason: 'error',
        error: { code: 'provider_error' },
      });
    });

    it('a client that goes away aborts the model call, and the partial reply is saved as aborted', async () => {
      const { chat } = setup({ deltas: ['Part'], end: 'hang' });
      const client = new AbortController();
      const run = await chat({ text: 'hello' }, { signal: client.signal });
      const first = await run.deltas[Symbol.asyncIterator]().next();
      expect(first.value).toBe('Part');
      client.abort();
      const reply = await replyOf(run);
      expect(reply.assistantMessage).toMatchObject({
        content: 'Part',
        metadata: { finish_reason: 'aborted' },
      });
    });

    it('shutdown stops the replies in flight and waits until their partial text is saved', async () => {
      const { store, inFlight, chat } = setup({ deltas: ['Part'], end: 'hang' });
      const run = await chat({ text: 'hello' });
      await run.deltas[Symbol.asyncIterator]().next();
      await inFlight.beforeApplicationShutdown();
      // Saved by the time shutdown returns.
      const saved = store.messagesOf(run.start.session.sessionId).find((m) => m.role === 'assistant');
      expect(saved).toMatchObject({ content: 'Part', metadata: { finish_reason: 'shutdown' } });
    });
  });

  describe('Idempotency-Key', () => {
    it('a retry with the same key and body replays the reply and writes nothing', async () => {
      const { store, model, chat } = setup();
      const key = randomUUID();
      const first = await replyOf(await chat({ text: 'hello' }, { key }));
      const before = store.snapshot();
      const retry = await chat({ text: '  hello'.trim() }, { key });
      expect(retry.start.replayed).toBe(true);
      expect(await textOf(retry)).toBe(first.assistantMessage.content);
      expect(await replyOf(retry)).toEqual(JSON.parse(JSON.stringify(first)));
      expect(store.snapshot()).toEqual(before);
      expect(model.requests).toHaveLength(1);
    });

    it('the same key with another body is 422, and the first request is unaffected', async () => {
      const { store, chat } = setup();
      const key = randomUUID();
      const first = await chat({ text: 'hello' }, { key });
      await first.end;
      const error = await rejectionOf(chat({ text: 'something else' }, { key }));
      expect(error.code).toBe('unprocessable');
      expect(store.messages).toHaveLength(2);
    });

    it('a retry after the model failed before any text continues with the same user message', async () => {
      const { store, model, chat } = setup({ end: { fail: new Error('down') } }, { deltas: ['Back'] });
      const key = randomUUID();
      const failed = await chat({ text: 'hello' }, { key });
      expect((await failed.end).kind).toBe('failed');
      const retry = await chat({ text: 'hello' }, { key });
      const reply = await replyOf(retry);
      expect(retry.start.userMessage.messageId).toBe(failed.start.userMessage.messageId);
      expect(reply.sessionCreated).toBe(true);
      expect(store.messagesOf(reply.session.sessionId).map((m) => m.content)).toEqual(['hello', 'Back']);
      expect(model.requests).toHaveLength(2);
    });

    it('a keyed request refused before it committed anything (404) releases its key', async () => {
      const { store, chat } = setup();
      const key = randomUUID();
      const error = await rejectionOf(chat({ text: 'hello', sessionId: randomUUID() }, { key }));
      expect(error.code).toBe('not_found');
      expect(store.keys.size).toBe(0);
    });
  });
});
