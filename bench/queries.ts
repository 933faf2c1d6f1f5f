/**
 * The SQL Parley sends per request, copied statement for statement from its repositories (and, for the one
 * Prisma model call measured, users/me, from the text Prisma generates, captured with trace-sql.ts). The bare server and the pgbench
 * scripts both run these strings, and the harness checks at the start of every run that Parley still sends
 * exactly them (see sqlcheck.ts), so the ceiling cannot silently drift from the product.
 */

/** DatabaseService.asUser(): the role, the caller and the check that the caller exists, in one round trip. */
export const CONTEXT = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true), app.assert_user_exists($3::uuid)`;
export const APP_ROLE = 'parley_app';

/** UsersRepository.findById (Prisma findUnique). Parameters: user id, 1, 0. */
export const USER_BY_ID = `SELECT "public"."users"."user_id", "public"."users"."email", "public"."users"."display_name", "public"."users"."avatar_url", "public"."users"."created_at", "public"."users"."updated_at" FROM "public"."users" WHERE ("public"."users"."user_id" = $1 AND 1=1) LIMIT $2 OFFSET $3`;

/** The columns of a session (SessionsRepository's SESSION_COLUMNS). */
const SESSION_COLUMNS =
  'session_id, user_id, project_id, title, created_at, updated_at, last_message_at, is_active, message_count, last_message_preview';

/** SessionsRepository.findById (raw SQL). Parameters: session id. */
export const SESSION_BY_ID = `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1::uuid`;

/**
 * SessionsRepository.list. Parameters: user id, limit + 1, cursor timestamp text, cursor session id,
 * project id, is_active (NULL when absent).
 */
export const LIST_SESSIONS = `SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
              s.is_active, s.message_count, s.last_message_preview,
              to_char(s.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
         FROM get_user_sessions($1::uuid, $2::int, $3::timestamptz, $4::uuid, $5::uuid, $6::boolean) s`;

/** MessagesRepository.page. Parameters: session id, limit + 1, offset, before, after (or NULL), latest. */
export const MESSAGE_PAGE = `SELECT m.message_id, m.session_id, m.turn_id, m.role, m.content, m.metadata, m.created_at, m.updated_at
         FROM get_session_messages($1::uuid, $2::int, $3::int, $4::uuid, $5::uuid, $6::boolean) m
        ORDER BY m.created_at, m.seq`;

/**
 * SessionsRepository.update. Parameters: session id, user id, whether the title changes, the title, is_active
 * (NULL: unchanged). A rename is (id, user, true, title, NULL).
 */
export const UPDATE_SESSION = `UPDATE sessions
          SET title = CASE WHEN $3::boolean THEN $4::text ELSE title END,
              is_active = COALESCE($5::boolean, is_active)
        WHERE session_id = $1::uuid AND user_id = $2::uuid
        RETURNING ${SESSION_COLUMNS}`;

/** MessagesRepository.insert. Parameters: id, session id, role, content, metadata JSON text (or NULL), turn id (or NULL). */
export const INSERT_MESSAGE = `INSERT INTO chat_messages (message_id, session_id, role, content, metadata, turn_id)
       VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6::uuid)
       RETURNING message_id, session_id, turn_id, role, content, metadata, created_at, updated_at`;

/** ChatRepository.newestMessages page size (CONTEXT_PAGE). */
export const CONTEXT_PAGE = 200;

/**
 * ChatRepository.newestMessages: a page of the session's user/assistant messages up to the anchor, newest
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

/** ChatRepository.systemMessages. Parameters: session, anchor message. */
export const SYSTEM_MESSAGES = `SELECT m.content
         FROM chat_messages m
        WHERE m.session_id = $1::uuid
          AND m.role = 'system'
          AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a WHERE a.message_id = $2::uuid)
        ORDER BY m.created_at, m.seq`;
