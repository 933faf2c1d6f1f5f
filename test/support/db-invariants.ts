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
 * - a session has a current leaf, one of its own messages, exactly when it has messages;
 * - `sessions.message_count` equals the number of messages on its current branch (the leaf's depth + 1);
 * - `last_message_at` equals the newest `created_at` of its messages (any branch) when it has any, and the
 *   session's own `created_at` when it has none (the column is NOT NULL; a session that never had a message
 *   carries that);
 * - `last_message_preview` is the first 200 characters of its current leaf, and NULL when it has none;
 * - a message's parent is a message of the same session, one level up (depth), and a message continues its
 *   parent's line or starts its own.
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
  SELECT 'current leaf missing or not of the session', s.session_id::text, coalesce(s.current_leaf_id::text, 'NULL')
    FROM sessions s
   WHERE (s.current_leaf_id IS NULL) <> (NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.session_id = s.session_id))
      OR (s.current_leaf_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM chat_messages m WHERE m.message_id = s.current_leaf_id AND m.session_id = s.session_id))
  UNION ALL
  SELECT 'message_count differs from the current branch', s.session_id::text,
         s.message_count || ' recorded, ' || coalesce(l.depth + 1, 0) || ' on the branch'
    FROM sessions s
    LEFT JOIN chat_messages l ON l.message_id = s.current_leaf_id
   WHERE s.message_count <> coalesce(l.depth + 1, 0)
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
  SELECT 'last_message_preview is not the current leaf', s.session_id::text,
         coalesce(left(s.last_message_preview, 40), 'NULL') || ' recorded, ' || coalesce(left(l.content, 40), 'NULL') || ' expected'
    FROM sessions s
    LEFT JOIN chat_messages l ON l.message_id = s.current_leaf_id
   WHERE s.last_message_preview IS DISTINCT FROM left(l.content, 200)
  UNION ALL
  SELECT 'message out of its tree', m.message_id::text,
         'parent ' || coalesce(m.parent_id::text, 'NULL') || ', depth ' || m.depth
    FROM chat_messages m
    LEFT JOIN chat_messages p ON p.message_id = m.parent_id
   WHERE (m.parent_id IS NULL AND (m.depth <> 0 OR m.line_id <> m.message_id))
      OR (m.parent_id IS NOT NULL AND (p.message_id IS NULL OR p.session_id <> m.session_id
          OR m.depth <> p.depth + 1 OR (m.line_id <> p.line_id AND m.line_id <> m.message_id)))
   ORDER BY 1, 2
   LIMIT 50`;

export async function findInvariantViolations(sql: SqlExecutor): Promise<InvariantViolation[]> {
  return sql.query<InvariantViolation>(INVARIANTS_SQL);
}
