import { isUuid } from '../common/uuid.js';
import type { SqlExecutor } from '../database/sql-executor.js';

export type GrantOutcome = { ok: true; userId: string; changed: boolean } | { ok: false; reason: string };

/**
 * Makes a user an admin (or a plain user again), through the maintenance connection: the way to the first
 * admin when nobody can grant the role yet (`npm run admin -- grant <user id | email>`). An email must name
 * exactly one user (emails are contact details, not unique); the change is written to the audit log with
 * the operator's machine as the actor (the nil UUID) and action `cli.grant`/`cli.revoke`.
 */
export async function setRoleByOperator(
  sql: SqlExecutor,
  who: string,
  role: 'admin' | 'user',
): Promise<GrantOutcome> {
  const byId = isUuid(who);
  const users = await sql.query<{ user_id: string; role: string }>(
    byId
      ? `SELECT user_id::text, role FROM users WHERE user_id = $1::uuid`
      : `SELECT user_id::text, role FROM users WHERE lower(email) = lower($1)`,
    [who],
  );
  if (users.length === 0) return { ok: false, reason: `no user with ${byId ? 'id' : 'email'} ${who}` };
  if (users.length > 1)
    return {
      ok: false,
      reason: `email ${who} is ambiguous: ${users.length} users gave it; name the user by id`,
    };
  const [user] = users;
  if (user.role === role) return { ok: true, userId: user.user_id, changed: false };
  await sql.query(`UPDATE users SET role = $2 WHERE user_id = $1::uuid`, [user.user_id, role]);
  await sql.query(
    `INSERT INTO admin_audit (actor_id, action, target_type, target_id, details)
     VALUES ('00000000-0000-0000-0000-000000000000', $1, 'user', $2, $3::jsonb)`,
    [role === 'admin' ? 'cli.grant' : 'cli.revoke', user.user_id, JSON.stringify({ role })],
  );
  return { ok: true, userId: user.user_id, changed: true };
}
