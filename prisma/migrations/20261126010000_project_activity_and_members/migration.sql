-- Projects: each member's "last activity" in a project, so GET /api/v1/projects lists newest activity first
-- from one index; a member's sessions leave with them; the members list with public profile fields.
--
-- A member's activity in a project is the latest of: when they joined, the project's last change
-- (dossier.updated_at, e.g. a rename), and their own latest session activity in it (a session created or a
-- message written). Other members' private sessions do not move it: that would reveal when they chat.
-- Triggers keep the column; it only ever moves forward.

ALTER TABLE user_projects ADD COLUMN IF NOT EXISTS last_activity_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp;

UPDATE user_projects up
   SET last_activity_at = GREATEST(
         up.created_at,
         d.updated_at,
         COALESCE((SELECT max(s.last_message_at) FROM sessions s
                    WHERE s.user_id = up.user_id AND s.project_id = up.project_id), up.created_at))
  FROM dossier d
 WHERE d.project_id = up.project_id;

CREATE INDEX IF NOT EXISTS user_projects_user_id_last_activity_at_project_id_idx
  ON user_projects (user_id, last_activity_at DESC, project_id DESC);

-- user_projects has no UPDATE policy (nobody edits a membership through the API), so the triggers that move
-- last_activity_at are SECURITY DEFINER, owned by the migrating role (which bypasses RLS). They touch only
-- the one column, of rows the triggering statement already proves the caller may affect.
CREATE OR REPLACE FUNCTION app.touch_project_activity_from_session() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
  BEGIN
    IF NEW.project_id IS NOT NULL THEN
      UPDATE user_projects
         SET last_activity_at = NEW.last_message_at
       WHERE user_id = NEW.user_id AND project_id = NEW.project_id AND last_activity_at < NEW.last_message_at;
    END IF;
    RETURN NULL;
  END
  $$;

CREATE TRIGGER sessions_touch_project_activity
  AFTER INSERT OR UPDATE OF last_message_at, project_id ON sessions
  FOR EACH ROW EXECUTE FUNCTION app.touch_project_activity_from_session();

CREATE OR REPLACE FUNCTION app.touch_project_activity_from_dossier() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
  BEGIN
    UPDATE user_projects
       SET last_activity_at = NEW.updated_at
     WHERE project_id = NEW.project_id AND last_activity_at < NEW.updated_at;
    RETURN NULL;
  END
  $$;

CREATE TRIGGER dossier_touch_project_activity
  AFTER UPDATE ON dossier
  FOR EACH ROW EXECUTE FUNCTION app.touch_project_activity_from_dossier();

-- A session lives in a project: when a membership ends (the member leaves or is removed), that member's
-- sessions in the project go with it, as they do when the whole project is deleted. SECURITY DEFINER because
-- the caller removing someone else cannot see (or delete) that member's private sessions.
CREATE OR REPLACE FUNCTION app.remove_sessions_of_ended_membership() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
  BEGIN
    DELETE FROM sessions WHERE user_id = OLD.user_id AND project_id = OLD.project_id;
    RETURN NULL;
  END
  $$;

CREATE TRIGGER user_projects_remove_sessions
  AFTER DELETE ON user_projects
  FOR EACH ROW EXECUTE FUNCTION app.remove_sessions_of_ended_membership();

-- The members of a project with their public profile fields (never the email), for a caller who belongs to
-- it; nothing otherwise. SECURITY DEFINER because users' RLS shows each caller only their own row.
CREATE OR REPLACE FUNCTION app.project_members(p_project_id uuid)
  RETURNS TABLE (user_id uuid, display_name text, avatar_url text, joined_at timestamptz, is_creator boolean)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
    SELECT up.user_id, u.display_name, u.avatar_url, up.created_at,
           (d.created_by IS NOT NULL AND d.created_by = up.user_id)
      FROM user_projects up
      JOIN users u ON u.user_id = up.user_id
      JOIN dossier d ON d.project_id = up.project_id
     WHERE up.project_id = p_project_id
       AND app.is_project_member(p_project_id)
     ORDER BY up.created_at, up.user_id
  $$;

-- Whether a user exists, for adding a member by id (users' RLS hides every row but the caller's). It tells
-- no more than the membership's foreign key would.
CREATE OR REPLACE FUNCTION app.user_exists(p_user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ SELECT EXISTS (SELECT 1 FROM users WHERE user_id = p_user_id) $$;

REVOKE ALL ON FUNCTION app.project_members(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.user_exists(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION app.touch_project_activity_from_session() FROM PUBLIC;
REVOKE ALL ON FUNCTION app.touch_project_activity_from_dossier() FROM PUBLIC;
REVOKE ALL ON FUNCTION app.remove_sessions_of_ended_membership() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.project_members(uuid), app.user_exists(uuid) TO parley_app;
