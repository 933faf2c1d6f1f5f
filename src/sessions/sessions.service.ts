import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { SESSION_CURSOR } from '../common/keyset-cursor.js';
import { sqlStateOf } from '../common/sql-errors.js';
import { isUuid } from '../common/uuid.js';
import { DatabaseService, type Tx } from '../database/database.service.js';
import { ProjectsRepository } from '../projects/projects.repository.js';
import type { CreateSessionDto, ListSessionsQueryDto, UpdateSessionDto } from './sessions.dto.js';
import { SessionsRepository, type SessionChanges, type SessionRecord } from './sessions.repository.js';

export interface SessionList {
  sessions: SessionRecord[];
  nextCursor: string | null;
}

/** Which session to open: the caller's `sessionId`, or a new one in `projectId` (or in a new project). */
export interface OpenSession {
  sessionId?: string;
  /** With sessionId: must be that session's project. Without: the caller must be a member. */
  projectId?: string;
  /** The title of a new session (and of its new project). */
  title: string | null;
  /**
   * Without sessionId: the id a client gave the chat (the AI SDK's useChat), kept per user on the session:
   * the caller's session with that id, else a new one that keeps it.
   */
  clientChatId?: string;
  /** A new session is temporary (expires TEMP_SESSION_RETENTION_HOURS after its creation). */
  temporary?: boolean;
}

/**
 * Sessions rules. Another user's session is indistinguishable from a missing one (404). Ownership is checked
 * here (reads compare the owner, writes filter by it) and enforced again by row-level security underneath.
 */
