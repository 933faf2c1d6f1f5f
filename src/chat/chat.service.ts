import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { appErrorFromDatabase } from '../common/sql-errors.js';
import { DatabaseService, type Tx } from '../database/database.service.js';
import { MessagesRepository, type MessageRecord } from '../messages/messages.repository.js';
import type { SessionRecord } from '../sessions/sessions.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { ModelContext } from './chat-context.js';
import { ChatIdempotency, regenerateHash, requestHash, type Claim } from './chat-idempotency.js';
import { titleFromMessage } from './chat-title.js';
import type { ChatModel } from '../llm/chat-model.js';
import { ChatInstance } from './chat-instance.js';
import type {
  ChatEnd,
  ChatReply,
  ChatRequest,
  ChatRun,
  ChatStart,
  PreparedRef,
  RegenerateRequest,
} from './chat.types.js';
import { CHAT_MODEL } from './chat.tokens.js';
import { GenerationsRepository } from './generations.repository.js';
import { LiveReply } from './live-reply.js';
import { ReplyChunkWriter } from './reply-chunk-writer.js';
import { ContextBuilder } from './context-builder.js';
import { DeltaQueue } from './delta-queue.js';
import { InFlightReplies } from './in-flight-replies.js';
import { ReplyGenerator } from './reply-generator.js';
import { failureOf, replyIsSaved } from './reply-outcome.js';
import { ReplyRecorder } from './reply-recorder.js';

interface Begun {
  session: SessionRecord;
  sessionCreated: boolean;
  /** The message the reply answers (read with its depth): new, or an earlier one being answered again. */
  userMessage: MessageRecord;
  /** A regeneration: the reply becomes the current leaf (it is written beside the branch's reply). */
  regenerate?: boolean;
}

interface Prepared extends Begun {
  context: ModelContext;
}

/**
 * POST /api/v1/chat: opens the session (through the sessions feature), commits the user's message, calls the
 * model, and saves the reply once at the end (complete, or partial when the client disconnects or the
 * provider fails).
 */
@Injectable()
export class ChatService {
  private readonly logger = new Logger('Chat');

  constructor(
    private readonly db: DatabaseService,
    private readonly sessions: SessionsService,
    private readonly messages: MessagesRepository,
    private readonly idempotency: ChatIdempotency,
    private readonly contexts: ContextBuilder,
    private readonly generator: ReplyGenerator,
    private readonly recorder: ReplyRecorder,
    private readonly inFlight: InFlightReplies,
    private readonly generations: GenerationsRepository,
    private readonly chunks: ReplyChunkWriter,
    private readonly instance: ChatInstance,
    @Inject(CHAT_MODEL) private readonly model: ChatModel,
  ) {}

  /** POST /api/v1/chat: a new user message (continuing the current branch, or an edit) and its reply. */
  chat(
    auth: AuthContext,
    request: ChatRequest,
    options: { idempotencyKey?: string; signal: AbortSignal },
  ): Promise<ChatRun> {
    return this.run(auth, requestHash(request), options, (tx) => this.begin(tx, auth, request));
  }

  /**
   * POST /api/v1/sessions/{id}/messages/{id}/regenerate: a new reply to the user message an assistant message
   * answered (its sibling), or to a user message itself; the session's current branch ends at it once saved.
   */
  regenerate(
    auth: AuthContext,
    request: RegenerateRequest,
    options: { idempotencyKey?: string; signal: AbortSignal },
  ): Promise<ChatRun> {
    return this.run(auth, regenerateHash(request), options, (tx) => this.answerAgain(tx, auth, request));
  }

