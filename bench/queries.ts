/**
 * The SQL Parley sends per request, imported from the modules of src/ that hold it (*.sql.ts: they load
 * neither Nest nor Prisma), so no statement is copied. The bare server and the pgbench scripts both run these
 * strings, and the harness checks at the start of every run that Parley still sends exactly them (see
 * sqlcheck.ts).
 */

/** DatabaseService.asUser(): the role, the caller and the check that the caller exists, in one statement. */
export { APP_ROLE, USER_CONTEXT as CONTEXT } from '../src/database/context.sql.js';

/** UsersRepository.findById (raw SQL). Parameters: user id. */
export { USER_BY_ID } from '../src/users/users.sql.js';

/** The projects reads, ProjectsRepository's own (src/projects/projects.sql.ts). */
export {
  LIST_PROJECTS,
  LIST_PROJECTS_AFTER,
  PROJECT_VIEW,
  type ProjectViewRow,
} from '../src/projects/projects.sql.js';

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
  BRANCH_CONTEXT,
  contextWindow,
  INSERT_MESSAGE,
  MESSAGE_PAGE,
  nextContextWindow,
  pageOfRows,
  sessionMessagePage,
  SYSTEM_MESSAGES,
  toMessageRecord,
  type ContextRow,
  type MessagePageRow,
  type MessageRow,
} from '../src/messages/messages.sql.js';
