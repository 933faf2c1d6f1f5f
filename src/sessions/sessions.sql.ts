/**
 * The SQL SessionsRepository sends on its raw-SQL paths, and the pure functions around it (row mapping, the
 * list's page and cursor position). Loads neither Nest nor Prisma: the benchmarks' bare server
 * (bench/bare-server.ts) runs these same statements, and the harness's SQL trace checks that both servers
 * send them.
 */
import type { SessionCursor } from '../common/keyset-cursor.js';

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

/** A row of SESSION_BY_ID and UPDATE_SESSION. */
export interface SessionRow {
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
}

/** A row of LIST_SESSIONS. */
export interface SessionListRow extends SessionRow {
  /** last_message_at as PostgreSQL prints it in UTC, to the microsecond: the cursor's timestamp. */
  cursor_at: string;
}

/** The columns of a SessionRecord. */
const SESSION_COLUMNS =
  'session_id, user_id, project_id, title, created_at, updated_at, last_message_at, is_active, message_count, last_message_preview';

/** SessionsRepository.findById. Parameters: session id. */
export const SESSION_BY_ID = `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1::uuid`;

/**
 * SessionsRepository.list, through get_user_sessions. Parameters: user id, limit + 1, cursor timestamp text,
 * cursor session id, project id, is_active (NULL when absent).
 */
export const LIST_SESSIONS = `SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
              s.is_active, s.message_count, s.last_message_preview,
              to_char(s.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
         FROM get_user_sessions($1::uuid, $2::int, $3::timestamptz, $4::uuid, $5::uuid, $6::boolean) s`;

/**
 * SessionsRepository.update. Parameters: session id, user id, whether the title changes, the title, is_active
 * (NULL: unchanged). A rename is (id, user, true, title, NULL).
 */
export const UPDATE_SESSION = `UPDATE sessions
          SET title = CASE WHEN $3::boolean THEN $4::text ELSE title END,
              is_active = COALESCE($5::boolean, is_active)
        WHERE session_id = $1::uuid AND user_id = $2::uuid
        RETURNING ${SESSION_COLUMNS}`;

export function toSessionRecord(row: SessionRow): SessionRecord {
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

/**
 * The page among LIST_SESSIONS's `limit + 1` rows, and the position the next page starts after (the page's
 * last session), or null when no row lies beyond the page.
 */
export function sessionPageOfRows(
  rows: SessionListRow[],
  limit: number,
): { page: SessionListRow[]; next: SessionCursor | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    page,
    next: rows.length > limit && last ? { lastMessageAt: last.cursor_at, sessionId: last.session_id } : null,
  };
}
