-- Imports of conversation histories (issue 15 §3): ChatGPT exports and Parley's own json export.
--
-- imports: one row per POST /api/v1/imports, owned by the user who posted it. The runner writes each
-- conversation in a transaction of its own that also moves the counters here, so the counters are exactly what
-- is committed. heartbeat_at is moved while the runner works: an import still 'queued' or 'running' whose
-- heartbeat is old was interrupted (the process stopped) and is reported, and recorded, as failed.
--
-- imported_conversations: which conversation (by its id in the source) became which session, per user: what
-- makes an import idempotent. The row goes with its session, so a conversation whose session was deleted is
-- imported again by a later import.

CREATE TABLE imports (
  import_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  -- What the upload was: 'chatgpt' (conversations.json, a split file, or the export's zip) or 'parley'.
  source text NOT NULL CHECK (source IN ('chatgpt', 'parley')),
  file_kind text NOT NULL CHECK (file_kind IN ('json', 'zip')),
  file_bytes bigint NOT NULL CHECK (file_bytes >= 0),
  -- The project the sessions go to: named by the caller, or created by the import for its first session.
  project_id uuid REFERENCES dossier (project_id) ON DELETE SET NULL,
  conversations_seen integer NOT NULL DEFAULT 0,
  sessions_created integer NOT NULL DEFAULT 0,
  messages_created integer NOT NULL DEFAULT 0,
  skipped_count integer NOT NULL DEFAULT 0,
  -- [{conversation_id, reason}], the first 1,000 skipped conversations.
  skipped jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- [{reason}]: why the import failed (empty unless status = 'failed').
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL DEFAULT current_timestamp,
  updated_at timestamptz NOT NULL DEFAULT current_timestamp,
  heartbeat_at timestamptz NOT NULL DEFAULT current_timestamp,
  finished_at timestamptz
);
CREATE INDEX imports_user_id_created_at_idx ON imports (user_id, created_at DESC);
CREATE INDEX imports_project_id_idx ON imports (project_id);
CREATE TRIGGER imports_set_updated_at BEFORE UPDATE ON imports FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE imported_conversations (
  user_id uuid NOT NULL,
  conversation_id text NOT NULL CHECK (char_length(conversation_id) BETWEEN 1 AND 200),
  session_id uuid NOT NULL,
  import_id uuid NOT NULL REFERENCES imports (import_id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT current_timestamp,
  PRIMARY KEY (user_id, conversation_id),
  FOREIGN KEY (session_id, user_id) REFERENCES sessions (session_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX imported_conversations_import_id_idx ON imported_conversations (import_id);
CREATE INDEX imported_conversations_session_id_idx ON imported_conversations (session_id);

-- Owned by their user, in the service and here.
ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
ALTER TABLE imported_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE imported_conversations FORCE ROW LEVEL SECURITY;

CREATE POLICY imports_owner ON imports TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));
CREATE POLICY imported_conversations_owner ON imported_conversations TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));

-- No DELETE for request traffic: an import's record goes with its user.
GRANT SELECT, INSERT, UPDATE ON imports TO parley_app;
GRANT SELECT, INSERT ON imported_conversations TO parley_app;
