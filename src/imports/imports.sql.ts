/**
 * The SQL ImportsRepository sends (tables `imports` and `imported_conversations`, migration
 * 20261202060000_imports), and the row types. Loads neither Nest nor Prisma.
 */

export type ImportStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export const IMPORT_STATUSES: readonly ImportStatus[] = ['queued', 'running', 'succeeded', 'failed'];

/** How many skipped conversations an import lists (skipped_count counts them all). */
export const SKIPPED_LISTED = 1000;

export interface ImportRow {
  import_id: string;
  user_id: string;
  status: ImportStatus;
  source: 'chatgpt' | 'parley';
  file_kind: 'json' | 'zip';
  file_bytes: string;
  project_id: string | null;
  conversations_seen: number;
  sessions_created: number;
  messages_created: number;
  skipped_count: number;
  skipped: { conversation_id: string | null; reason: string }[];
  errors: { reason: string }[];
  session_ids: string[];
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  /** Seconds since the runner last showed it was alive. */
  heartbeat_age: number;
}

const COLUMNS = `i.import_id, i.user_id, i.status, i.source, i.file_kind, i.file_bytes::text AS file_bytes, i.project_id,
       i.conversations_seen, i.sessions_created, i.messages_created, i.skipped_count, i.skipped, i.errors,
       array_to_json(ARRAY(SELECT c.session_id FROM imported_conversations c
                            WHERE c.import_id = i.import_id ORDER BY c.created_at, c.session_id)) AS session_ids,
       i.created_at, i.updated_at, i.finished_at,
       extract(epoch FROM current_timestamp - i.heartbeat_at)::float8 AS heartbeat_age`;

/** Parameters: user id, source, file kind, file bytes, project id (or NULL). */
export const INSERT_IMPORT = `WITH i AS (
         INSERT INTO imports (user_id, source, file_kind, file_bytes, project_id)
         VALUES ($1::uuid, $2, $3, $4::bigint, $5::uuid)
         RETURNING *)
       SELECT ${COLUMNS} FROM i`;

/** Parameters: import id, user id. */
export const IMPORT_BY_ID = `SELECT ${COLUMNS} FROM imports i WHERE i.import_id = $1::uuid AND i.user_id = $2::uuid`;

/** Parameters: import id, user id, status. Moves the heartbeat too. */
export const SET_STATUS = `UPDATE imports SET status = $3, heartbeat_at = current_timestamp
        WHERE import_id = $1::uuid AND user_id = $2::uuid`;

/** Parameters: import id, user id. */
export const HEARTBEAT = `UPDATE imports SET heartbeat_at = current_timestamp
        WHERE import_id = $1::uuid AND user_id = $2::uuid AND status IN ('queued', 'running')`;

/** Ends an import. Parameters: import id, user id, status, errors JSON. */
export const FINISH_IMPORT = `UPDATE imports
          SET status = $3, errors = $4::jsonb, finished_at = current_timestamp, heartbeat_at = current_timestamp
        WHERE import_id = $1::uuid AND user_id = $2::uuid AND status IN ('queued', 'running')`;

/**
 * Counts conversations read and records skipped ones (the list keeps the first SKIPPED_LISTED). Parameters:
 * import id, user id, conversations read since the last call, skipped JSON array.
 */
export const ADD_PROGRESS = `UPDATE imports
          SET conversations_seen = conversations_seen + $3::int,
              skipped_count = skipped_count + jsonb_array_length($4::jsonb),
              skipped = CASE WHEN jsonb_array_length(skipped) >= ${SKIPPED_LISTED} THEN skipped
                             ELSE skipped || COALESCE((SELECT jsonb_agg(e ORDER BY n)
                                                         FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS x(e, n)
                                                        WHERE n <= ${SKIPPED_LISTED} - jsonb_array_length(skipped)),
                                                      '[]'::jsonb) END,
              heartbeat_at = current_timestamp
        WHERE import_id = $1::uuid AND user_id = $2::uuid`;

/** Parameters: import id, user id, project id. */
export const SET_PROJECT = `UPDATE imports SET project_id = $3::uuid WHERE import_id = $1::uuid AND user_id = $2::uuid`;

/** The session a conversation became, if the user imported it already. Parameters: user id, conversation id. */
export const IMPORTED_SESSION = `SELECT session_id FROM imported_conversations
        WHERE user_id = $1::uuid AND conversation_id = $2`;

/**
 * Records a conversation as imported and counts it, in the transaction that wrote its session. Parameters:
 * user id, conversation id, session id, import id, messages written.
 */
export const RECORD_CONVERSATION = `WITH recorded AS (
         INSERT INTO imported_conversations (user_id, conversation_id, session_id, import_id)
         VALUES ($1::uuid, $2, $3::uuid, $4::uuid)
         RETURNING import_id)
       UPDATE imports i
          SET sessions_created = sessions_created + 1, messages_created = messages_created + $5::int,
              heartbeat_at = current_timestamp
         FROM recorded r
        WHERE i.import_id = r.import_id AND i.user_id = $1::uuid`;
