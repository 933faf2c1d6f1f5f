/**
 * The statement that opens every request transaction's row-level-security context, and the roles it
 * switches to. Loads neither Nest nor Prisma: the benchmarks' bare server sends the same statement.
 */

/** The role request traffic runs as; created by the first migration, never BYPASSRLS. */
export const APP_ROLE = 'parley_app';
/** The role anonymous legacy /chat calls run as; it reaches only dossiers without members. */
export const LEGACY_ROLE = 'parley_legacy';

/**
 * The first statement of a request: the role, the caller, and the check that the caller exists.
 * Parameters: role, user id, user id.
 */
export const USER_CONTEXT = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true), app.assert_user_exists($3::uuid)`;
/** The same without the check: a caller whose row does not exist yet, or none (legacy traffic). */
export const CONTEXT_WITHOUT_CHECK = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true)`;
