import { Injectable } from '@nestjs/common';
import type { SessionCursor } from '../common/keyset-cursor.js';
import { prismaOf, sqlOf, type Tx } from '../database/database.service.js';
import { apiTimestamp } from '../database/timestamps.js';
import {
  CURRENT_LEAF,
  LIST_SESSIONS,
  SESSION_BY_CLIENT_CHAT_ID,
  SESSION_BY_ID,
  SET_LEAF,
  SWITCH_BRANCH,
  sessionPageOfRows,
  toSessionRecord,
  UPDATE_SESSION,
  type SessionListRow,
  type SessionRecord,
  type SessionRow,
} from './sessions.sql.js';

export type { SessionRecord } from './sessions.sql.js';

/** What Prisma returns for SESSION_SELECT. */
type SessionRecordWithDates = Omit<SessionRecord, 'createdAt' | 'updatedAt' | 'lastMessageAt'> & {
  createdAt: Date;
  updatedAt: Date;
  lastMessageAt: Date;
};

export const SESSION_SELECT = {
  sessionId: true,
  userId: true,
  projectId: true,
  title: true,
  createdAt: true,
  updatedAt: true,
  lastMessageAt: true,
  isActive: true,
  messageCount: true,
  lastMessagePreview: true,
  pinned: true,
  temporary: true,
} as const;

export interface SessionListFilter {
  /** Whose sessions (the caller: the service passes auth.userId; RLS hides everyone else's anyway). */
  userId: string;
  limit: number;
  /** Continue after this position (exclusive). */
  after?: SessionCursor;
  projectId?: string;
  isActive?: boolean;
}

export interface SessionPage {
  sessions: SessionRecord[];
  /** Where the next page starts, or null when this page is the last. */
  next: SessionCursor | null;
}

export interface SessionChanges {
  title?: string | null;
  isActive?: boolean;
  pinned?: boolean;
}

/** A session owned by `userId`: the owner filter every write carries, on top of RLS. */
export interface OwnedSession {
  userId: string;
  sessionId: string;
}

/**
 * SQL for the sessions table. Every method runs inside the caller's RLS transaction. The hot paths (a
 * session by id, the list, changes) are raw SQL through sqlOf(tx), their statements in sessions.sql.ts; see
 * docs/performance.md.
 */
@Injectable()
export class SessionsRepository {
  create(
    tx: Tx,
    fields: {
      userId: string;
      projectId: string;
      title: string | null;
      clientChatId?: string;
      temporary?: boolean;
    },
  ): Promise<SessionRecord> {
    return prismaOf(tx).session.create({ data: fields, select: SESSION_SELECT }).then(fromPrisma);
  }

  /** The session if the caller owns it (RLS hides everyone else's). Raw SQL: on every message page and chat. */
  async findById(tx: Tx, sessionId: string): Promise<SessionRecord | null> {
    const [row] = await sqlOf(tx).query<SessionRow>(SESSION_BY_ID, [sessionId]);
    return row ? toSessionRecord(row) : null;
  }

  /**
   * A page of the user's sessions, most recent last_message_at first (ties by session_id), through
   * get_user_sessions. One row more than the page is fetched to learn whether another page follows. The
   * cursor's timestamp travels as PostgreSQL's text at microsecond precision, never through a JS Date.
   */
  async list(tx: Tx, filter: SessionListFilter): Promise<SessionPage> {
    const rows = await sqlOf(tx).query<SessionListRow>(LIST_SESSIONS, [
      filter.userId,
      filter.limit + 1,
      filter.after?.lastMessageAt ?? null,
      filter.after?.sessionId ?? null,
      filter.projectId ?? null,
      filter.isActive ?? null,
      filter.after?.pinned ?? false,
    ]);
    const { page, next } = sessionPageOfRows(rows, filter.limit);
    return { sessions: page.map(toSessionRecord), next };
  }

