/**
 * The administrators' statements (run as parley_admin, whose policies require an enabled admin). Loads
 * neither Nest nor Prisma. Timestamps come back as the API's text (database/timestamps.ts).
 */
import { keysetCursor } from '../common/keyset-cursor.js';

export const ADMIN_USER_CURSOR = keysetCursor('au1', 'createdAt', 'userId');
export const AUDIT_CURSOR = keysetCursor('aa1', 'at', 'auditId');

/** Microsecond text of a timestamptz column, for cursors. */
const MICROS = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const ADMIN_USER_COLUMNS = `u.user_id, u.email, u.display_name, u.avatar_url, u.role, u.disabled_at,
  u.created_at, u.updated_at, ${MICROS('u.created_at')} AS cursor_at`;

/**
 * A page of users, newest first, optionally those whose email or display name contains `q` (case-insensitive).
 * Parameters: limit + 1, cursor created_at (or null), cursor user_id (or null), search text (or null).
 */
export const ADMIN_USER_PAGE = `SELECT ${ADMIN_USER_COLUMNS}
   FROM users u
  WHERE ($2::timestamptz IS NULL OR (u.created_at, u.user_id) < ($2::timestamptz, $3::uuid))
    AND ($4::text IS NULL
         OR strpos(lower(coalesce(u.email, '')), lower($4)) > 0
         OR strpos(lower(coalesce(u.display_name, '')), lower($4)) > 0)
  ORDER BY u.created_at DESC, u.user_id DESC
  LIMIT $1`;

/** One user with what they hold and when they were last active. Parameters: user id. */
export const ADMIN_USER_DETAIL = `SELECT ${ADMIN_USER_COLUMNS},
    (SELECT count(*)::int FROM user_projects up WHERE up.user_id = u.user_id) AS project_count,
    (SELECT count(*)::int FROM sessions s WHERE s.user_id = u.user_id) AS session_count,
    (SELECT coalesce(sum(s.message_count), 0)::int FROM sessions s WHERE s.user_id = u.user_id) AS message_count,
    (SELECT count(*)::int FROM api_keys k WHERE k.user_id = u.user_id) AS api_key_count,
    GREATEST(u.updated_at,
             (SELECT max(s.last_message_at) FROM sessions s WHERE s.user_id = u.user_id),
             (SELECT max(k.last_used_at) FROM api_keys k WHERE k.user_id = u.user_id)) AS last_active_at
   FROM users u WHERE u.user_id = $1::uuid`;

/** Parameters: user id, role. */
export const SET_ROLE = `UPDATE users u SET role = $2 WHERE u.user_id = $1::uuid RETURNING ${ADMIN_USER_COLUMNS}`;
/** Parameters: user id, disabled (boolean). Disabling keeps the first time. */
export const SET_DISABLED = `UPDATE users u
    SET disabled_at = CASE WHEN $2::boolean THEN coalesce(u.disabled_at, current_timestamp) ELSE NULL END
  WHERE u.user_id = $1::uuid RETURNING ${ADMIN_USER_COLUMNS}`;

/**
 * Messages and tokens per user, UTC day and model, from the replies' stored metadata. Parameters: from
 * (inclusive), to (exclusive), user id (or null).
 */
export const USAGE = `SELECT m.user_id,
       to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
       coalesce(m.metadata ->> 'model', 'unknown') AS model,
       count(*)::int AS replies,
       coalesce(sum(CASE WHEN jsonb_typeof(m.metadata -> 'usage' -> 'input_tokens') = 'number'
                         THEN (m.metadata -> 'usage' ->> 'input_tokens')::numeric END), 0)::bigint::text AS input_tokens,
       coalesce(sum(CASE WHEN jsonb_typeof(m.metadata -> 'usage' -> 'output_tokens') = 'number'
                         THEN (m.metadata -> 'usage' ->> 'output_tokens')::numeric END), 0)::bigint::text AS output_tokens
  FROM chat_messages m
 WHERE m.role = 'assistant' AND m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz
   AND ($3::uuid IS NULL OR m.user_id = $3::uuid)
 GROUP BY 1, 2, 3
 ORDER BY 2 DESC, 1, 3`;

export const AUDIT_COLUMNS = `audit_id, at, actor_id, action, target_type, target_id, request_id, details, ${MICROS('at')} AS cursor_at`;

/** Parameters: actor, action, target type, target id, request id, details (JSON text or null). */
export const INSERT_AUDIT = `INSERT INTO admin_audit (actor_id, action, target_type, target_id, request_id, details)
  VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb) RETURNING ${AUDIT_COLUMNS}`;

/** Newest first. Parameters: limit + 1, cursor at (or null), cursor id (or null), action (or null), target id (or null). */
export const AUDIT_PAGE = `SELECT ${AUDIT_COLUMNS} FROM admin_audit
  WHERE ($2::timestamptz IS NULL OR (at, audit_id) < ($2::timestamptz, $3::uuid))
    AND ($4::text IS NULL OR action = $4)
    AND ($5::text IS NULL OR target_id = $5)
  ORDER BY at DESC, audit_id DESC
  LIMIT $1`;
