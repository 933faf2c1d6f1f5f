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
  /** Listed first and never expires. */
  pinned: boolean;
  /** Made with {temporary: true}: expires TEMP_SESSION_RETENTION_HOURS after its creation. */
  temporary: boolean;
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
  pinned: boolean;
  temporary: boolean;
}

/** A row of LIST_SESSIONS. */
export interface SessionListRow extends SessionRow {
  /** last_message_at as PostgreSQL prints it in UTC, to the microsecond: the cursor's timestamp. */
  cursor_at: string;
}

/** The columns of a SessionRecord. */
const SESSION_COLUMNS =
  'session_id, user_id, project_id, title, created_at, updated_at, last_message_at, is_active, message_count, last_message_preview, pinned, temporary';

/** SessionsRepository.findById. Parameters: session id. */
export const SESSION_BY_ID = `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1::uuid`;

/**
 * SessionsRepository.list, through get_user_sessions (pinned sessions first). Parameters: user id, limit + 1,
 * cursor timestamp text, cursor session id, project id, is_active (NULL when absent), cursor pinned (false
 * when absent).
 */
export const LIST_SESSIONS = `SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
              s.is_active, s.message_count, s.last_message_preview, s.pinned, s.temporary,
              to_char(s.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
         FROM get_user_sessions($1::uuid, $2::int, $3::timestamptz, $4::uuid, $5::uuid, $6::boolean,
                                COALESCE($7::boolean, false)) s`;

/**
 * SessionsRepository.update. Parameters: session id, user id, whether the title changes, the title, is_active
 * (NULL: unchanged), pinned (NULL: unchanged). A rename is (id, user, true, title, NULL, NULL).
 */
export const UPDATE_SESSION = `UPDATE sessions
          SET title = CASE WHEN $3::boolean THEN $4::text ELSE title END,
              is_active = COALESCE($5::boolean, is_active),
              pinned = COALESCE($6::boolean, pinned)
        WHERE session_id = $1::uuid AND user_id = $2::uuid
        RETURNING ${SESSION_COLUMNS}`;

/**
 * SessionsRepository.switchBranch: the session's current branch becomes the newest one through a message (its
 * current leaf the newest message of that message's subtree, the message itself when nothing answers it).
 * A message on the same line and deeper is below it; any other is below it when the message lies on one of
 * its branch's segments (app.branch_of: one probe per fork). Candidates are read newest first, so the usual
 * case (switching between the newest versions of a message) stops after a few. No row when the message is
 * not one of the owner's session. Parameters: session id, user id, message id.
 */
export const SWITCH_BRANCH = `WITH target AS (
         SELECT m.session_id, m.line_id, m.depth
           FROM chat_messages m
          WHERE m.message_id = $3::uuid AND m.session_id = $1::uuid
       ), leaf AS (
         SELECT d.message_id
           FROM target t
           JOIN chat_messages d ON d.session_id = t.session_id AND d.depth >= t.depth
          WHERE d.line_id = t.line_id
             OR EXISTS (SELECT 1 FROM app.branch_of(d.message_id) b
                         WHERE b.line_id = t.line_id AND t.depth BETWEEN b.lo AND b.hi)
          ORDER BY d.created_at DESC, d.seq DESC
          LIMIT 1
       )
       UPDATE sessions s
          SET current_leaf_id = leaf.message_id
         FROM leaf
        WHERE s.session_id = $1::uuid AND s.user_id = $2::uuid
        RETURNING ${SESSION_COLUMNS.split(', ')
          .map((c) => `s.${c}`)
          .join(', ')}`;

/**
 * SessionsRepository.setLeaf: the branch ends exactly at a message of the session (an edit's new question,
 * a regenerated answer). Parameters: session id, user id, message id.
 */
export const SET_LEAF = `UPDATE sessions SET current_leaf_id = $3::uuid WHERE session_id = $1::uuid AND user_id = $2::uuid`;

/** SessionsRepository.currentLeafId. Parameters: session id, user id. */
export const CURRENT_LEAF = `SELECT current_leaf_id FROM sessions WHERE session_id = $1::uuid AND user_id = $2::uuid`;

/** SessionsRepository.findByClientChatId. Parameters: user id, client chat id. */
export const SESSION_BY_CLIENT_CHAT_ID = `SELECT ${SESSION_COLUMNS} FROM sessions WHERE user_id = $1::uuid AND client_chat_id = $2`;

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
    pinned: row.pinned,
    temporary: row.temporary,
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
    next:
      rows.length > limit && last
        ? { lastMessageAt: last.cursor_at, sessionId: last.session_id, pinned: last.pinned }
        : null,
  };
}