  private async run(
    auth: AuthContext,
    hash: string,
    options: { idempotencyKey?: string; signal: AbortSignal },
    begin: (tx: Tx) => Promise<Begun>,
  ): Promise<ChatRun> {
    const key = options.idempotencyKey;
    const claim: Claim = key ? await this.idempotency.claim(auth, key, hash) : { kind: 'new' };
    if (claim.kind === 'replay') return replayOf(claim.reply);

    // The user's message is committed here, before the model is called, with the record of the reply being
    // generated (chat_generations): a crash from here on leaves that record for another instance to finish.
    const assistantMessageId = randomUUID();
    let prepared: Prepared;
    try {
      prepared = await this.db.asUser(auth, async (tx) => {
        const begun = claim.kind === 'resume' ? await this.reload(tx, auth, claim.prepared) : await begin(tx);
        if (key) await this.idempotency.markPrepared(tx, auth, key, refOf(begun));
        await this.generations.insert(tx, {
          messageId: assistantMessageId,
          sessionId: begun.session.sessionId,
          userId: auth.userId,
          userMessageId: begun.userMessage.messageId,
          instanceId: this.instance.id,
          idempotencyKey: key ?? null,
          provider: this.model.provider,
          model: this.model.modelId,
        });
        const context = await this.contexts.forSession(tx, begun.session.sessionId, begun.userMessage);
        return { ...begun, context };
      });
    } catch (error) {
      if (key) await this.idempotency.release(auth, key, claim).catch(() => undefined);
      throw error;
    }

    const start: ChatStart = {
      session: prepared.session,
      sessionCreated: prepared.sessionCreated,
      userMessage: prepared.userMessage,
      assistantMessageId,
      replayed: false,
    };
    // POST .../stop reaches the generation through this reply (ChatInstance), from this or another instance.
    const stopper = new AbortController();
    const live = new LiveReply(start, () => stopper.abort('stopped'));
    this.instance.add(live);
    this.chunks.open(assistantMessageId);
    const end = this.inFlight.track(AbortSignal.any([options.signal, stopper.signal]), (signal) =>
      this.complete(auth, prepared, live, signal, key),
    );
    void end.then((outcome) => {
      live.finish(outcome);
      this.instance.remove(live);
    });
    return { start, deltas: live.read(0), end };
  }

  /**
   * A new exchange: the session (given, or new in the given or a new project) and the user's message, under
   * the session's current leaf, or (an edit) under the named parent or as a new first message, which then
   * becomes the current leaf: the edited question's branch stays in the tree beside it.
   */
  private async begin(tx: Tx, auth: AuthContext, request: ChatRequest): Promise<Begun> {
    let sessionId = request.sessionId;
    if (sessionId === undefined && typeof request.parentMessageId === 'string') {
      // An edit may name the parent alone: its session is the one continued (row-level security shows the
      // caller's own messages only, so another user's message is missing).
      const parent = await this.messages.findInSession(tx, null, request.parentMessageId);
      if (!parent) throw AppError.notFound('Message');
      sessionId = parent.sessionId;
    }
    const { session, created } = await this.sessions.open(tx, auth, {
      sessionId,
      projectId: request.projectId,
      clientChatId: request.clientChatId,
      title: sessionId ? null : titleFromMessage(request.text),
      temporary: request.temporary,
    });
    let parentId: string | undefined;
    let root = false;
    if (!created && (request.editOf !== undefined || request.parentMessageId !== undefined)) {
      const edited = request.editOf
        ? await this.messages.findInSession(tx, session.sessionId, request.editOf)
        : null;
      if (edited) {
        parentId = edited.parentId ?? undefined;
        root = edited.parentId === null;
      } else if (request.parentMessageId === null) {
        root = true;
      } else if (request.parentMessageId !== undefined) {
        const parent = await this.messages.findInSession(tx, session.sessionId, request.parentMessageId);
        if (parent) parentId = parent.messageId;
        // useChat's list may hold ids the server never saw: then the message goes under the current leaf.
        else if (!request.transport) throw AppError.notFound('Message');
      }
    }
    const edit = parentId !== undefined || root;
    const userMessage = await this.messages.insert(tx, {
      sessionId: session.sessionId,
      role: 'user',
      content: request.text,
      parentId,
      root,
    });
    if (edit) await this.sessions.setLeaf(tx, auth, session.sessionId, userMessage.messageId);
    return { session, sessionCreated: created, userMessage };
  }

  /** A regeneration: the user message to answer again (an assistant message's parent, or the message itself). */
  private async answerAgain(tx: Tx, auth: AuthContext, request: RegenerateRequest): Promise<Begun> {
    const session = request.sessionId
      ? await this.sessions.find(tx, auth, request.sessionId)
      : await this.sessions.findChat(tx, auth, request.chatId ?? '');
    if (!session) throw AppError.notFound('Session');
    let target: MessageRecord | null = null;
    if (request.messageId !== undefined) {
      target = await this.messages.findInSession(tx, session.sessionId, request.messageId);
    } else {
      // useChat: the first candidate that is a saved message of the session, else its current leaf.
      for (const id of request.candidates ?? []) {
        target ??= await this.messages.findInSession(tx, session.sessionId, id);
      }
      const leaf = target ? null : await this.sessions.currentLeafId(tx, auth, session.sessionId);
      if (leaf) target = await this.messages.findInSession(tx, session.sessionId, leaf);
    }
    if (!target) throw AppError.notFound('Message');
    const question =
      target.role === 'assistant' && target.parentId !== null
        ? await this.messages.findInSession(tx, session.sessionId, target.parentId)
        : target;
    if (!question || question.role !== 'user') {
      const message = 'must be an assistant reply to a user message, or a user message';
      throw AppError.validation(`message_id ${message}`, [{ field: 'message_id', message }]);
    }
    return { session, sessionCreated: false, userMessage: question, regenerate: true };
  }

