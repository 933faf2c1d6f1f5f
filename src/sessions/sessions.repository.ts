import { Injectable } from '@nestjs/common';
import type { SessionCursor } from '../common/keyset-cursor.js';
import { sqlOf, type Tx } from '../database/database.service.js';
import { apiTimestamp } from '../database/timestamps.js';

export interface SessionRecord {
  sessionId: string;
  userId: string;
  projectId: string | null;
  title: string | null;
  /** Timestamps: ISO 8601 in UTC to the millisecond (database/timestamps.ts). */
  createdAt: string;
  updatedAt: string;
  lastMessageAt: string;
  isActive: boolean;
  messageCount: number;
  lastMessagePreview: string | null;
}

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
}

/** A session owned by `userId`: the owner filter every write carries, on top of RLS. */
export interface OwnedSession {
  userId: string;
  sessionId: string;
}

/** The columns of a SessionRecord, for the raw-SQL hot paths (findById, list, update). */
const SESSION_COLUMNS =
  'session_id, user_id, project_id, title, created_at, updated_at, last_message_at, is_active, message_count, last_message_preview';

type SessionRow = Omit<SessionListRow, 'cursor_at'>;

interface SessionListRow {
  session_id: string;
  user_id: string;
  project_id: string | null;
  title: string | null;
  created_at: string;
  updated_at: string;
  last_message_at: string;
  is_active: boolean;
  message_count: number;
  last_message_preview: string | null;
  /** last_message_at as PostgreSQL prints it in UTC, to the microsecond: the cursor's timestamp. */
  cursor_at: string;
}

/**
 * SQL for the sessions table. Every method runs inside the caller's RLS transaction. The hot paths (a
 * session by id, the list, changes) are raw SQL through sqlOf(tx); see docs/performance.md.
 */
@Injectable()
export class SessionsRepository {
  create(
    tx: Tx,
    fields: { userId: string; projectId: string; title: string | null },
  ): Promise<SessionRecord> {
    return tx.session.create({ data: fields, select: SESSION_SELECT }).then(fromPrisma);
  }

  /** The session if the caller owns it (RLS hides everyone else's). Raw SQL: on every message page and chat. */
  async findById(tx: Tx, sessionId: string): Promise<SessionRecord | null> {
    const [row] = await sqlOf(tx).query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1::uuid`,
      [sessionId],
    );
    return row ? toRecord(row) : null;
  }

  /**
   * A page of the user's sessions, most recent last_message_at first (ties by session_id), through
   * get_user_sessions. One row more than the page is fetched to learn whether another page follows. The
   * cursor's timestamp travels as PostgreSQL's text at microsecond precision, never through a JS Date.
   */
  async list(tx: Tx, filter: SessionListFilter): Promise<SessionPage> {
    const rows = await sqlOf(tx).query<SessionListRow>(
      `SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
              s.is_active, s.message_count, s.last_message_preview,
              to_char(s.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
         FROM get_user_sessions($1::uuid, $2::int, $3::timestamptz, $4::uuid, $5::uuid, $6::boolean) s`,
      [
        filter.userId,
        filter.limit + 1,
        filter.after?.lastMessageAt ?? null,
        filter.after?.sessionId ?? null,
        filter.projectId ?? null,
        filter.isActive ?? null,
      ],
    );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      sessions: page.map(toRecord),
      next:
        rows.length > filter.limit && last
          ? { lastMessageAt: last.cursor_at, sessionId: last.session_id }
          : null,
    };
  }

  /** Changes the owner's session; null when there is no such session of theirs. */
  async update(tx: Tx, owned: OwnedSession, changes: SessionChanges): Promise<SessionRecord | null> {
    const [row] = await sqlOf(tx).query<SessionRow>(
      `UPDATE sessions
          SET title = CASE WHEN $3::boolean THEN $4::text ELSE title END,
              is_active = COALESCE($5::boolean, is_active)
        WHERE session_id = $1::uuid AND user_id = $2::uuid
        RETURNING ${SESSION_COLUMNS}`,
      [
        owned.sessionId,
        owned.userId,
        changes.title !== undefined,
        changes.title ?? null,
        changes.isActive ?? null,
      ],
    );
    return row ? toRecord(row) : null;
  }

  /** Deletes the owner's session (its messages cascade; legacy turns keep living with session_id NULL). */
  async delete(tx: Tx, owned: OwnedSession): Promise<boolean> {
    const { count } = await tx.session.deleteMany({
      where: { sessionId: owned.sessionId, userId: owned.userId },
    });
    return count === 1;
  }
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    projectId: row.project_id,
    title: row.title,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastMessageAt: row.last_message_at,
    isActive: row.is_active,
    messageCount: row.message_count,
    lastMessagePreview: row.last_message_preview,
  };
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
