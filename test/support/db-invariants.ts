/**
 * Consistency rules of the data that no sequence of API calls may break, checked with one query through a
 * maintenance connection (it bypasses row-level security, so it sees every row). Used after the fuzz test,
 * the database-fault test and the soak run.
 */
import type { SqlExecutor } from '../../src/database/sql-executor.js';

export interface InvariantViolation {
  rule: string;
  id: string;
  detail: string;
}

/**
 * - no message without its session, no session without its owner, no membership without its user or project;
 * - `sessions.message_count` equals the number of its messages;
 * - `last_message_at` equals the newest `created_at` of its messages when it has any, and the session's own
 *   `created_at` when it has none (the column is NOT NULL; a session that never had a message carries that);
 * - `last_message_preview` is the first 200 characters of its newest message (by created_at, then seq), and
 *   NULL when it has none.
 */
export const INVARIANTS_SQL = `
  SELECT 'message without session' AS rule, m.message_id::text AS id, m.session_id::text AS detail
    FROM chat_messages m
   WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = m.session_id)
  UNION ALL
  SELECT 'session without owner', s.session_id::text, s.user_id::text
    FROM sessions s
   WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = s.user_id)
  UNION ALL
  SELECT 'membership without user or project', up.user_id::text, up.project_id::text
    FROM user_projects up
   WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = up.user_id)
      OR NOT EXISTS (SELECT 1 FROM dossier d WHERE d.project_id = up.project_id)
  UNION ALL
  SELECT 'message_count differs from the messages', s.session_id::text,
         s.message_count || ' recorded, ' || coalesce(c.n, 0) || ' messages'
    FROM sessions s
    LEFT JOIN (SELECT session_id, count(*) AS n FROM chat_messages GROUP BY session_id) c USING (session_id)
   WHERE s.message_count <> coalesce(c.n, 0)
  UNION ALL
  SELECT 'last_message_at is not the newest message', s.session_id::text,
         s.last_message_at::text || ' recorded, newest ' || c.newest::text
    FROM sessions s
    JOIN (SELECT session_id, max(created_at) AS newest FROM chat_messages GROUP BY session_id) c USING (session_id)
   WHERE s.last_message_at <> c.newest
  UNION ALL
  SELECT 'last_message_at of a session without messages is not its created_at', s.session_id::text,
         s.last_message_at::text || ' recorded, created ' || s.created_at::text
    FROM sessions s
   WHERE s.last_message_at <> s.created_at
     AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.session_id = s.session_id)
  UNION ALL
  SELECT 'last_message_preview is not the newest message', s.session_id::text,
         coalesce(left(s.last_message_preview, 40), 'NULL') || ' recorded, ' || coalesce(left(n.preview, 40), 'NULL') || ' expected'
    FROM sessions s
    LEFT JOIN LATERAL (
      SELECT left(m.content, 200) AS preview
        FROM chat_messages m
       WHERE m.session_id = s.session_id
       ORDER BY m.created_at DESC, m.seq DESC
       LIMIT 1
    ) n ON true
   WHERE s.last_message_preview IS DISTINCT FROM n.preview
   ORDER BY 1, 2
   LIMIT 50`;

export async function findInvariantViolations(sql: SqlExecutor): Promise<InvariantViolation[]> {
  return sql.query<InvariantViolation>(INVARIANTS_SQL);
}
