/**
 * The SQL Parley sends per request, copied statement for statement from its repositories (and, for Prisma
 * model calls, from the text Prisma generates, captured with trace-sql.ts). The bare server and the pgbench
 * scripts both run these strings, and the harness checks at the start of every run that Parley still sends
 * exactly them (see sqlcheck.ts), so the ceiling cannot silently drift from the product.
 */

/** DatabaseService.asUser(): the role, the caller and the check that the caller exists, in one round trip. */
export const CONTEXT = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true), app.assert_user_exists($3::uuid)`;
export const APP_ROLE = 'parley_app';

/** UsersRepository.findById (Prisma findUnique). Parameters: user id, 1, 0. */
export const USER_BY_ID = `SELECT "public"."users"."user_id", "public"."users"."email", "public"."users"."display_name", "public"."users"."avatar_url", "public"."users"."created_at", "public"."users"."updated_at" FROM "public"."users" WHERE ("public"."users"."user_id" = $1 AND 1=1) LIMIT $2 OFFSET $3`;

/** SessionsRepository.findById (Prisma findUnique). Parameters: session id, 1, 0. */
export const SESSION_BY_ID = `SELECT "public"."sessions"."session_id", "public"."sessions"."user_id", "public"."sessions"."project_id", "public"."sessions"."title", "public"."sessions"."created_at", "public"."sessions"."updated_at", "public"."sessions"."last_message_at", "public"."sessions"."is_active", "public"."sessions"."message_count", "public"."sessions"."last_message_preview" FROM "public"."sessions" WHERE ("public"."sessions"."session_id" = $1 AND 1=1) LIMIT $2 OFFSET $3`;

/**
 * SessionsRepository.list ($queryRaw). Parameters: user id, limit + 1, cursor timestamp text, cursor session
 * id, project id, is_active (NULL when absent).
 */
export const LIST_SESSIONS = `
      SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
             s.is_active, s.message_count, s.last_message_preview,
             to_char(s.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
        FROM get_user_sessions(
               $1::uuid,
               $2::int,
               $3::timestamptz,
               $4::uuid,
               $5::uuid,
               $6::boolean) s`;

/**
 * MessagesRepository.page ($queryRaw). Parameters: session id, limit + 1, offset, before, after (message ids
 * or NULL), latest.
 */
export const MESSAGE_PAGE = `
      SELECT m.message_id, m.session_id, m.turn_id, m.role, m.content, m.metadata, m.created_at, m.updated_at
        FROM get_session_messages(
               $1::uuid,
               $2::int,
               $3::int,
               $4::uuid,
               $5::uuid,
               $6::boolean) m
       ORDER BY m.created_at, m.seq`;

/** SessionsRepository.update (Prisma updateManyAndReturn) for a title. Parameters: title, session id, user id. */
export const RENAME_SESSION = `UPDATE "public"."sessions" SET "title" = $1 WHERE ("public"."sessions"."session_id" = $2 AND "public"."sessions"."user_id" = $3) RETURNING "public"."sessions"."session_id", "public"."sessions"."user_id", "public"."sessions"."project_id", "public"."sessions"."title", "public"."sessions"."created_at", "public"."sessions"."updated_at", "public"."sessions"."last_message_at", "public"."sessions"."is_active", "public"."sessions"."message_count", "public"."sessions"."last_message_preview"`;

/** MessagesRepository.insert of a user message (Prisma create). Parameters: id, session, NULL turn, role, content, created_at, updated_at. */
export const INSERT_USER_MESSAGE = `INSERT INTO "public"."chat_messages" ("message_id","session_id","turn_id","role","content","created_at","updated_at") VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING "public"."chat_messages"."message_id", "public"."chat_messages"."session_id", "public"."chat_messages"."turn_id", "public"."chat_messages"."role", "public"."chat_messages"."content", "public"."chat_messages"."metadata", "public"."chat_messages"."created_at", "public"."chat_messages"."updated_at"`;

/** MessagesRepository.insert of an assistant reply, with metadata. Parameters: as above with metadata 6th. */
export const INSERT_ASSISTANT_MESSAGE = `INSERT INTO "public"."chat_messages" ("message_id","session_id","turn_id","role","content","metadata","created_at","updated_at") VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING "public"."chat_messages"."message_id", "public"."chat_messages"."session_id", "public"."chat_messages"."turn_id", "public"."chat_messages"."role", "public"."chat_messages"."content", "public"."chat_messages"."metadata", "public"."chat_messages"."created_at", "public"."chat_messages"."updated_at"`;

/** ChatRepository.newestMessages page size (CONTEXT_PAGE). */
export const CONTEXT_PAGE = 200;

/**
 * ChatRepository.newestMessages ($queryRaw): a page of the session's user/assistant messages up to the
 * anchor, newest first; later pages continue below a cursor. Parameters: session, anchor message, then
 * (cursor timestamp, cursor seq,) page size.
 */
export function newestMessagesSql(withCursor: boolean): string {
  const after = withCursor ? 'AND (m.created_at, m.seq) < ($3::timestamptz, $4::bigint)' : '';
  return `
        SELECT m.role, m.content, to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
               m.seq::text AS seq
          FROM chat_messages m
         WHERE m.session_id = $1::uuid
           AND m.role IN ('user', 'assistant')
           AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a
                                          WHERE a.message_id = $2::uuid)
           ${after}
         ORDER BY m.created_at DESC, m.seq DESC
         LIMIT ${withCursor ? '$5' : '$3'}`;
}

/** ChatRepository.systemMessages ($queryRaw). Parameters: session, anchor message. */
export const SYSTEM_MESSAGES = `
      SELECT m.content
        FROM chat_messages m
       WHERE m.session_id = $1::uuid
         AND m.role = 'system'
         AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a
                                        WHERE a.message_id = $2::uuid)
       ORDER BY m.created_at, m.seq`;
