import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import type { ModelContext } from '../chat/chat-context.js';
import { titleFromMessage } from '../chat/chat-title.js';
import { ContextBuilder } from '../chat/context-builder.js';
import { DeltaQueue } from '../chat/delta-queue.js';
import { InFlightReplies } from '../chat/in-flight-replies.js';
import { ReplyGenerator } from '../chat/reply-generator.js';
import { failureOf, INTERRUPTED, replyIsSaved } from '../chat/reply-outcome.js';
import { ReplyRecorder } from '../chat/reply-recorder.js';
import { AppError } from '../common/app-error.js';
import { DatabaseService, type Tx } from '../database/database.service.js';
import { MessagesRepository } from '../messages/messages.repository.js';
import { ProjectsRepository } from '../projects/projects.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { TurnsRepository } from './turns.repository.js';

export interface LegacyChatRequest {
  /** Already trimmed, 1..32,000 characters. */
  text: string;
  projectId?: string;
}

/**
 * How a legacy exchange ended: the reply saved in the turn (`complete` false when the provider failed or the
 * client left part-way), or a failure before any text, with nothing saved but the user's text.
 */
export type LegacyChatEnd = { kind: 'replied'; complete: boolean } | { kind: 'failed'; error: AppError };

export interface LegacyChatRun {
  projectId: string;
  turnId: string;
  /** The session the turn was recorded in, when a user called. */
  sessionId: string | null;
  deltas: AsyncIterable<string>;
  end: Promise<LegacyChatEnd>;
}

interface Begun {
  projectId: string;
  turnId: string;
  sessionId: string | null;
  userMessageId: string | null;
  context: ModelContext;
}

/**
 * The pre-sessions POST /chat. Anonymous calls run as the legacy role and reach only dossiers nobody is a
 * member of; a call with a user acts as that user (a member of the dossier, or the creator of a new one) and
 * also records the turn in their session history, linked by turn_id.
 */
@Injectable()
export class LegacyChatService {
  private readonly logger = new Logger('LegacyChat');

  constructor(
    private readonly db: DatabaseService,
    private readonly turns: TurnsRepository,
    private readonly sessions: SessionsService,
    private readonly messages: MessagesRepository,
    private readonly projects: ProjectsRepository,
    private readonly contexts: ContextBuilder,
    private readonly generator: ReplyGenerator,
    private readonly recorder: ReplyRecorder,
    private readonly inFlight: InFlightReplies,
  ) {}

  async chat(
    auth: AuthContext | undefined,
    request: LegacyChatRequest,
    signal: AbortSignal,
  ): Promise<LegacyChatRun> {
    // The turn (with the user's text) is committed before the model is called.
    const begun = auth
      ? await this.db.asUser(auth, (tx) => this.beginAsUser(tx, auth, request))
      : await this.db.asLegacy((tx) => this.beginAnonymous(tx, request));
    const deltas = new DeltaQueue();
    const end = this.inFlight.track(signal, (s) => this.complete(auth, begun, deltas, s));
    return { projectId: begun.projectId, turnId: begun.turnId, sessionId: begun.sessionId, deltas, end };
  }

  private async beginAnonymous(tx: Tx, request: LegacyChatRequest): Promise<Begun> {
    let projectId = request.projectId;
    if (projectId) {
      // The legacy role's policy hides every dossier that has members.
      if (!(await this.projects.isVisible(tx, projectId))) throw AppError.notFound('Project');
    } else {
      projectId = (await this.projects.createWithoutMembers(tx, titleFromMessage(request.text))).projectId;
    }
    const turn = await this.turns.insert(tx, { projectId, userText: request.text });
    const earlier = await this.turns.newestTurnMessages(
      tx,
      projectId,
      turn.turnId,
      this.contexts.budgetChars,
    );
    const context = this.contexts.forConversation([{ role: 'user', content: request.text }, ...earlier]);
    return { projectId, turnId: turn.turnId, sessionId: null, userMessageId: null, context };
  }

  private async beginAsUser(tx: Tx, auth: AuthContext, request: LegacyChatRequest): Promise<Begun> {
    // A user's calls into a dossier continue the session their latest turn there was recorded in. Such a
    // session exists only while they are a member: leaving a project removes their sessions in it.
    const continued = request.projectId
      ? await this.turns.latestSessionId(tx, auth.userId, request.projectId)
      : null;
    let projectId = request.projectId;
    let sessionId = continued;
    if (sessionId === null || projectId === undefined) {
      const { session } = await this.sessions.open(tx, auth, {
        projectId,
        title: titleFromMessage(request.text),
      });
      projectId ??= session.projectId as string;
      sessionId = session.sessionId;
    }
    const turn = await this.turns.insert(tx, {
      projectId,
      userText: request.text,
      userId: auth.userId,
      sessionId,
    });
    const userMessage = await this.messages.insert(tx, {
      sessionId,
      role: 'user',
      content: request.text,
      turnId: turn.turnId,
    });
    const context = await this.contexts.forSession(tx, sessionId, userMessage);
    return { projectId, turnId: turn.turnId, sessionId, userMessageId: userMessage.messageId, context };
  }

  private async complete(
    auth: AuthContext | undefined,
    begun: Begun,
    deltas: DeltaQueue,
    signal: AbortSignal,
  ): Promise<LegacyChatEnd> {
    const generation = await this.generator.generate(begun.context, signal, (delta) => deltas.push(delta));
    deltas.close();
    if (!replyIsSaved(generation)) return { kind: 'failed', error: failureOf(generation) };
    try {
      if (auth && begun.sessionId && begun.userMessageId) {
        const { sessionId, userMessageId } = begun;
        await this.db.asUser(auth, async (tx) => {
          await this.turns.setReply(tx, begun.turnId, generation.text);
          await this.messages.insert(tx, {
            messageId: randomUUID(),
            sessionId,
            role: 'assistant',
            content: generation.text,
            metadata: this.recorder.metadata(generation, userMessageId),
            turnId: begun.turnId,
            parentId: userMessageId,
          });
        });
      } else {
        await this.db.asLegacy((tx) => this.turns.setReply(tx, begun.turnId, generation.text));
      }
    } catch (error) {
      this.logger.error(`saving a legacy reply failed: ${(error as Error)?.stack ?? String(error)}`);
      return { kind: 'failed', error: new AppError('internal', 'The reply could not be saved') };
    }
    return {
      kind: 'replied',
      complete: !INTERRUPTED.has(generation.finishReason),
    };
  }
}
