/**
 * The SQL MessagesRepository sends, and the pure functions around it (row mapping, paging). Loads neither
 * Nest nor Prisma: the benchmarks' bare server (bench/bare-server.ts) runs these same statements, and the
 * harness's SQL trace checks that both servers send them.
 */

export type MessageRole = 'user' | 'assistant' | 'system';
export const MESSAGE_ROLES: readonly MessageRole[] = ['user', 'assistant', 'system'];

export interface MessageRecord {
  messageId: string;
  sessionId: string;
  turnId: string | null;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  /** ISO 8601 in UTC to the millisecond (database/timestamps.ts). */
  createdAt: string;
  updatedAt: string;
}

/** A row of INSERT_MESSAGE and MESSAGE_PAGE. */
export interface MessageRow {
  message_id: string;
  session_id: string;
  turn_id: string | null;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

/** A row of NEWEST_MESSAGES: a message for the model's context and its position (PostgreSQL's text). */
export interface ContextRow {
  role: MessageRole;
  content: string;
  at: string;
  seq: string;
}

/**
 * MessagesRepository.insert. Parameters: id, session id, role, content, metadata JSON text (or NULL), turn id
 * (or NULL). created_at is the transaction's start (the column's default).
 */
export const INSERT_MESSAGE = `INSERT INTO chat_messages (message_id, session_id, role, content, metadata, turn_id)
       VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6::uuid)
       RETURNING message_id, session_id, turn_id, role, content, metadata, created_at, updated_at`;

/** A row of MESSAGE_PAGE: the session's message count, and one message of the page (all NULL for none). */
export type MessagePageRow = { total: number } & (MessageRow | { [K in keyof MessageRow]: null });

/**
 * MessagesRepository.page: a page of one of the caller's sessions, and the session's message count, in one
 * statement (one round trip). The session row is the outer side of a lateral join, so get_session_messages
 * runs only when the session exists, is visible (row-level security) and is the owner's: no row at all means
 * "no such session of this user" (404), one row of NULL message columns an empty page. The session table is
 * only read here (its count, maintained by the messages' trigger), never written.
 * Parameters: session id, limit + 1, offset, before, after (or NULL), latest, owner's user id.
 */
export const MESSAGE_PAGE = `SELECT s.message_count AS total,
              m.message_id, m.session_id, m.turn_id, m.role, m.content, m.metadata, m.created_at, m.updated_at
         FROM sessions s
         LEFT JOIN LATERAL get_session_messages(s.session_id, $2::int, $3::int, $4::uuid, $5::uuid, $6::boolean) m ON true
        WHERE s.session_id = $1::uuid AND s.user_id = $7::uuid
        ORDER BY m.created_at, m.seq`;

/** How many rows one NEWEST_MESSAGES read fetches. */
export const CONTEXT_PAGE = 200;

/**
 * MessagesRepository.newestMessages: a page of the session's user/assistant messages up to the anchor, newest
 * first. Parameters: session, anchor message, cursor timestamp and seq of the previous page (NULL for the
 * first), page size.
 */
export const NEWEST_MESSAGES = `SELECT m.role, m.content, to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
                m.seq::text AS seq
           FROM chat_messages m
          WHERE m.session_id = $1::uuid
            AND m.role IN ('user', 'assistant')
            AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a WHERE a.message_id = $2::uuid)
            AND ($3::timestamptz IS NULL OR (m.created_at, m.seq) < ($3::timestamptz, $4::bigint))
          ORDER BY m.created_at DESC, m.seq DESC
          LIMIT $5`;

/** MessagesRepository.systemMessages. Parameters: session, anchor message. */
export const SYSTEM_MESSAGES = `SELECT m.content
         FROM chat_messages m
        WHERE m.session_id = $1::uuid
          AND m.role = 'system'
          AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a WHERE a.message_id = $2::uuid)
        ORDER BY m.created_at, m.seq`;

export function toMessageRecord(row: MessageRow): MessageRecord {
  return {
    messageId: row.message_id,
    sessionId: row.session_id,
    turnId: row.turn_id,
    role: row.role,
    content: row.content,
    metadata: row.metadata,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The page among MESSAGE_PAGE's `limit + 1` rows, and whether more lie beyond it. Backwards pages (`before`,
 * `latest`) are the newest limit + 1 rows, oldest first: the surplus row is the first one.
 */
export function pageOfRows<R>(rows: R[], limit: number, backwards: boolean): { page: R[]; hasMore: boolean } {
  const hasMore = rows.length > limit;
  const page = hasMore ? (backwards ? rows.slice(1) : rows.slice(0, limit)) : rows;
  return { page, hasMore };
}

/**
 * MESSAGE_PAGE's rows as a page: null when the session is not the caller's (no row), else its message count,
 * the page (pageOfRows) and whether more lie beyond it.
 */
export function sessionMessagePage(
  rows: MessagePageRow[],
  limit: number,
  backwards: boolean,
): { total: number; page: MessageRow[]; hasMore: boolean } | null {
  if (rows.length === 0) return null;
  const messages = rows.filter((row): row is { total: number } & MessageRow => row.message_id !== null);
  return { total: rows[0].total, ...pageOfRows(messages, limit, backwards) };
}

/** Where the next NEWEST_MESSAGES read continues: after the last row of a full page, unless `minChars` are read. */
export function nextContextCursor(
  rows: ContextRow[],
  charsSoFar: number,
  minChars: number,
): { at: string; seq: string } | null {
  if (rows.length < CONTEXT_PAGE || charsSoFar >= minChars) return null;
  const last = rows[rows.length - 1];
  return { at: last.at, seq: last.seq };
}
