/**
 * The SQL ExportsRepository sends, and its row types. Loads neither Nest nor Prisma (the benchmark's export
 * scenario reads these statements too).
 *
 * An export is read in pages, each in a short transaction of its own (a keyset position carried from one to
 * the next), so an account of any size never holds a connection, a transaction or more than a page in memory,
 * and the pages are read only as fast as the client takes the bytes (see ExportsService).
 */

/** Sessions read per transaction. */
export const EXPORT_SESSION_PAGE = 100;
/** Messages read per transaction. */
export const EXPORT_MESSAGE_PAGE = 500;

/** A row of EXPORT_SESSIONS and EXPORT_SESSION. */
export interface ExportSessionRow {
  session_id: string;
  project_id: string | null;
  title: string | null;
  created_at: string;
  updated_at: string;
  last_message_at: string;
  is_active: boolean;
  current_leaf_id: string | null;
  message_count: number;
  /** created_at as PostgreSQL prints it in UTC, to the microsecond: the position of the next page. */
  cursor_at: string;
}

const SESSION_COLUMNS = `s.session_id, s.project_id, s.title, s.created_at, s.updated_at,
              s.last_message_at, s.is_active, s.current_leaf_id, s.message_count,
              to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;

/** One session of the owner's. Parameters: session id, owner's user id. */
export const EXPORT_SESSION = `SELECT ${SESSION_COLUMNS}
         FROM sessions s
        WHERE s.session_id = $1::uuid AND s.user_id = $2::uuid`;

/**
 * A page of the owner's sessions, oldest first (created_at, then session_id: positions that never move while
 * an export runs, unlike last_message_at). Parameters: user id, project id (NULL: all), cursor created_at text
 * and session id (NULL for the first page), limit.
 */
export const EXPORT_SESSIONS = `SELECT ${SESSION_COLUMNS}
         FROM sessions s
        WHERE s.user_id = $1::uuid
          AND ($2::uuid IS NULL OR s.project_id = $2::uuid)
          AND ($3::timestamptz IS NULL OR (s.created_at, s.session_id) > ($3::timestamptz, $4::uuid))
        ORDER BY s.created_at, s.session_id
        LIMIT $5::int`;

/** A row of EXPORT_MESSAGES. */
export interface ExportMessageRow {
  message_id: string;
  parent_id: string | null;
  role: 'user' | 'assistant' | 'system';
  content: string;
  metadata: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  /** created_at in microseconds since the epoch (exact, as text), for the ChatGPT format's float seconds. */
  created_us: string;
  updated_us: string;
  /** The message's replies (its children in the tree), oldest first. */
  children: string[];
  /** The page position: created_at to the microsecond, and seq. */
  cursor_at: string;
  seq: string;
}

/**
 * A page of one session's messages (every branch), in (created_at, seq) order, with each message's children.
 * Parameters: session id, owner's user id, cursor created_at text and seq (NULL for the first page), limit.
 */
export const EXPORT_MESSAGES = `SELECT m.message_id, m.parent_id, m.role, m.content, m.metadata, m.created_at, m.updated_at,
              (extract(epoch FROM m.created_at) * 1000000)::bigint::text AS created_us,
              (extract(epoch FROM m.updated_at) * 1000000)::bigint::text AS updated_us,
              array_to_json(ARRAY(SELECT c.message_id FROM chat_messages c
                                   WHERE c.parent_id = m.message_id ORDER BY c.seq)) AS children,
              to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at,
              m.seq::text AS seq
         FROM chat_messages m
        WHERE m.session_id = $1::uuid AND m.user_id = $2::uuid
          AND ($3::timestamptz IS NULL OR (m.created_at, m.seq) > ($3::timestamptz, $4::bigint))
        ORDER BY m.created_at, m.seq
        LIMIT $5::int`;

/** The first messages of a session (no parent): the children of the ChatGPT format's root node. */
export const EXPORT_ROOTS = `SELECT m.message_id FROM chat_messages m
        WHERE m.session_id = $1::uuid AND m.user_id = $2::uuid AND m.parent_id IS NULL
        ORDER BY m.seq`;

/** A row of EXPORT_BRANCH. */
export interface ExportBranchRow {
  message_id: string;
  role: 'user' | 'assistant' | 'system';
  content: string;
  metadata: Record<string, unknown> | null;
  created_at: string;
}

/**
 * A page of the session's current branch (what the chat screen shows), from depth $3 on: the tree
 * migration's get_branch_messages, a depth range per segment. Parameters: session id, limit, first depth.
 */
export const EXPORT_BRANCH = `SELECT m.message_id, m.role, m.content, m.metadata, m.created_at
         FROM get_branch_messages($1::uuid, $2::int, $3::int) m
        ORDER BY m.depth`;
