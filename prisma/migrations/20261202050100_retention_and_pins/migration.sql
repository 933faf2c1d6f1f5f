-- Retention, temporary sessions and pins (issue 15 §4; docs/architecture.md "Retention and pins").
--
-- sessions.temporary: made with {temporary: true}; expires TEMP_SESSION_RETENTION_HOURS after its creation.
-- Other sessions expire SESSION_RETENTION_DAYS after their last activity (last_message_at) when that is set.
-- sessions.pinned: listed first, and never expires.
-- The two settings live in retention_settings (one row, applied at start like the search language), so that
-- the database itself decides what has expired: a RESTRICTIVE policy hides an expired session from request
-- traffic the moment it expires (404 everywhere a session is read, written or chatted into), before the purge
-- job (app.purge_expired_sessions, one instance at a time under an advisory lock) deletes it with its messages,
-- their search rows, its replies' stream chunks and its stored idempotent replies.

ALTER TABLE sessions ADD COLUMN pinned boolean NOT NULL DEFAULT false,
                     ADD COLUMN temporary boolean NOT NULL DEFAULT false;

CREATE TABLE retention_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  temporary_hours integer NOT NULL DEFAULT 24 CHECK (temporary_hours > 0),
  session_days integer CHECK (session_days > 0)
);
INSERT INTO retention_settings DEFAULT VALUES;
ALTER TABLE retention_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_settings FORCE ROW LEVEL SECURITY;

-- When a session expires: NULL for never (pinned, or an ordinary session without SESSION_RETENTION_DAYS).
CREATE FUNCTION app.session_expires_at(p_pinned boolean, p_temporary boolean, p_created_at timestamptz,
                                       p_last_message_at timestamptz) RETURNS timestamptz
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
    SELECT CASE WHEN p_pinned THEN NULL
                WHEN p_temporary THEN p_created_at + make_interval(hours => r.temporary_hours)
                WHEN r.session_days IS NULL THEN NULL
                ELSE p_last_message_at + make_interval(days => r.session_days) END
      FROM public.retention_settings r
  $$;
GRANT EXECUTE ON FUNCTION app.session_expires_at(boolean, boolean, timestamptz, timestamptz) TO parley_app, parley_legacy;

CREATE POLICY sessions_not_expired ON sessions AS RESTRICTIVE FOR ALL TO parley_app
  USING (COALESCE(app.session_expires_at(pinned, temporary, created_at, last_message_at) > now(), true));

-- Applies TEMP_SESSION_RETENTION_HOURS and SESSION_RETENTION_DAYS (NULL: forever) at start.
CREATE FUNCTION app.use_retention(p_temporary_hours integer, p_session_days integer) RETURNS void
  LANGUAGE sql
  SET search_path = pg_catalog, public, pg_temp
  AS $$
    UPDATE public.retention_settings SET temporary_hours = p_temporary_hours, session_days = p_session_days
     WHERE temporary_hours IS DISTINCT FROM p_temporary_hours OR session_days IS DISTINCT FROM p_session_days
  $$;
REVOKE ALL ON FUNCTION app.use_retention(integer, integer) FROM PUBLIC;

-- Deletes up to p_limit sessions expired at p_now, with everything that hangs on them: messages (and their
-- search rows), replies being generated, stored idempotent replies (foreign keys, ON DELETE CASCADE) and the
-- generations' stream chunks (no foreign key: deleted here). NULL when another instance holds the purge.
CREATE FUNCTION app.purge_expired_sessions(p_now timestamptz, p_limit integer) RETURNS integer
  LANGUAGE plpgsql
  SET search_path = pg_catalog, public, pg_temp
  AS $$
  DECLARE
    expired uuid[];
    purged integer;
  BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('parley:purge_expired_sessions')) THEN
      RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(x.session_id), '{}') INTO expired
      FROM (SELECT s.session_id FROM sessions s
             WHERE app.session_expires_at(s.pinned, s.temporary, s.created_at, s.last_message_at) <= p_now
             LIMIT p_limit) x;
    DELETE FROM chat_generation_chunks c
     WHERE c.message_id IN (SELECT g.message_id FROM chat_generations g WHERE g.session_id = ANY (expired)
                            UNION ALL
                            SELECT m.message_id FROM chat_messages m WHERE m.session_id = ANY (expired));
    DELETE FROM sessions s WHERE s.session_id = ANY (expired);
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
  END
  $$;
REVOKE ALL ON FUNCTION app.purge_expired_sessions(timestamptz, integer) FROM PUBLIC;

-- Pinned first: the list's order is (pinned, last_message_at, session_id), all descending.
DROP INDEX IF EXISTS sessions_user_id_last_message_at_session_id_idx;
DROP INDEX IF EXISTS sessions_user_id_project_id_last_message_at_session_id_idx;
CREATE INDEX sessions_user_id_pinned_last_message_at_session_id_idx
  ON sessions (user_id, pinned DESC, last_message_at DESC, session_id DESC);
CREATE INDEX sessions_user_id_project_id_pinned_last_message_at_session_id_idx
  ON sessions (user_id, project_id, pinned DESC, last_message_at DESC, session_id DESC);

DROP FUNCTION get_user_sessions(uuid, integer, timestamptz, uuid, uuid, boolean);
-- A page of the user's sessions, pinned first, then most recent activity. The cursor is the last session's
-- (pinned, last_message_at, session_id); p_before_pinned defaults to false (an unpinned position).
CREATE FUNCTION get_user_sessions(
  p_user_id uuid,
  p_limit integer DEFAULT 10,
  p_before_at timestamptz DEFAULT NULL,
  p_before_id uuid DEFAULT NULL,
  p_project_id uuid DEFAULT NULL,
  p_is_active boolean DEFAULT NULL,
  p_before_pinned boolean DEFAULT false
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
  last_message_preview text,
  pinned boolean,
  temporary boolean
)
  LANGUAGE sql STABLE
  AS $$
    SELECT s.session_id, s.user_id, s.project_id, s.title, s.created_at, s.updated_at, s.last_message_at,
           s.is_active, s.message_count, s.last_message_preview, s.pinned, s.temporary
      FROM sessions s
     WHERE s.user_id = p_user_id
       AND (p_project_id IS NULL OR s.project_id = p_project_id)
       AND (p_is_active IS NULL OR s.is_active = p_is_active)
       AND (p_before_at IS NULL
            OR (s.pinned, s.last_message_at, s.session_id) < (p_before_pinned, p_before_at, p_before_id))
     ORDER BY s.pinned DESC, s.last_message_at DESC, s.session_id DESC
     LIMIT p_limit
  $$;
GRANT EXECUTE ON FUNCTION get_user_sessions(uuid, integer, timestamptz, uuid, uuid, boolean, boolean) TO parley_app;
