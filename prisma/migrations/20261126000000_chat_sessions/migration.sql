-- Parley: users, projects (dossier), sessions and chat messages, with row-level security.
--
-- Runs on PostgreSQL 15+ and on PGlite. It upgrades a database that already holds the legacy `dossier` and
-- `turns` tables (they are created only when missing) and must be applied by a role that owns the tables and
-- bypasses row-level security (a superuser, or a role with BYPASSRLS): the SECURITY DEFINER helpers below
-- rely on that.

CREATE SCHEMA IF NOT EXISTS app;

-- Request traffic runs as parley_app (SET LOCAL ROLE inside each transaction). It never bypasses RLS.
-- Anonymous calls of the legacy POST /chat run as parley_legacy, which only reaches dossiers without members.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['parley_app', 'parley_legacy'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT NOBYPASSRLS', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- another database of the same cluster created it at the same moment
      END;
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      EXECUTE format('GRANT %I TO %I', r, current_user);
    END IF;
  END LOOP;
END
$$;

-- The caller's user id for this transaction, or NULL. Pooled connections report '' after an earlier
-- transaction-local setting, hence the NULLIF.
CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;

-- ---------------------------------------------------------------------------------------------------------
-- Legacy tables: kept as they are when present, created when missing.
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS dossier (
  project_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  title TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
ALTER TABLE dossier ADD COLUMN IF NOT EXISTS title TEXT;
ALTER TABLE dossier ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp;
ALTER TABLE dossier ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp;

CREATE TABLE IF NOT EXISTS turns (
  turn_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id UUID,
  user_text TEXT,
  assistant_text TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- ---------------------------------------------------------------------------------------------------------
-- New tables
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE users (
  user_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email TEXT,
  display_name TEXT,
  avatar_url TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
-- Emails are unique whatever their letter case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- The creator of a project made through the API (NULL for legacy dossiers). It lets the creator read the row
-- that INSERT ... RETURNING hands back before the membership row exists, and marks who may delete it.
ALTER TABLE dossier ADD COLUMN IF NOT EXISTS created_by UUID REFERENCES users(user_id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS dossier_created_by_idx ON dossier (created_by);

CREATE TABLE user_projects (
  user_id UUID NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
  project_id UUID NOT NULL REFERENCES dossier(project_id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  PRIMARY KEY (user_id, project_id)
);
CREATE INDEX user_projects_project_id_user_id_idx ON user_projects (project_id, user_id);

CREATE TABLE sessions (
  session_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
  project_id UUID REFERENCES dossier(project_id) ON DELETE CASCADE,
  title TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  last_message_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  is_active BOOLEAN NOT NULL DEFAULT true,
  -- Kept by update_session_last_message(), so listing never counts messages.
  message_count INTEGER NOT NULL DEFAULT 0,
  last_message_preview TEXT
);
CREATE INDEX sessions_user_id_last_message_at_session_id_idx
  ON sessions (user_id, last_message_at DESC, session_id DESC);
CREATE INDEX sessions_user_id_project_id_last_message_at_session_id_idx
  ON sessions (user_id, project_id, last_message_at DESC, session_id DESC);
CREATE INDEX sessions_project_id_idx ON sessions (project_id);

CREATE TABLE chat_messages (
  message_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id UUID NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
  turn_id UUID REFERENCES turns(turn_id) ON DELETE SET NULL,
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  content TEXT NOT NULL,
  metadata JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  -- Insertion order: breaks ties between messages written in the same instant.
  seq BIGSERIAL NOT NULL
);
CREATE UNIQUE INDEX chat_messages_seq_key ON chat_messages (seq);
CREATE INDEX chat_messages_session_id_created_at_seq_idx ON chat_messages (session_id, created_at, seq);
CREATE INDEX chat_messages_turn_id_idx ON chat_messages (turn_id);

-- Idempotency-Key records of POST /api/v1/chat; rows older than 24 hours are ignored and purged.
CREATE TABLE idempotency_keys (
  user_id UUID NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  response JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- ---------------------------------------------------------------------------------------------------------
-- The design's extension of turns. A deleted session or user leaves its legacy turns in place (SET NULL);
-- deleting a dossier removes its turns. The dossier key is added NOT VALID so that an upgraded database with
-- orphan turns still migrates (the legacy importer reports them); new rows are checked.
-- ---------------------------------------------------------------------------------------------------------
ALTER TABLE turns ADD COLUMN IF NOT EXISTS session_id UUID;
ALTER TABLE turns ADD COLUMN IF NOT EXISTS user_id UUID;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'turns_project_id_fkey') THEN
    ALTER TABLE turns ADD CONSTRAINT turns_project_id_fkey
      FOREIGN KEY (project_id) REFERENCES dossier(project_id) ON DELETE CASCADE NOT VALID;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'turns_session_id_fkey') THEN
    ALTER TABLE turns ADD CONSTRAINT turns_session_id_fkey
      FOREIGN KEY (session_id) REFERENCES sessions(session_id) ON DELETE SET NULL;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'turns_user_id_fkey') THEN
    ALTER TABLE turns ADD CONSTRAINT turns_user_id_fkey
      FOREIGN KEY (user_id) REFERENCES users(user_id) ON DELETE SET NULL;
  END IF;
END
$$;
CREATE INDEX IF NOT EXISTS turns_project_id_created_at_turn_id_idx ON turns (project_id, created_at, turn_id);
CREATE INDEX IF NOT EXISTS turns_session_id_idx ON turns (session_id);
CREATE INDEX IF NOT EXISTS turns_user_id_idx ON turns (user_id);

-- ---------------------------------------------------------------------------------------------------------
-- Helpers for policies. SECURITY DEFINER functions run as the migrating role, which bypasses RLS: that is
-- what lets a policy on user_projects ask about user_projects without recursing.
-- ---------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION app.is_project_member(p_project_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
    SELECT EXISTS (
      SELECT 1 FROM user_projects WHERE project_id = p_project_id AND user_id = app.current_user_id()
    )
  $$;

CREATE OR REPLACE FUNCTION app.is_project_creator(p_project_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
    SELECT EXISTS (SELECT 1 FROM dossier WHERE project_id = p_project_id AND created_by = app.current_user_id())
  $$;

CREATE OR REPLACE FUNCTION app.project_has_members(p_project_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ SELECT EXISTS (SELECT 1 FROM user_projects WHERE project_id = p_project_id) $$;

-- Raises 28000 when the id names no user: used when a request's context is set, so an unknown X-User-ID or
-- JWT subject costs no extra round trip.
CREATE OR REPLACE FUNCTION app.assert_user_exists(p_user_id uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE user_id = p_user_id) THEN
      RAISE EXCEPTION 'unknown user' USING ERRCODE = '28000';
    END IF;
    RETURN true;
  END
  $$;

-- ---------------------------------------------------------------------------------------------------------
-- Triggers
-- ---------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    NEW.updated_at := current_timestamp;
    RETURN NEW;
  END
  $$;

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER dossier_set_updated_at BEFORE UPDATE ON dossier FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER sessions_set_updated_at BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER chat_messages_set_updated_at BEFORE UPDATE ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Moves a session's last_message_at, message_count and last_message_preview when messages are inserted.
-- Statement-level with a transition table: one UPDATE per session per statement, so a bulk import of
-- 5,000 messages into one session costs one session update, not 5,000.
CREATE OR REPLACE FUNCTION update_session_last_message() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE sessions s
       SET message_count = s.message_count + n.added,
           last_message_at = CASE WHEN s.message_count = 0 THEN n.newest_at
                                  ELSE GREATEST(s.last_message_at, n.newest_at) END,
           last_message_preview = CASE WHEN s.message_count = 0 OR n.newest_at >= s.last_message_at
                                       THEN n.preview ELSE s.last_message_preview END
      FROM (
        SELECT DISTINCT ON (m.session_id)
               m.session_id,
               count(*) OVER (PARTITION BY m.session_id) AS added,
               m.created_at AS newest_at,
               left(m.content, 200) AS preview
          FROM new_messages m
         ORDER BY m.session_id, m.created_at DESC, m.seq DESC
      ) n
     WHERE s.session_id = n.session_id;
    RETURN NULL;
  END
  $$;

CREATE TRIGGER chat_messages_after_insert AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS new_messages
  FOR EACH STATEMENT EXECUTE FUNCTION update_session_last_message();

-- Keeps the counters true when messages are deleted (sessions being deleted are already gone and untouched).
CREATE OR REPLACE FUNCTION update_session_after_message_delete() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE sessions s
       SET message_count = GREATEST(s.message_count - d.removed, 0),
           last_message_preview = (
             SELECT left(m.content, 200) FROM chat_messages m
              WHERE m.session_id = s.session_id
              ORDER BY m.created_at DESC, m.seq DESC LIMIT 1)
      FROM (SELECT session_id, count(*) AS removed FROM old_messages GROUP BY session_id) d
     WHERE s.session_id = d.session_id;
    RETURN NULL;
  END
  $$;

CREATE TRIGGER chat_messages_after_delete AFTER DELETE ON chat_messages
  REFERENCING OLD TABLE AS old_messages
  FOR EACH STATEMENT EXECUTE FUNCTION update_session_after_message_delete();

-- ---------------------------------------------------------------------------------------------------------
-- The design's database functions. SECURITY INVOKER: they see only what the caller's policies allow.
-- ---------------------------------------------------------------------------------------------------------

-- A user's sessions, most recent first, with message count and a preview of the last message. Keyset
-- pagination continues after (p_before_at, p_before_id); optional filters by project and by is_active.
CREATE OR REPLACE FUNCTION get_user_sessions(
  p_user_id uuid,
  p_limit integer DEFAULT 10,
  p_before_at timestamptz DEFAULT NULL,
  p_before_id uuid DEFAULT NULL,
  p_project_id uuid DEFAULT NULL,
  p_is_active boolean DEFAULT NULL
) RETURNS TABLE (
  session_id uuid,
  user_id uuid,
  project_id uuid,
  title text,
  created_at timestamptz,
  updated_at timestamptz,
  last_message_at timestamptz,
  is_active boolean,
  message_count integer,
  last_message_preview text
)
  LANGUAGE sql STABLE
  AS $$
    SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
           s.is_active, s.message_count, s.last_message_preview
      FROM sessions s
     WHERE s.user_id = p_user_id
       AND (p_project_id IS NULL OR s.project_id = p_project_id)
       AND (p_is_active IS NULL OR s.is_active = p_is_active)
       AND (p_before_at IS NULL OR (s.last_message_at, s.session_id) < (p_before_at, p_before_id))
     ORDER BY s.last_message_at DESC, s.session_id DESC
     LIMIT p_limit
  $$;

-- A page of a session's messages, oldest first. With p_before / p_after (a message id of the session) it is
-- the keyset page just before / after that message; with p_latest the newest p_limit messages. Otherwise
-- LIMIT/OFFSET. Raises P0002 when the anchor message is not in the session.
CREATE OR REPLACE FUNCTION get_session_messages(
  p_session_id uuid,
  p_limit integer DEFAULT 50,
  p_offset integer DEFAULT 0,
  p_before uuid DEFAULT NULL,
  p_after uuid DEFAULT NULL,
  p_latest boolean DEFAULT false
) RETURNS SETOF chat_messages
  LANGUAGE plpgsql STABLE
  AS $$
  DECLARE
    anchor_at timestamptz;
    anchor_seq bigint;
  BEGIN
    IF p_before IS NOT NULL OR p_after IS NOT NULL THEN
      SELECT m.created_at, m.seq INTO anchor_at, anchor_seq
        FROM chat_messages m
       WHERE m.message_id = COALESCE(p_before, p_after) AND m.session_id = p_session_id;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'anchor message not found in session' USING ERRCODE = 'P0002';
      END IF;
    END IF;

    IF p_before IS NOT NULL THEN
      RETURN QUERY
        SELECT * FROM (
          SELECT * FROM chat_messages m
           WHERE m.session_id = p_session_id AND (m.created_at, m.seq) < (anchor_at, anchor_seq)
           ORDER BY m.created_at DESC, m.seq DESC
           LIMIT p_limit) page
        ORDER BY page.created_at, page.seq;
    ELSIF p_after IS NOT NULL THEN
      RETURN QUERY
        SELECT * FROM chat_messages m
         WHERE m.session_id = p_session_id AND (m.created_at, m.seq) > (anchor_at, anchor_seq)
         ORDER BY m.created_at, m.seq
         LIMIT p_limit;
    ELSIF p_latest THEN
      RETURN QUERY
        SELECT * FROM (
          SELECT * FROM chat_messages m
           WHERE m.session_id = p_session_id
           ORDER BY m.created_at DESC, m.seq DESC
           LIMIT p_limit) page
        ORDER BY page.created_at, page.seq;
    ELSE
      RETURN QUERY
        SELECT * FROM chat_messages m
         WHERE m.session_id = p_session_id
         ORDER BY m.created_at, m.seq
         LIMIT p_limit OFFSET p_offset;
    END IF;
  END
  $$;

-- ---------------------------------------------------------------------------------------------------------
-- Row-level security. Every table is FORCEd, so only roles that bypass RLS (the migrating role) escape it.
-- Policies read the caller through (SELECT app.current_user_id()), evaluated once per query.
-- ---------------------------------------------------------------------------------------------------------
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE dossier ENABLE ROW LEVEL SECURITY;
ALTER TABLE dossier FORCE ROW LEVEL SECURITY;
ALTER TABLE user_projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_projects FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_messages FORCE ROW LEVEL SECURITY;
ALTER TABLE turns ENABLE ROW LEVEL SECURITY;
ALTER TABLE turns FORCE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;

-- A user sees and changes only their own row.
CREATE POLICY users_self ON users TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));

-- A project is visible to its members (and to its creator, so that INSERT ... RETURNING works before the
-- membership row exists). Any signed-in user may create one in their own name; only its creator may delete
-- it (any member, for a legacy dossier without a creator).
CREATE POLICY dossier_select ON dossier FOR SELECT TO parley_app
  USING (
    created_by = (SELECT app.current_user_id())
    OR project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id()))
  );
CREATE POLICY dossier_insert ON dossier FOR INSERT TO parley_app
  WITH CHECK (created_by = (SELECT app.current_user_id()));
CREATE POLICY dossier_update ON dossier FOR UPDATE TO parley_app
  USING (project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id())))
  WITH CHECK (project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id())));
