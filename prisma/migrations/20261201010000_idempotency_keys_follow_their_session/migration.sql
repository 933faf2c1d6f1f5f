-- A keyed chat's stored reply goes with its session.
--
-- idempotency_keys.response holds what a keyed POST /api/v1/chat committed: the session and user message
-- (`prepared`, while running or after a failure) or the whole reply (`completed`), which a retry with the key
-- replays. It had no link to the session, so deleting the session left the exchange in the key's row, and a
-- retry replayed the deleted text for up to 24 hours. (Deleting the user already removed their keys:
-- user_id references users ON DELETE CASCADE.)
--
-- session_id is now derived from the stored state (a generated column: no writer has to remember it, and the
-- repository is unchanged) and references the session ON DELETE CASCADE, so every way a session ends
-- (DELETE /sessions/{id}, a project deleted, a membership ended, the user deleted) removes its keys in the
-- same statement, whoever may see them under RLS. A key that has not committed a session yet (running,
-- nothing prepared) has no session_id and no reference. A retry after the deletion is a new request.

ALTER TABLE idempotency_keys
  ADD COLUMN session_id UUID GENERATED ALWAYS AS (
    COALESCE(response -> 'prepared' ->> 'session_id', response -> 'reply' -> 'session' ->> 'sessionId')::uuid
  ) STORED;

-- Keys whose session is already gone would replay deleted content: forget them.
DELETE FROM idempotency_keys k
 WHERE k.session_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = k.session_id AND s.user_id = k.user_id);

ALTER TABLE idempotency_keys
  ADD CONSTRAINT idempotency_keys_session_fkey FOREIGN KEY (session_id, user_id)
  REFERENCES sessions (session_id, user_id) ON DELETE CASCADE;

-- The cascade looks keys up by session.
CREATE INDEX idempotency_keys_session_id_idx ON idempotency_keys (session_id) WHERE session_id IS NOT NULL;
