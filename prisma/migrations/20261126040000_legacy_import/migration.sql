-- The legacy importer's ledger (npm run migrate:legacy): one row per dossier it has imported, naming the owner
-- and the session it created. It makes re-runs idempotent and resumable: a dossier is imported once; turns
-- that reach an imported dossier later are appended to the same session; a session its owner deleted is never
-- re-created. No foreign keys on purpose: the record must survive the deletion of the user or the session it
-- names (that is how the importer knows not to re-create them). Only the importer (the migrating role, which
-- bypasses row-level security) reads or writes it: request roles get no privileges, and RLS is forced with no
-- policies, so they could see nothing even if granted.
CREATE TABLE IF NOT EXISTS legacy_imports (
  project_id UUID PRIMARY KEY,
  user_id UUID NOT NULL,
  session_id UUID NOT NULL,
  owner_created BOOLEAN NOT NULL,
  turns_imported INTEGER NOT NULL DEFAULT 0,
  messages_written INTEGER NOT NULL DEFAULT 0,
  first_imported_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  last_imported_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
ALTER TABLE legacy_imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE legacy_imports FORCE ROW LEVEL SECURITY;

-- Turns nobody has attributed yet (the importer's work list, and what the anonymous legacy /chat writes). The
-- index shrinks as the import links turns, so finding the remaining work stays cheap on every re-run.
CREATE INDEX IF NOT EXISTS turns_unattributed_project_id_idx ON turns (project_id)
  WHERE session_id IS NULL AND user_id IS NULL;