CREATE POLICY dossier_delete ON dossier FOR DELETE TO parley_app
  USING (
    created_by = (SELECT app.current_user_id())
    OR (created_by IS NULL AND app.is_project_member(project_id))
  );

-- Memberships: a user sees the memberships of projects they belong to. A member may add users; the creator
-- may add themselves (the first membership of a new project). A member may remove members.
CREATE POLICY user_projects_select ON user_projects FOR SELECT TO parley_app
  USING (user_id = (SELECT app.current_user_id()) OR app.is_project_member(project_id));
CREATE POLICY user_projects_insert ON user_projects FOR INSERT TO parley_app
  WITH CHECK (
    app.is_project_member(project_id)
    OR (user_id = (SELECT app.current_user_id()) AND app.is_project_creator(project_id))
  );
CREATE POLICY user_projects_delete ON user_projects FOR DELETE TO parley_app
  USING (app.is_project_member(project_id));

-- Sessions are private to their owner, even inside a shared project; they can only be placed in a project
-- the owner belongs to.
CREATE POLICY sessions_owner ON sessions TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (
    user_id = (SELECT app.current_user_id())
    AND (project_id IS NULL OR app.is_project_member(project_id))
  );

-- Messages follow their session.
CREATE POLICY chat_messages_owner ON chat_messages TO parley_app
  USING (session_id IN (SELECT s.session_id FROM sessions s WHERE s.user_id = (SELECT app.current_user_id())))
  WITH CHECK (session_id IN (SELECT s.session_id FROM sessions s WHERE s.user_id = (SELECT app.current_user_id())));

