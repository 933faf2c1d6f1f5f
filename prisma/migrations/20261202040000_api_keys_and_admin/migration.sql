-- API keys and administration (issue 13 §3 and §4).
--
-- API keys: `pk_<prefix>_<secret>`; the prefix names the key, the secret is stored only as its SHA-256. Owners
-- see and revoke their own keys (parley_app, RLS). A request carrying a key is resolved by
-- app.api_key_caller(), SECURITY DEFINER, before the request's own transaction: it answers the key's owner
-- and scopes only for a live key of an enabled user.
--
-- Administration: users.role ('user' | 'admin') and users.disabled_at. A disabled user is refused by
-- app.assert_user_exists() (the first statement of every request: 401), and their keys resolve to nobody.
-- Admin work runs as its own role, parley_admin (NOLOGIN, no BYPASSRLS), whose policies all require
-- app.is_admin(): the caller in app.user_id is an enabled admin. Every admin action is appended to
-- admin_audit, which nobody may update or delete.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'parley_admin') THEN
    BEGIN
      CREATE ROLE parley_admin NOLOGIN NOINHERIT NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- another database of the same cluster created it at the same moment
    END;
  END IF;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    GRANT parley_admin TO CURRENT_USER;
  END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------------------
-- Roles of users, and disabled accounts
-- ---------------------------------------------------------------------------------------------------------
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user' CONSTRAINT users_role_check CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
CREATE INDEX users_created_at_user_id_idx ON users (created_at DESC, user_id DESC);

-- Request roles other than parley_admin never set a role or disable anyone, not even their own row (a user
-- may insert and update their own row: sign-up, profile). The migrating role and parley_admin may.
CREATE OR REPLACE FUNCTION app.guard_user_privileges() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF current_user IN ('parley_app', 'parley_legacy', 'parley_auth') THEN
      IF TG_OP = 'INSERT' AND (NEW.role <> 'user' OR NEW.disabled_at IS NOT NULL) THEN
        RAISE EXCEPTION 'only administrators grant roles' USING ERRCODE = '42501';
      END IF;
      IF TG_OP = 'UPDATE' AND (NEW.role IS DISTINCT FROM OLD.role OR NEW.disabled_at IS DISTINCT FROM OLD.disabled_at) THEN
        RAISE EXCEPTION 'only administrators change roles and disable users' USING ERRCODE = '42501';
      END IF;
    END IF;
    RETURN NEW;
  END
  $$;
REVOKE ALL ON FUNCTION app.guard_user_privileges() FROM PUBLIC;
CREATE TRIGGER users_guard_privileges BEFORE INSERT OR UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION app.guard_user_privileges();

-- A disabled user is no caller: every request's first statement refuses them (28000, answered 401).
CREATE OR REPLACE FUNCTION app.assert_user_exists(p_user_id uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE user_id = p_user_id AND disabled_at IS NULL) THEN
      RAISE EXCEPTION 'unknown user' USING ERRCODE = '28000';
    END IF;
    RETURN true;
  END
  $$;

-- Whether the transaction's caller is an enabled administrator. Every parley_admin policy asks it.
CREATE OR REPLACE FUNCTION app.is_admin() RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
    SELECT EXISTS (SELECT 1 FROM users
                    WHERE user_id = app.current_user_id() AND role = 'admin' AND disabled_at IS NULL)
  $$;
REVOKE ALL ON FUNCTION app.is_admin() FROM PUBLIC;

