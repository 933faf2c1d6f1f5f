/**
 * The SQL Parley sends per request. The repositories' statements are imported from the modules of src/ that
 * hold them (they load neither Nest nor Prisma); what is written here is only what no such module exports
 * (users/me's Prisma model call as the text Prisma generates, captured with trace-sql.ts). The bare server
 * and the pgbench scripts both run these strings, and the harness checks at the start of every run that
 * Parley still sends exactly them (see sqlcheck.ts), so the ceiling cannot drift from the product.
 */

/** DatabaseService.asUser(): the role, the caller and the check that the caller exists, in one statement. */
export { APP_ROLE, USER_CONTEXT as CONTEXT } from '../src/database/context.sql.js';

/** UsersRepository.findById (Prisma findUnique). Parameters: user id, 1, 0. */
export const USER_BY_ID = `SELECT "public"."users"."user_id", "public"."users"."email", "public"."users"."display_name", "public"."users"."avatar_url", "public"."users"."created_at", "public"."users"."updated_at" FROM "public"."users" WHERE ("public"."users"."user_id" = $1 AND 1=1) LIMIT $2 OFFSET $3`;

/**
 * The sessions and messages statements and their row functions, the repositories' own
 * (src/sessions/sessions.sql.ts, src/messages/messages.sql.ts).
 */
export {
  LIST_SESSIONS,
  SESSION_BY_ID,
  sessionPageOfRows,
  toSessionRecord,
  UPDATE_SESSION,
  type SessionListRow,
  type SessionRow,
} from '../src/sessions/sessions.sql.js';
export {
  CONTEXT_PAGE,
  INSERT_MESSAGE,
  MESSAGE_PAGE,
  NEWEST_MESSAGES,
  nextContextCursor,
  pageOfRows,
  SYSTEM_MESSAGES,
  toMessageRecord,
  type ContextRow,
  type MessageRow,
} from '../src/messages/messages.sql.js';