  /** Changes the owner's session; null when there is no such session of theirs. */
  async update(tx: Tx, owned: OwnedSession, changes: SessionChanges): Promise<SessionRecord | null> {
    const [row] = await sqlOf(tx).query<SessionRow>(UPDATE_SESSION, [
      owned.sessionId,
      owned.userId,
      changes.title !== undefined,
      changes.title ?? null,
      changes.isActive ?? null,
      changes.pinned ?? null,
    ]);
    return row ? toSessionRecord(row) : null;
  }

  /** The user's session a client names by its own chat id (sessions.client_chat_id), if any. */
  async findByClientChatId(tx: Tx, userId: string, clientChatId: string): Promise<SessionRecord | null> {
    const [row] = await sqlOf(tx).query<SessionRow>(SESSION_BY_CLIENT_CHAT_ID, [userId, clientChatId]);
    return row ? toSessionRecord(row) : null;
  }

  /**
   * Switches the owner's session to the newest branch through `messageId` (SWITCH_BRANCH); null when the
   * message is not one of that session's.
   */
  async switchBranch(tx: Tx, owned: OwnedSession, messageId: string): Promise<SessionRecord | null> {
    const [row] = await sqlOf(tx).query<SessionRow>(SWITCH_BRANCH, [
      owned.sessionId,
      owned.userId,
      messageId,
    ]);
    return row ? toSessionRecord(row) : null;
  }

  /** The end of the owner's session's current branch (null for an empty or unknown session). */
  async currentLeafId(tx: Tx, owned: OwnedSession): Promise<string | null> {
    const [row] = await sqlOf(tx).query<{ current_leaf_id: string | null }>(CURRENT_LEAF, [
      owned.sessionId,
      owned.userId,
    ]);
    return row?.current_leaf_id ?? null;
  }

  /** The owner's session's current branch ends at `messageId` (a message of the session). */
  async setLeaf(tx: Tx, owned: OwnedSession, messageId: string): Promise<void> {
    await sqlOf(tx).query(SET_LEAF, [owned.sessionId, owned.userId, messageId]);
  }

  /** Deletes the owner's session (its messages cascade; legacy turns keep living with session_id NULL). */
  async delete(tx: Tx, owned: OwnedSession): Promise<boolean> {
    const { count } = await prismaOf(tx).session.deleteMany({
      where: { sessionId: owned.sessionId, userId: owned.userId },
    });
    return count === 1;
  }

  /**
   * A session written by an import: its own creation time and archive state (an empty one's last_message_at
   * is its created_at, like a new session's; its messages' trigger moves it). Returns the session id.
   */
  async createImported(
    tx: Tx,
    fields: {
      userId: string;
      projectId: string;
      title: string | null;
      createdAt: string | null;
      isActive: boolean;
    },
  ): Promise<string> {
    const [row] = await sqlOf(tx).query<{ session_id: string }>(
      `INSERT INTO sessions (user_id, project_id, title, created_at, last_message_at, is_active)
       VALUES ($1::uuid, $2::uuid, $3, COALESCE($4::timestamptz, current_timestamp),
               COALESCE($4::timestamptz, current_timestamp), $5::boolean)
       RETURNING session_id`,
      [fields.userId, fields.projectId, fields.title, fields.createdAt, fields.isActive],
    );
    return row.session_id;
  }

  /** Puts the owner's session on the branch ending at `messageId` (its counters follow the leaf). */
  async setCurrentLeaf(tx: Tx, owned: OwnedSession, messageId: string): Promise<void> {
    await sqlOf(tx).query(
      `UPDATE sessions SET current_leaf_id = $3::uuid WHERE session_id = $1::uuid AND user_id = $2::uuid`,
      [owned.sessionId, owned.userId, messageId],
    );
  }
}

/** A session read through Prisma (Dates) as a SessionRecord (the API's timestamp text). */
function fromPrisma(session: SessionRecordWithDates): SessionRecord {
  return {
    ...session,
    createdAt: apiTimestamp(session.createdAt),
    updatedAt: apiTimestamp(session.updatedAt),
    lastMessageAt: apiTimestamp(session.lastMessageAt),
  };
}