-- Turns: a user's own turns, and the not-yet-attributed turns of projects they belong to.
CREATE POLICY turns_member ON turns TO parley_app
  USING (
    user_id = (SELECT app.current_user_id())
    OR (user_id IS NULL
        AND project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id())))
  )
  WITH CHECK (
    user_id = (SELECT app.current_user_id())
    AND project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id()))
  );

CREATE POLICY idempotency_keys_owner ON idempotency_keys TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));

-- Anonymous legacy POST /chat: only dossiers nobody has claimed (no members), and their unattributed turns.
CREATE POLICY dossier_legacy ON dossier TO parley_legacy
  USING (NOT app.project_has_members(project_id))
  WITH CHECK (created_by IS NULL AND NOT app.project_has_members(project_id));
CREATE POLICY turns_legacy ON turns TO parley_legacy
  USING (user_id IS NULL AND session_id IS NULL AND NOT app.project_has_members(project_id))
  WITH CHECK (user_id IS NULL AND session_id IS NULL AND NOT app.project_has_members(project_id));

-- ---------------------------------------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA app TO parley_app, parley_legacy;
GRANT USAGE ON SCHEMA public TO parley_app, parley_legacy;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA app TO parley_app, parley_legacy;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, dossier, user_projects, sessions, chat_messages, turns, idempotency_keys
  TO parley_app;
GRANT USAGE ON SEQUENCE chat_messages_seq_seq TO parley_app;
GRANT EXECUTE ON FUNCTION get_user_sessions(uuid, integer, timestamptz, uuid, uuid, boolean) TO parley_app;
GRANT EXECUTE ON FUNCTION get_session_messages(uuid, integer, integer, uuid, uuid, boolean) TO parley_app;
GRANT SELECT, INSERT, UPDATE ON dossier, turns TO parley_legacy;