@Injectable()
export class SessionsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly sessions: SessionsRepository,
    private readonly projects: ProjectsRepository,
  ) {}

  /**
   * Creates an empty session in the named project (the caller must be a member: otherwise 404, like a
   * project that does not exist), or in a new project of the caller's titled like the session.
   */
  create(auth: AuthContext, dto: CreateSessionDto): Promise<SessionRecord> {
    return this.db.asUser(auth, async (tx) => {
      const { session } = await this.open(tx, auth, {
        projectId: dto.project_id,
        title: dto.title ?? null,
        temporary: dto.temporary,
      });
      return session;
    });
  }

  /**
   * In the caller's transaction: the caller's session `sessionId` (404 when it is not theirs; 400 when
   * `projectId` is not its project), or a new session in `projectId` (the caller must be a member: otherwise
   * 404, like a project that does not exist), or, with neither, in a new project of the caller's titled like
   * the session. Every way into a session (this API, both chat endpoints) opens it here.
   */
  async open(
    tx: Tx,
    auth: AuthContext,
    request: OpenSession,
  ): Promise<{ session: SessionRecord; created: boolean }> {
    const { sessionId, projectId, title, temporary } = request;
    if (sessionId !== undefined) {
      const session = await this.find(tx, auth, sessionId);
      if (!session) throw AppError.notFound('Session');
      if (projectId !== undefined && session.projectId?.toLowerCase() !== projectId.toLowerCase()) {
        throw AppError.validation('project_id is not the project of session_id', [
          { field: 'project_id', message: 'is not the project of session_id' },
        ]);
      }
      return { session, created: false };
    }
    if (request.clientChatId !== undefined) {
      const known = await this.findChat(tx, auth, request.clientChatId);
      if (known)
        return this.open(tx, auth, { ...request, sessionId: known.sessionId, clientChatId: undefined });
    }
    let inProject = projectId;
    if (inProject === undefined) {
      inProject = (await this.projects.createForUser(tx, auth.userId, title)).projectId;
    } else if (!(await this.projects.isMember(tx, inProject, auth.userId))) {
      throw AppError.notFound('Project');
    }
    const session = await this.sessions.create(tx, {
      userId: auth.userId,
      projectId: inProject,
      title,
      clientChatId: request.clientChatId,
      temporary: temporary ?? false,
    });
    return { session, created: true };
  }

  /**
   * Switches the caller's session to the newest branch through `messageId` (a message of the session): its
   * current leaf becomes the newest message under it, or the message itself. 404 for a session that is not
   * the caller's, then for a message that is not one of the session's.
   */
  switchBranch(auth: AuthContext, sessionId: string, messageId: string): Promise<SessionRecord> {
    return this.db.asUser(auth, async (tx) => {
      if (!(await this.find(tx, auth, sessionId))) throw AppError.notFound('Session');
      const session = await this.sessions.switchBranch(tx, { userId: auth.userId, sessionId }, messageId);
      if (!session) throw AppError.notFound('Message');
      return session;
    });
  }

  /** In the caller's transaction: the session's current branch ends at `messageId`, one of its messages. */
  setLeaf(tx: Tx, auth: AuthContext, sessionId: string, messageId: string): Promise<void> {
    return this.sessions.setLeaf(tx, { userId: auth.userId, sessionId }, messageId);
  }

  /**
   * In the caller's transaction: the session a client's chat id names (useChat's `id`): the caller's session
   * with that id when it is a UUID of one, else the caller's session that keeps it as its client chat id.
   */
  async findChat(tx: Tx, auth: AuthContext, chatId: string): Promise<SessionRecord | null> {
    if (isUuid(chatId)) {
      const session = await this.find(tx, auth, chatId);
      if (session) return session;
    }
    return this.sessions.findByClientChatId(tx, auth.userId, chatId);
  }

  /** In the caller's transaction: the end of the caller's session's current branch, if any. */
  currentLeafId(tx: Tx, auth: AuthContext, sessionId: string): Promise<string | null> {
    return this.sessions.currentLeafId(tx, { userId: auth.userId, sessionId });
  }

  /** In the caller's transaction: their session, or null when it is missing or another user's. */
  async find(tx: Tx, auth: AuthContext, sessionId: string): Promise<SessionRecord | null> {
    const session = await this.sessions.findById(tx, sessionId);
    return session && session.userId === auth.userId ? session : null;
  }

  /**
   * A page of the caller's sessions, most recent activity first; `next_cursor` continues it. A read that
   * tolerates a replica (one that has replayed the caller's own writes).
   */
  async list(auth: AuthContext, query: ListSessionsQueryDto): Promise<SessionList> {
    const after = query.cursor === undefined ? undefined : SESSION_CURSOR.decode(query.cursor);
    const page = await this.db.readAsUser(auth, (tx) =>
      this.sessions.list(tx, {
        userId: auth.userId,
        limit: query.limit ?? 10,
        after,
        projectId: query.project_id,
        isActive: query.is_active,
      }),
    );
    return {
      sessions: page.sessions,
      nextCursor: page.next ? SESSION_CURSOR.encode(page.next) : null,
    };
  }

  get(auth: AuthContext, sessionId: string): Promise<SessionRecord> {
    return this.db.asUser(auth, async (tx) => {
      const session = await this.find(tx, auth, sessionId);
      if (!session) throw AppError.notFound('Session');
      return session;
    });
  }

  /** Changes the title and/or the active flag; with nothing to change it returns the session as it is. */
  update(auth: AuthContext, sessionId: string, dto: UpdateSessionDto): Promise<SessionRecord> {
    const changes: SessionChanges = {};
    if (dto.title !== undefined) changes.title = dto.title;
    if (dto.is_active !== undefined) changes.isActive = dto.is_active;
    if (dto.pinned !== undefined) changes.pinned = dto.pinned;
    if (Object.keys(changes).length === 0) return this.get(auth, sessionId);
    return this.db
      .asUser(auth, async (tx) => {
        const session = await this.sessions.update(tx, { userId: auth.userId, sessionId }, changes);
        if (!session) throw AppError.notFound('Session');
        return session;
      })
      .catch(async (error: unknown) => {
        // Unpinning a session already past its retention: the policy refuses the expired row it would leave
        // (42501). It expires now: deleted at once, and 404 like any expired session.
        if (changes.pinned === false && sqlStateOf(error) === '42501') {
          await this.db.asUser(auth, (tx) => this.sessions.delete(tx, { userId: auth.userId, sessionId }));
          throw AppError.notFound('Session');
        }
        throw error;
      });
  }

  rename(auth: AuthContext, sessionId: string, title: string): Promise<SessionRecord> {
    return this.update(auth, sessionId, { title });
  }

  /** Deletes the session and its messages; legacy turns imported into it survive, detached. */
  async remove(auth: AuthContext, sessionId: string): Promise<void> {
    const deleted = await this.db.asUser(auth, (tx) =>
      this.sessions.delete(tx, { userId: auth.userId, sessionId }),
    );
    if (!deleted) throw AppError.notFound('Session');
  }
}
