/**
 * The statement that opens every request transaction's row-level-security context, and the roles it
 * switches to. Loads neither Nest nor Prisma: the benchmarks' bare server sends the same statement.
 */

/** The role request traffic runs as; created by the first migration, never BYPASSRLS. */
export const APP_ROLE = 'parley_app';
/** The role anonymous legacy /chat calls run as; it reaches only dossiers without members. */
export const LEGACY_ROLE = 'parley_legacy';
/**
 * The role administrators' requests run as: every policy it has requires an enabled admin as the caller
 * (app.is_admin()), never BYPASSRLS (migration 20261202040000).
 */
export const ADMIN_ROLE = 'parley_admin';

/**
 * The first statement of a request: the role, the caller, and the check that the caller exists.
 * Parameters: role, user id, user id.
 */
export const USER_CONTEXT = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true), app.assert_user_exists($3::uuid)`;
/** The same without the check: a caller whose row does not exist yet, or none (legacy traffic). */
export const CONTEXT_WITHOUT_CHECK = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true)`;

/**
 * The first statement of an administrator's request: the admin role, the caller, and the check that the caller
 * is an enabled admin (28000 for an unknown or disabled caller, PA403 for one who is not an admin).
 * Parameters: user id, user id.
 */
export const ADMIN_CONTEXT = `SELECT set_config('role', '${ADMIN_ROLE}', true), set_config('app.user_id', $1, true), app.assert_admin($2::uuid)`;