  /** A keyed retry of an exchange whose model call failed: the same session and user message. */
  private async reload(tx: Tx, auth: AuthContext, ref: PreparedRef): Promise<Begun> {
    const session = await this.sessions.find(tx, auth, ref.session_id);
    if (!session) throw AppError.notFound('Session');
    const userMessage = await this.messages.findInSession(tx, ref.session_id, ref.user_message_id);
    if (!userMessage) throw AppError.notFound('Message');
    return { session, sessionCreated: ref.session_created, userMessage, regenerate: ref.regenerate };
  }

  /**
   * Calls the model, writing its text to the live reply (the streams reading it) and to the chunk batches,
   * then saves the outcome in one transaction: the reply, the end of its generation record (and chunks), and
   * the key's record.
   */
  private async complete(
    auth: AuthContext,
    prepared: Prepared,
    live: LiveReply,
    signal: AbortSignal,
    key: string | undefined,
  ): Promise<ChatEnd> {
    const messageId = live.messageId;
    const generation = await this.generator.generate(prepared.context, signal, (delta) => {
      live.push(delta);
      this.chunks.append(messageId, auth.userId, delta);
    });
    live.close();
    await this.chunks.close(messageId);

    if (!replyIsSaved(generation)) {
      if (key) {
        await this.idempotency
          .markFailed(auth, key, refOf(prepared))
          .catch((error: unknown) =>
            this.logger.warn(`recording a failed keyed chat failed: ${(error as Error).message}`),
          );
      }
      await this.db
        .asUser(auth, (tx) => this.generations.delete(tx, messageId))
        .catch((error: unknown) =>
          this.logger.warn(`ending a failed generation's record failed: ${(error as Error).message}`),
        );
      return { kind: 'failed', error: failureOf(generation) };
    }
    try {
      const reply = await this.db.asUser(auth, async (tx) => {
        // Under its question: it extends the current branch when the question is the current leaf (the
        // trigger moves the leaf); a regeneration takes the leaf explicitly.
        const assistantMessage = await this.messages.insert(tx, {
          messageId,
          sessionId: prepared.session.sessionId,
          role: 'assistant',
          content: generation.text,
          metadata: this.recorder.metadata(generation, prepared.userMessage.messageId),
          parentId: prepared.userMessage.messageId,
        });
        await this.generations.delete(tx, messageId);
        if (prepared.regenerate) await this.sessions.setLeaf(tx, auth, prepared.session.sessionId, messageId);
        const session = (await this.sessions.find(tx, auth, prepared.session.sessionId)) ?? prepared.session;
        const saved: ChatReply = {
          session,
          sessionCreated: prepared.sessionCreated,
          userMessage: prepared.userMessage,
          assistantMessage,
        };
        if (key) await this.idempotency.markCompleted(tx, auth, key, saved);
        return saved;
      });
      return { kind: 'replied', reply };
    } catch (error) {
      const known = appErrorFromDatabase(error);
      if (!known) this.logger.error(`saving a reply failed: ${(error as Error)?.stack ?? String(error)}`);
      return { kind: 'failed', error: known ?? new AppError('internal', 'The reply could not be saved') };
    }
  }
}

function refOf(p: Begun): PreparedRef {
  return {
    session_id: p.session.sessionId,
    user_message_id: p.userMessage.messageId,
    session_created: p.sessionCreated,
    ...(p.regenerate ? { regenerate: true } : {}),
  };
}

function replayOf(reply: ChatReply): ChatRun {
  return {
    start: {
      session: reply.session,
      sessionCreated: reply.sessionCreated,
      userMessage: reply.userMessage,
      assistantMessageId: reply.assistantMessage.messageId,
      replayed: true,
    },
    deltas: DeltaQueue.of(reply.assistantMessage.content),
    end: Promise.resolve({ kind: 'replied', reply }),
  };
}
