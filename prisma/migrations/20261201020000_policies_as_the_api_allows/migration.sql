-- The database backstop, round 2 (issue 12, items 9-11): request roles get from the policies exactly what the
-- API lets them do, and the SECURITY DEFINER helpers cannot be fooled with temporary tables.
--
-- 1. A member could take over a project: `UPDATE dossier SET created_by = <self>`, delete the creator's
--    membership (its trigger then deletes the creator's sessions in the project), then delete the project. Now:
--    - request traffic changes only a project's title (a trigger refuses any other change with 42501), so
--      created_by never changes by request and "created_by = caller" keeps meaning the creator;
--    - a membership ends by request only as the API allows (app.may_end_membership): a member leaves (not the
--      creator, and not the last member of a project without a creator), the creator removes others, and in a
--      project without a creator any member removes others. The creator's own membership ends only with the
--      project (or the creator's account, by cascade).
-- 2. A member could rewrite and claim the unattributed legacy turns of a shared project. Now turns are
--    read-only to request traffic but for what the legacy POST /chat writes: a new turn in the caller's own
--    name (parley_app: in a project they belong to, linked to none or one of their sessions there), or an
--    anonymous one in a dossier without members (parley_legacy, as before), and then its reply. Request roles
--    change no column of a turn but assistant_text (a trigger), parley_app only on its own turns, which it
--    may also delete (its legacy text, e.g. when its account goes).
-- 3. SECURITY DEFINER functions set search_path = pg_catalog, public, which leaves pg_temp searched FIRST for
--    tables: a caller's `CREATE TEMP TABLE user_projects (...)` with a forged row made app.is_project_member()
--    answer true for any project. Every such function now searches pg_temp last, and the request roles may not
--    create temporary tables in this database at all (TEMPORARY revoked from PUBLIC, which every role gets it
--    from, and from the request roles; the migrating role keeps it for the legacy importer's own temp tables).

-- ---------------------------------------------------------------------------------------------------------
-- 3. pg_temp last in every SECURITY DEFINER function of the schemas Parley owns (app and public), whichever
--    migration made it. test/policy-matrix.e2e-spec.ts fails for any later one that forgets it.
-- ---------------------------------------------------------------------------------------------------------
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosecdef AND n.nspname IN ('app', 'public')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp', f);
  END LOOP;
END
$$;

-- Only this database: TEMPORARY is a per-database privilege that PUBLIC holds by default. Revoking it needs the
-- database's owner (or a superuser); a migrating role that is neither gets a warning from PostgreSQL, and
-- another below, and the search_path above still protects the helpers.
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, parley_app, parley_legacy', current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
  IF has_database_privilege('parley_app', current_database(), 'TEMPORARY')
     OR has_database_privilege('parley_legacy', current_database(), 'TEMPORARY') THEN
    RAISE WARNING 'the request roles can still create temporary tables in database %: revoke TEMPORARY from PUBLIC as its owner', current_database();
  END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------------------
-- 1. Projects: only the title changes by request; memberships end as the API allows.
-- ---------------------------------------------------------------------------------------------------------

-- Policies cannot compare a row's new values with its old ones, so a BEFORE UPDATE trigger does: parley_app may
-- change a project's title (updated_at follows by its own trigger) and nothing else; parley_legacy cannot
-- change anything. Rows a policy hides are never reached (the UPDATE matches nothing, as before); a forbidden change
-- to a row the caller may update is refused with 42501. Referential actions (created_by set NULL when its user
-- is deleted) run as the table's owner and pass.
CREATE FUNCTION app.guard_dossier_update() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
  AS $$
  BEGIN
    IF current_user = 'parley_legacy'
       OR (current_user = 'parley_app'
           AND (to_jsonb(NEW) - 'title' - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'title' - 'updated_at'))
    THEN
      RAISE EXCEPTION 'request traffic may change only the title of a project' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END
  $$;
REVOKE ALL ON FUNCTION app.guard_dossier_update() FROM PUBLIC;
CREATE TRIGGER dossier_guard_request_update BEFORE UPDATE ON dossier
  FOR EACH ROW EXECUTE FUNCTION app.guard_dossier_update();

-- Whether the caller may end p_user_id's membership of p_project_id (the DELETE policy of user_projects). Reads
-- user_projects and dossier with RLS bypassed, as the policies' other helpers do.
CREATE FUNCTION app.may_end_membership(p_project_id uuid, p_user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
    SELECT EXISTS (
      SELECT 1
        FROM public.dossier d
       WHERE d.project_id = p_project_id
         AND d.created_by IS DISTINCT FROM p_user_id
         AND app.is_project_member(p_project_id)
         AND CASE
               -- Leaving: in a project without a creator, only while another member stays.
               WHEN p_user_id = app.current_user_id() THEN
                 d.created_by IS NOT NULL
                 OR EXISTS (SELECT 1 FROM public.user_projects up
                             WHERE up.project_id = p_project_id AND up.user_id <> p_user_id)
               -- Removing someone else: the creator, or any member of a project without one.
               ELSE d.created_by IS NULL OR d.created_by = app.current_user_id()
             END
    )
  $$;
REVOKE ALL ON FUNCTION app.may_end_membership(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.may_end_membership(uuid, uuid) TO parley_app;

DROP POLICY user_projects_delete ON user_projects;
CREATE POLICY user_projects_delete ON user_projects FOR DELETE TO parley_app
  USING (app.may_end_membership(project_id, user_id));

-- ---------------------------------------------------------------------------------------------------------
-- 2. Turns: read-only but for the legacy POST /chat's own new turn.
-- ---------------------------------------------------------------------------------------------------------

-- Request traffic changes only a turn's reply (assistant_text); which turns, the policies decide.
CREATE FUNCTION app.guard_turn_update() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
  AS $$
  BEGIN
    IF current_user IN ('parley_app', 'parley_legacy')
       AND (to_jsonb(NEW) - 'assistant_text') IS DISTINCT FROM (to_jsonb(OLD) - 'assistant_text')
    THEN
      RAISE EXCEPTION 'request traffic may change only the reply of a turn' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END
  $$;
REVOKE ALL ON FUNCTION app.guard_turn_update() FROM PUBLIC;
CREATE TRIGGER turns_guard_request_update BEFORE UPDATE ON turns
  FOR EACH ROW EXECUTE FUNCTION app.guard_turn_update();

-- parley_app: the one policy for every command becomes one per command.
DROP POLICY turns_member ON turns;
-- A user's own turns, and the not-yet-attributed turns of projects they belong to (read only).
CREATE POLICY turns_select ON turns FOR SELECT TO parley_app
  USING (
    user_id = (SELECT app.current_user_id())
    OR (user_id IS NULL
        AND project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id())))
  );
-- A new turn in the caller's name, in a project they belong to, recorded in none or one of their sessions there.
CREATE POLICY turns_insert ON turns FOR INSERT TO parley_app
  WITH CHECK (
    user_id = (SELECT app.current_user_id())
    AND project_id IN (SELECT up.project_id FROM user_projects up WHERE up.user_id = (SELECT app.current_user_id()))
    AND (session_id IS NULL
         OR EXISTS (SELECT 1 FROM sessions s
                     WHERE s.session_id = turns.session_id
                       AND s.user_id = (SELECT app.current_user_id())
                       AND s.project_id = turns.project_id))
  );
-- The reply of the caller's own turn (the trigger above keeps every other column as it was).
CREATE POLICY turns_update ON turns FOR UPDATE TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));
-- The caller's own legacy text.
CREATE POLICY turns_delete ON turns FOR DELETE TO parley_app
  USING (user_id = (SELECT app.current_user_id()));