-- The first statement of an admin transaction: 28000 for an unknown or disabled caller (401), PA403 for a
-- caller who is not an administrator (403).
CREATE OR REPLACE FUNCTION app.assert_admin(p_user_id uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
  DECLARE
    v_role text;
  BEGIN
    SELECT role INTO v_role FROM users WHERE user_id = p_user_id AND disabled_at IS NULL;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'unknown user' USING ERRCODE = '28000';
    END IF;
    IF v_role <> 'admin' THEN
      RAISE EXCEPTION 'not an administrator' USING ERRCODE = 'PA403';
    END IF;
    RETURN true;
  END
  $$;
REVOKE ALL ON FUNCTION app.assert_admin(uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------------
-- API keys
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE api_keys (
  key_id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  -- `pk_` and 12 characters: shown in lists, and how a presented key is found.
  prefix       text        NOT NULL UNIQUE,
  -- SHA-256 of the secret part (32 random bytes): never readable by request roles.
  secret_hash  bytea       NOT NULL,
  scopes       text[]      NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 3 AND scopes <@ ARRAY['read', 'write', 'chat']),
  created_at   timestamptz NOT NULL DEFAULT current_timestamp,
  last_used_at timestamptz,
  expires_at   timestamptz
);
CREATE INDEX api_keys_user_id_created_at_idx ON api_keys (user_id, created_at DESC, key_id DESC);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_owner ON api_keys TO parley_app
  USING (user_id = (SELECT app.current_user_id()))
  WITH CHECK (user_id = (SELECT app.current_user_id()));
GRANT SELECT (key_id, user_id, name, prefix, scopes, created_at, last_used_at, expires_at) ON api_keys TO parley_app;
GRANT INSERT (user_id, name, prefix, secret_hash, scopes, expires_at), DELETE ON api_keys TO parley_app;

-- The owner and scopes of a presented key: only a key that exists, matches, has not expired and belongs to
-- an enabled user (no row otherwise). Records its use, at most once a minute. Parameters: prefix, SHA-256
-- of the secret.
CREATE OR REPLACE FUNCTION app.api_key_caller(p_prefix text, p_secret_hash bytea)
  RETURNS TABLE (caller uuid, key_scopes text[])
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
  DECLARE
    k record;
  BEGIN
    SELECT a.key_id, a.user_id, a.scopes, a.last_used_at INTO k
      FROM api_keys a JOIN users u ON u.user_id = a.user_id
     WHERE a.prefix = p_prefix AND a.secret_hash = p_secret_hash
       AND (a.expires_at IS NULL OR a.expires_at > current_timestamp)
       AND u.disabled_at IS NULL;
    IF NOT FOUND THEN
      RETURN;
    END IF;
    IF k.last_used_at IS NULL OR k.last_used_at < current_timestamp - interval '1 minute' THEN
      UPDATE api_keys SET last_used_at = current_timestamp WHERE key_id = k.key_id;
    END IF;
    caller := k.user_id;
    key_scopes := k.scopes;
    RETURN NEXT;
  END
  $$;
REVOKE ALL ON FUNCTION app.api_key_caller(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.api_key_caller(text, bytea) TO parley_app;

-- ---------------------------------------------------------------------------------------------------------
-- The audit log: append-only for everyone
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE admin_audit (
  audit_id    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- No foreign keys: the log outlives the users it names.
  actor_id    uuid        NOT NULL,
  action      text        NOT NULL,
  target_type text,
  target_id   text,
  request_id  text,
  details     jsonb
);
CREATE INDEX admin_audit_at_idx ON admin_audit (at DESC, audit_id DESC);

CREATE OR REPLACE FUNCTION app.refuse_audit_change() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = '42501';
  END
  $$;
REVOKE ALL ON FUNCTION app.refuse_audit_change() FROM PUBLIC;
CREATE TRIGGER admin_audit_append_only BEFORE UPDATE OR DELETE ON admin_audit
  FOR EACH ROW EXECUTE FUNCTION app.refuse_audit_change();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit
  FOR EACH STATEMENT EXECUTE FUNCTION app.refuse_audit_change();

ALTER TABLE admin_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_audit FORCE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------------------------------------
-- The administrator's role: explicit policies, each requiring an enabled admin as the caller
-- ---------------------------------------------------------------------------------------------------------
CREATE POLICY users_admin_select ON users FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY users_admin_update ON users FOR UPDATE TO parley_admin
  USING ((SELECT app.is_admin())) WITH CHECK ((SELECT app.is_admin()));
CREATE POLICY users_admin_delete ON users FOR DELETE TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY dossier_admin_select ON dossier FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY dossier_admin_delete ON dossier FOR DELETE TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY user_projects_admin_select ON user_projects FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY sessions_admin_select ON sessions FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY chat_messages_admin_select ON chat_messages FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY turns_admin_select ON turns FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY turns_admin_delete ON turns FOR DELETE TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY api_keys_admin_select ON api_keys FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY admin_audit_admin_select ON admin_audit FOR SELECT TO parley_admin USING ((SELECT app.is_admin()));
CREATE POLICY admin_audit_admin_insert ON admin_audit FOR INSERT TO parley_admin
  WITH CHECK ((SELECT app.is_admin()) AND actor_id = (SELECT app.current_user_id()));

GRANT USAGE ON SCHEMA app, public TO parley_admin;
GRANT EXECUTE ON FUNCTION app.current_user_id(), app.is_admin(), app.assert_admin(uuid) TO parley_admin;
GRANT SELECT ON users, dossier, user_projects, sessions, chat_messages, turns, admin_audit TO parley_admin;
GRANT SELECT (key_id, user_id, name, prefix, scopes, created_at, last_used_at, expires_at) ON api_keys TO parley_admin;
GRANT UPDATE (role, disabled_at) ON users TO parley_admin;
GRANT DELETE ON users, dossier, turns TO parley_admin;
-- Deleting a user's projects cascades to messages, whose statement-level trigger then updates the counters of
-- their sessions as the deleting role (those sessions are gone by then). The privilege is needed for the
-- statement; with no admin UPDATE policy on sessions it reaches no row.
GRANT UPDATE ON sessions TO parley_admin;
GRANT INSERT ON admin_audit TO parley_admin;
