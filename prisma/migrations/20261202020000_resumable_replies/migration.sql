-- Replies that survive a refresh, a stop from anywhere, and a crash (issue 14, sections 2 to 4).
--
-- chat_generations: one row per assistant reply being generated, written in the transaction that commits the
-- user message (so no user message is ever left without either a reply or this record), deleted in the
-- transaction that saves the reply. It names the instance generating it: an instance whose heartbeat
-- (chat_instances) has stopped is dead, and any live instance finishes its generations as
-- finish_reason "interrupted" with the text written so far, and releases their Idempotency-Keys.
--
-- chat_generation_chunks: the reply's text as it is generated, in order (seq). Each instance writes the
-- chunks of all its running replies together, one multi-row INSERT per batch (about every 100 ms), so the
-- number of statements does not grow with the number of streams. A reader that resumes the stream on another
-- instance replays them. When the reply is saved its chunks are deleted (the message row holds the text).
--
-- Row-level security: a user sees (and may delete) only the generations and chunks of their own sessions.
-- The batched chunk writer, the heartbeat and the finishing of dead instances' generations run on the
-- maintenance path (they act for many users at once); chat_instances has no policy at all.

CREATE TABLE chat_instances (
  instance_id UUID PRIMARY KEY,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE chat_generations (
  message_id UUID PRIMARY KEY,
  session_id UUID NOT NULL,
  user_id UUID NOT NULL,
  user_message_id UUID NOT NULL,
  instance_id UUID NOT NULL,
  idempotency_key TEXT,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- POST .../stop sets it (and notifies the instance); an instance that cannot LISTEN polls for it.
  stop_requested_at TIMESTAMPTZ,
  FOREIGN KEY (session_id, user_id) REFERENCES sessions (session_id, user_id) ON DELETE CASCADE
);
CREATE INDEX chat_generations_session_id_idx ON chat_generations (session_id);
CREATE INDEX chat_generations_instance_id_idx ON chat_generations (instance_id);
CREATE INDEX chat_generations_user_id_idx ON chat_generations (user_id);

-- No foreign key to chat_generations: a batch must never fail because one of its replies was saved (or its
-- session deleted) while it was being written. Chunks whose generation is gone are deleted by the sweep.
CREATE TABLE chat_generation_chunks (
  message_id UUID NOT NULL,
  seq INTEGER NOT NULL,
  user_id UUID NOT NULL,
  delta TEXT NOT NULL,
  PRIMARY KEY (message_id, seq)
);

ALTER TABLE chat_instances ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_instances FORCE ROW LEVEL SECURITY;
ALTER TABLE chat_generations ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_generations FORCE ROW LEVEL SECURITY;
ALTER TABLE chat_generation_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_generation_chunks FORCE ROW LEVEL SECURITY;

CREATE POLICY chat_generations_owner ON chat_generations TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));
CREATE POLICY chat_generation_chunks_owner ON chat_generation_chunks TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));

GRANT SELECT, INSERT, UPDATE, DELETE ON chat_generations TO parley_app;
GRANT SELECT, DELETE ON chat_generation_chunks TO parley_app;
