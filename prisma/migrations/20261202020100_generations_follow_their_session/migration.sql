-- A reply being generated names its session's owner, like the session's messages: if a session ever changed
-- hands, its generation records move with it (ON UPDATE CASCADE, as chat_messages' key does), instead of the
-- record blocking the change.
ALTER TABLE chat_generations DROP CONSTRAINT chat_generations_session_id_user_id_fkey;
ALTER TABLE chat_generations
  ADD CONSTRAINT chat_generations_session_id_user_id_fkey FOREIGN KEY (session_id, user_id)
  REFERENCES sessions (session_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE;
