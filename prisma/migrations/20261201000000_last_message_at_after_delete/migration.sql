-- Deleting messages moves sessions.last_message_at back as well.
--
-- The first migration's update_session_after_message_delete() recomputed message_count and last_message_preview
-- but left last_message_at at the deleted message's time: a session whose newest message was deleted kept its
-- place at the top of the list (and its cursor position) for a message that no longer exists.
--
-- The rule, the same as the insert trigger's and the one test/support/db-invariants.ts checks:
--   - a session with messages: last_message_at is the newest message's created_at (newest by created_at, then
--     seq), and last_message_preview its first 200 characters;
--   - a session with none left: last_message_at is the session's created_at (the column is NOT NULL, and that is
--     what a session that never had a message carries), last_message_preview is NULL.

CREATE OR REPLACE FUNCTION update_session_after_message_delete() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE sessions s
       SET message_count = GREATEST(s.message_count - d.removed, 0),
           last_message_at = COALESCE(n.created_at, s.created_at),
           last_message_preview = n.preview
      FROM (SELECT session_id, count(*) AS removed FROM old_messages GROUP BY session_id) d
      LEFT JOIN LATERAL (
        SELECT m.created_at, left(m.content, 200) AS preview
          FROM chat_messages m
         WHERE m.session_id = d.session_id
         ORDER BY m.created_at DESC, m.seq DESC
         LIMIT 1
      ) n ON true
     WHERE s.session_id = d.session_id;
    RETURN NULL;
  END
  $$;

-- Repair the sessions the old function left behind, by the same rule. updated_at stays as it was (its trigger
-- would stamp every repaired session with now(), as the message-owner migration avoids for messages); project
-- activity (user_projects.last_activity_at) only ever moves forward and is left alone.
ALTER TABLE sessions DISABLE TRIGGER sessions_set_updated_at;
WITH truth AS (
  SELECT s.session_id, COALESCE(max(m.created_at), s.created_at) AS last_message_at
    FROM sessions s
    LEFT JOIN chat_messages m ON m.session_id = s.session_id
   GROUP BY s.session_id
)
UPDATE sessions s
   SET last_message_at = t.last_message_at
  FROM truth t
 WHERE t.session_id = s.session_id AND s.last_message_at <> t.last_message_at;
ALTER TABLE sessions ENABLE TRIGGER sessions_set_updated_at;
