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
  /** The message this one answers or follows; null for a first message. */
  parentId: string | null;
  /** Its position on its branch (0 for a first message). Not in the API: the context read pages by it. */
  depth?: number;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  /** ISO 8601 in UTC to the millisecond (database/timestamps.ts). */
  createdAt: string;
  updatedAt: string;
}

/** A message of a page, with its siblings (the messages with the same parent, itself included, oldest first). */
export interface PagedMessageRecord extends MessageRecord {
  siblingIds: string[];
}

/** A row of INSERT_MESSAGE. */
export interface MessageRow {
  message_id: string;
  session_id: string;
  turn_id: string | null;
  parent_id: string | null;
  depth?: number;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

/** A row of MESSAGE_PAGE and MESSAGE_PAGE_ALL's messages. */
export interface PagedMessageRow extends MessageRow {
  sibling_ids: string[];
}

/** A row of BRANCH_CONTEXT: a message for the model's context and its depth on the branch. */
export interface ContextRow {
  role: MessageRole;
  content: string;
  depth: number;
}

/**
 * MessagesRepository.insert. Parameters: id, session id, role, content, metadata JSON text (or NULL), turn id
 * (or NULL), parent message id (or NULL), whether it is a new first message. The parent is the one named, else
 * (not a new first message) the session's current leaf: a new message continues the branch the user is on,
 * and the chat_messages_place trigger sets its depth and line (an unknown parent is SQLSTATE 23503). created_at
 * is the transaction's start (the column's default).
 */
export const INSERT_MESSAGE = `INSERT INTO chat_messages (message_id, session_id, role, content, metadata, turn_id, parent_id, depth)
       VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6::uuid,
               CASE WHEN $8::boolean THEN NULL
                    ELSE COALESCE($7::uuid, (SELECT s.current_leaf_id FROM sessions s WHERE s.session_id = $2::uuid)) END,
               CASE WHEN $8::boolean THEN 0 END)
       RETURNING message_id, session_id, turn_id, parent_id, depth, role, content, metadata, created_at, updated_at`;

/** A row of MESSAGE_PAGE: the count of what is paged, and one message of the page (all NULL for none). */
export type MessagePageRow = { total: number } & (PagedMessageRow | { [K in keyof PagedMessageRow]: null });

/** The columns of a paged message `m`, its siblings included (ids, oldest first; the roots for a root). */
const PAGED_COLUMNS = `m.message_id, m.session_id, m.turn_id, m.parent_id, m.role, m.content, m.metadata, m.created_at,
              m.updated_at,
              CASE WHEN m.message_id IS NULL THEN NULL
                   WHEN m.parent_id IS NULL
                   THEN array_to_json(ARRAY(SELECT r.message_id FROM chat_messages r
                                             WHERE r.session_id = m.session_id AND r.parent_id IS NULL ORDER BY r.seq))
                   ELSE array_to_json(ARRAY(SELECT c.message_id FROM chat_messages c
                                             WHERE c.parent_id = m.parent_id ORDER BY c.seq)) END AS sibling_ids`;

/**
 * MessagesRepository.page: a page of one of the caller's sessions' current branch (get_branch_messages: the
 * messages from the first down to sessions.current_leaf_id), and the branch's length (message_count), in one
 * statement (one round trip). The session row is the outer side of a lateral join, so the function runs only
 * when the session exists, is visible (row-level security) and is the owner's: no row at all means "no such
 * session of this user" (404), one row of NULL message columns an empty page. On a branch a message's depth
 * is its position, so the page is ordered by it. Parameters: session id, limit + 1, offset, before, after (or
 * NULL), latest, owner's user id.
 */
export const MESSAGE_PAGE = `SELECT s.message_count AS total,
              ${PAGED_COLUMNS}
         FROM sessions s
         LEFT JOIN LATERAL get_branch_messages(s.session_id, $2::int, $3::int, $4::uuid, $5::uuid, $6::boolean) m ON true
        WHERE s.session_id = $1::uuid AND s.user_id = $7::uuid
        ORDER BY m.depth`;

/**
 * MESSAGE_PAGE over the whole tree (branch=all): every message of the session in (created_at, seq) order
 * through get_session_messages, and their number (counted: the session keeps no counter of every branch).
 * Same parameters.
 */
export const MESSAGE_PAGE_ALL = `SELECT (SELECT count(*)::int FROM chat_messages c WHERE c.session_id = s.session_id) AS total,
              ${PAGED_COLUMNS}
         FROM sessions s
         LEFT JOIN LATERAL get_session_messages(s.session_id, $2::int, $3::int, $4::uuid, $5::uuid, $6::boolean) m ON true
        WHERE s.session_id = $1::uuid AND s.user_id = $7::uuid
        ORDER BY m.created_at, m.seq`;

/** How many positions of a branch one BRANCH_CONTEXT read covers. */
export const CONTEXT_PAGE = 200;

/**
 * MessagesRepository.newestMessages: the user/assistant messages of the branch ending at the anchor (the
 * message being answered) between two depths, newest first: an index range scan on (line_id, depth) per
 * segment of the branch (app.branch_of), whatever the session's size or its other branches. Parameters:
 * anchor message, lowest depth, highest depth.
 */
export const BRANCH_CONTEXT = `SELECT m.role, m.content, m.depth
           FROM app.branch_of($1::uuid) b
           JOIN chat_messages m
             ON m.line_id = b.line_id AND m.depth BETWEEN GREATEST(b.lo, $2::int) AND LEAST(b.hi, $3::int)
          WHERE b.lo <= $3::int AND b.hi >= $2::int AND m.role IN ('user', 'assistant')
          ORDER BY m.depth DESC`;

/**
 * MessagesRepository.systemMessages: the session's system-role messages on the branch ending at the anchor,
 * oldest first (the partial index on system messages finds the session's few, the branch filters them).
 * Parameters: session, anchor message.
 */
export const SYSTEM_MESSAGES = `SELECT m.content
         FROM chat_messages m
         JOIN app.branch_of($2::uuid) b ON m.line_id = b.line_id AND m.depth BETWEEN b.lo AND b.hi
        WHERE m.session_id = $1::uuid AND m.role = 'system'
        ORDER BY m.depth`;

export function toMessageRecord(row: MessageRow): MessageRecord {
  return {
    messageId: row.message_id,
    sessionId: row.session_id,
    turnId: row.turn_id,
    parentId: row.parent_id,
    ...(row.depth === undefined ? {} : { depth: row.depth }),
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

export function toPagedMessageRecord(row: PagedMessageRow): PagedMessageRecord {
  return { ...toMessageRecord(row), siblingIds: row.sibling_ids };
}

/**
 * MESSAGE_PAGE's rows as a page: null when the session is not the caller's (no row), else its message count,
 * the page (pageOfRows) and whether more lie beyond it.
 */
export function sessionMessagePage(
  rows: MessagePageRow[],
  limit: number,
  backwards: boolean,
): { total: number; page: PagedMessageRow[]; hasMore: boolean } | null {
  if (rows.length === 0) return null;
  const messages = rows.filter((row): row is { total: number } & PagedMessageRow => row.message_id !== null);
  return { total: rows[0].total, ...pageOfRows(messages, limit, backwards) };
}

/**
 * The depth window of the first BRANCH_CONTEXT read for an anchor at `depth`, or of the read after a window
 * starting at `depth + 1`: up to CONTEXT_PAGE positions ending at `depth`; null below the first message.
 */
export function contextWindow(depth: number): { lo: number; hi: number } | null {
  return depth < 0 ? null : { lo: Math.max(0, depth - CONTEXT_PAGE + 1), hi: depth };
}

/** The window after `window`, unless `minChars` are read or the branch's first message was reached. */
export function nextContextWindow(
  window: { lo: number; hi: number },
  charsSoFar: number,
  minChars: number,
): { lo: number; hi: number } | null {
  return charsSoFar >= minChars ? null : contextWindow(window.lo - 1);
}
