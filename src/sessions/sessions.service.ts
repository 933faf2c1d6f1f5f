import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { SESSION_CURSOR } from '../common/keyset-cursor.js';
import { DatabaseService } from '../database/database.service.js';
import { ProjectsRepository } from '../projects/projects.repository.js';
import type { CreateSessionDto, ListSessionsQueryDto, UpdateSessionDto } from './sessions.dto.js';
import { SessionsRepository, type SessionChanges, type SessionRecord } from './sessions.repository.js';

export interface SessionList {
  sessions: SessionRecord[];
  nextCursor: string | null;
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
    const title = dto.title ?? null;
    return this.db.asUser(auth, async (tx) => {
      let projectId = dto.project_id;
      if (projectId === undefined) {
        projectId = (await this.projects.createForUser(tx, auth.userId, title)).projectId;
      } else if (!(await this.projects.isMember(tx, projectId, auth.userId))) {
        throw AppError.notFound('Project');
      }
      return this.sessions.create(tx, { userId: auth.userId, projectId, title });
    });
  }

  /** A page of the caller's sessions, most recent activity first; `next_cursor` continues it. */
  async list(auth: AuthContext, query: ListSessionsQueryDto): Promise<SessionList> {
    const after = query.cursor === undefined ? undefined : SESSION_CURSOR.decode(query.cursor);
    const page = await this.db.asUser(auth, (tx) =>
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
      const session = await this.sessions.findById(tx, sessionId);
      if (!session || session.userId !== auth.userId) throw AppError.notFound('Session');
      return session;
    });
  }

  /** Changes the title and/or the active flag; with nothing to change it returns the session as it is. */
  update(auth: AuthContext, sessionId: string, dto: UpdateSessionDto): Promise<SessionRecord> {
    const changes: SessionChanges = {};
    if (dto.title !== undefined) changes.title = dto.title;
    if (dto.is_active !== undefined) changes.isActive = dto.is_active;
    if (Object.keys(changes).length === 0) return this.get(auth, sessionId);
    return this.db.asUser(auth, async (tx) => {
      const session = await this.sessions.update(tx, { userId: auth.userId, sessionId }, changes);
      if (!session) throw AppError.notFound('Session');
      return session;
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
