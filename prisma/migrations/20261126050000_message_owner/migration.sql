-- Every message carries its session's owner, so row-level security on chat_messages is one comparison per row.
--
-- The first policy ("messages follow their session") was `session_id IN (SELECT the caller's sessions)`. The
-- planner cannot know how many sessions the caller has, so it builds a hash of all of them for every query on
-- chat_messages: a message page of a user with 3,000 sessions cost PostgreSQL five times what the same page of a
-- user with 10 costs (docs/performance.md). An EXISTS form is turned into the same hashed subplan.
--
-- chat_messages.user_id is kept equal to the session's owner by a foreign key on (session_id, user_id): a message
-- cannot name another user than its session's, and if a session ever changed hands its messages would follow
-- (ON UPDATE CASCADE). Writers may leave it out: a trigger fills it from the session (under the writer's own
-- row-level security, so a session the writer cannot see gives no owner and the insert is refused).

ALTER TABLE chat_messages ADD COLUMN user_id UUID;

-- Backfill without touching updated_at (its trigger would stamp every message with now()).
ALTER TABLE chat_messages DISABLE TRIGGER chat_messages_set_updated_at;
UPDATE chat_messages m SET user_id = s.user_id FROM sessions s WHERE s.session_id = m.session_id;
ALTER TABLE chat_messages ENABLE TRIGGER chat_messages_set_updated_at;
ALTER TABLE chat_messages ALTER COLUMN user_id SET NOT NULL;

ALTER TABLE sessions ADD CONSTRAINT sessions_session_id_user_id_key UNIQUE (session_id, user_id);
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_session_id_fkey;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_session_id_user_id_fkey
  FOREIGN KEY (session_id, user_id) REFERENCES sessions (session_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE;

CREATE OR REPLACE FUNCTION app.fill_message_owner() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    SELECT s.user_id INTO NEW.user_id FROM sessions s WHERE s.session_id = NEW.session_id;
    RETURN NEW;
  END
  $$;

CREATE TRIGGER chat_messages_fill_owner BEFORE INSERT ON chat_messages
  FOR EACH ROW WHEN (NEW.user_id IS NULL) EXECUTE FUNCTION app.fill_message_owner();

-- Every message query names a session, and the session decides the owner; the planner, taking the policy's
-- user_id filter as independent of it, would expect a 50,000-message session to keep one row in a thousand and
-- sort all of it for its newest page instead of reading them from the index. The dependency tells it better.
CREATE STATISTICS chat_messages_session_owner (dependencies) ON session_id, user_id FROM chat_messages;
ANALYZE chat_messages;

DROP POLICY chat_messages_owner ON chat_messages;
CREATE POLICY chat_messages_owner ON chat_messages TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));

REVOKE ALL ON FUNCTION app.fill_message_owner() FROM PUBLIC;
