-- Chat reads a session's system-role messages for the model's context on every turn. Without an index on role
-- that read filtered every message of the session: 27 ms per turn in a 50,000-message session, growing with
-- its length. System messages are rare, so a partial index on them is tiny and the read is one index probe.
CREATE INDEX IF NOT EXISTS chat_messages_system_idx ON chat_messages (session_id, created_at, seq)
  WHERE role = 'system';
