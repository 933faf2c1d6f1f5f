import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { DatabaseService } from '../database/database.service.js';
import { MessagesRepository } from '../messages/messages.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { ChatInstance } from './chat-instance.js';
import type { ChatEnd, ChatRun, ChatStart } from './chat.types.js';
import { GenerationsRepository, type GenerationRecord } from './generations.repository.js';
import { ReplyRelay } from './reply-relay.js';

/**
 * The replies running in a caller's session, wherever they run: GET /api/v1/chat/{session_id}/stream reads
 * one again (from this instance's memory, or from the chunks another instance writes), POST
 * /api/v1/sessions/{session_id}/stop stops them.
 */
@Injectable()
export class RunningRepliesService {
  constructor(
    private readonly db: DatabaseService,
    private readonly sessions: SessionsService,
    private readonly messages: MessagesRepository,
    private readonly generations: GenerationsRepository,
    private readonly instance: ChatInstance,
    private readonly relay: ReplyRelay,
  ) {}

  /**
   * The newest reply running in the caller's session as a ChatRun whose text starts at `resumeAt` (0: all of
   * it); null when none runs. 404 for a session that is not the caller's.
   */
  async resume(
    auth: AuthContext,
    sessionId: string,
    options: { resumeAt?: number; signal: AbortSignal },
  ): Promise<ChatRun | null> {
    const found = await this.db.asUser(auth, async (tx) => {
      const session = await this.sessions.find(tx, auth, sessionId);
      if (!session) throw AppError.notFound('Session');
      const [generation] = await this.generations.running(tx, auth.userId, sessionId);
      if (!generation) return null;
      const local = this.instance.reply(generation.messageId);
      if (local) return { local, start: local.start };
      const userMessage = await this.messages.findInSession(tx, sessionId, generation.userMessageId);
      if (!userMessage) return null;
      const start: ChatStart = {
        session,
        sessionCreated: false,
        userMessage,
        assistantMessageId: generation.messageId,
        replayed: false,
      };
      return { start, generation };
    });
    if (!found) return null;
    const from = options.resumeAt ?? 0;
    if ('local' in found && found.local) {
      const { local } = found;
      return { start: local.start, deltas: local.read(from), end: local.end };
    }
    let finish!: (end: ChatEnd) => void;
    const end = new Promise<ChatEnd>((resolve) => (finish = resolve));
    const deltas = this.readElsewhere(auth, found.start, found.generation, from, options.signal, finish);
    return { start: found.start, deltas, end };
  }

  /**
   * The text of a reply another instance generates: its chunks as they are written (woken by that
   * instance's batch notifications, or polling), then, once it is saved, the rest from the saved message,
   * whose text the chunks are a beginning of; the stream thus ends with exactly the saved text.
   */
  private async *readElsewhere(
    auth: AuthContext,
    start: ChatStart,
    generation: GenerationRecord,
    from: number,
    signal: AbortSignal,
    finish: (end: ChatEnd) => void,
  ): AsyncGenerator<string> {
    const messageId = generation.messageId;
    let seq = -1;
    let offset = 0;
    try {
      for (;;) {
        const read = await this.db.asUser(auth, (tx) => this.generations.chunksAfter(tx, messageId, seq));
        for (const chunk of read.chunks) {
          seq = chunk.seq;
          const at = offset;
          offset += chunk.delta.length;
          if (offset > from) yield chunk.delta.slice(Math.max(0, from - at));
        }
        if (!read.running) break;
        if (signal.aborted) {
          finish({ kind: 'failed', error: new AppError('unavailable', 'The service is shutting down') });
          return;
        }
        // A batch of the generating instance wakes the reader; a stop or an end is seen on the next read.
        await this.relay.nextBatch(generation.instanceId, signal);
      }
      const saved = await this.db.asUser(auth, (tx) =>
        this.messages.findInSession(tx, start.session.sessionId, messageId),
      );
      if (!saved) {
        finish({ kind: 'failed', error: new AppError('provider_error', 'The reply failed before any text') });
        return;
      }
      const sent = Math.max(offset, from);
      if (saved.content.length > sent) yield saved.content.slice(sent);
      finish({
        kind: 'replied',
        reply: {
          session: start.session,
          sessionCreated: false,
          userMessage: start.userMessage,
          assistantMessage: saved,
        },
      });
    } catch (error) {
      finish({
        kind: 'failed',
        error: error instanceof AppError ? error : new AppError('unavailable', 'The reply could not be read'),
      });
    }
  }

  /**
   * Stops the caller's replies running in the session (`messageId`: that one only) wherever they run: here
   * at once, elsewhere through a notification (and stop_requested_at for instances that poll). Returns the
   * replies asked to stop (none: nothing was running). 404 for a session that is not the caller's, and for a
   * `messageId` that is neither running nor a message of the session.
   */
  async stop(auth: AuthContext, sessionId: string, messageId?: string): Promise<string[]> {
    const running = await this.db.asUser(auth, async (tx) => {
      const session = await this.sessions.find(tx, auth, sessionId);
      if (!session) throw AppError.notFound('Session');
      const found = await this.generations.running(tx, auth.userId, sessionId, messageId);
      // A named reply that is neither running nor saved in this session is unknown (404), like another's.
      if (messageId && found.length === 0 && !(await this.messages.findInSession(tx, sessionId, messageId)))
        throw AppError.notFound('Message');
      for (const generation of found) {
        if (!this.instance.reply(generation.messageId))
          await this.generations.requestStop(tx, generation.messageId);
      }
      return found;
    });
    for (const generation of running) {
      const local = this.instance.reply(generation.messageId);
      if (local) local.stop();
      else await this.relay.announceStop(generation.messageId);
    }
    return running.map((g) => g.messageId);
  }
}
