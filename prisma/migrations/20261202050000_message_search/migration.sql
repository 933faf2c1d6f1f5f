-- Full-text search over a user's messages and session titles (issue 15 §1; docs/search.md).
--
-- message_search: one row per message (its owner, session, role and time copied, and its words as a
-- tsvector), written by triggers on chat_messages in the writer's statement, deleted with the message (foreign
-- key, ON DELETE CASCADE). A table of its own rather than a column of chat_messages: no tsvector ever comes out
-- of a SELECT * of chat_messages (Prisma's raw queries cannot read one, and get_session_messages returns
-- whole rows), and message pages do not carry the vectors.
--
-- The vector holds the message's words in the configured language plus one lexeme naming its owner ('@' and
-- the owner's id without hyphens, a word the parser never produces). One GIN index holds both, so a search
-- asks for "the query AND the owner's lexeme" and GIN intersects the posting lists, stepping through the
-- larger with the smaller: one user's search never reads another user's rows and does not walk everyone's
-- postings of a common word. That is what btree_gin's (user_id, vector) index would give, without an
-- extension: PGlite 0.5 ships btree_gin only as a module every PGlite.create must load (the app, the migrate
-- command, the legacy importer, the tests), and an opener that forgot it could not write a message any more.
--
-- Titles are matched at query time over the caller's own sessions (see src/search/search.sql.ts).
--
-- The language is a setting of the database (search_settings, one row), read by the triggers and the search;
-- SEARCH_LANGUAGE is applied at start by app.use_search_language(), which re-indexes when it changes. Text is
-- indexed with <, > and & read as spaces, so words inside markup (<div>, a&b) are words.

CREATE TABLE search_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  language text NOT NULL DEFAULT 'simple'
);
INSERT INTO search_settings DEFAULT VALUES;
-- Read by SECURITY DEFINER functions only: request roles get no privilege, and RLS is forced with no policy.
ALTER TABLE search_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_settings FORCE ROW LEVEL SECURITY;

CREATE FUNCTION app.search_config() RETURNS regconfig
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$ SELECT language::regconfig FROM public.search_settings $$;

-- The text that is indexed and that snippets are cut from: <, > and & as spaces.
CREATE FUNCTION app.search_text(p_text text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT translate(p_text, '<>&', '   ') $$;

CREATE FUNCTION app.owner_lexeme(p_user_id uuid) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT '@' || replace(p_user_id::text, '-', '') $$;

-- The query term that restricts a search to one owner's messages.
CREATE FUNCTION app.owner_query(p_user_id uuid) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT quote_literal(app.owner_lexeme(p_user_id))::tsquery $$;

CREATE FUNCTION app.message_search_vector(p_content text, p_user_id uuid) RETURNS tsvector
  LANGUAGE sql STABLE
  AS $$
    SELECT to_tsvector(app.search_config(), app.search_text(p_content))
           || array_to_tsvector(ARRAY[app.owner_lexeme(p_user_id)])
  $$;

CREATE TABLE message_search (
  message_id uuid PRIMARY KEY REFERENCES chat_messages (message_id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  session_id uuid NOT NULL,
  role text NOT NULL,
  created_at timestamptz NOT NULL,
  vector tsvector NOT NULL
);
ALTER TABLE message_search ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_search FORCE ROW LEVEL SECURITY;
-- Request traffic reads its own rows; only the triggers below (SECURITY DEFINER) write.
CREATE POLICY message_search_owner_select ON message_search FOR SELECT TO parley_app
  USING (user_id = (SELECT app.current_user_id()));
GRANT SELECT ON message_search TO parley_app;

INSERT INTO message_search (message_id, user_id, session_id, role, created_at, vector)
SELECT message_id, user_id, session_id, role, created_at, app.message_search_vector(content, user_id)
  FROM chat_messages;

CREATE INDEX message_search_vector_idx ON message_search USING gin (vector);
-- The search's session filter, and message deletion's cascade finds rows by the primary key.
CREATE INDEX message_search_session_id_idx ON message_search (session_id);

-- New messages, one statement at a time (a bulk import is one INSERT ... SELECT here).
CREATE FUNCTION app.index_new_messages() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
  BEGIN
    INSERT INTO message_search (message_id, user_id, session_id, role, created_at, vector)
    SELECT m.message_id, m.user_id, m.session_id, m.role, m.created_at, app.message_search_vector(m.content, m.user_id)
      FROM new_messages m;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER chat_messages_index_search AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION app.index_new_messages();

-- A message's text changed (a reply saved in steps) or its owner moved (ON UPDATE CASCADE): its row follows.
CREATE FUNCTION app.reindex_message() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
  BEGIN
    UPDATE message_search
       SET vector = app.message_search_vector(NEW.content, NEW.user_id), user_id = NEW.user_id,
           role = NEW.role, created_at = NEW.created_at
     WHERE message_id = NEW.message_id;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER chat_messages_reindex_search AFTER UPDATE OF content, user_id, role, created_at ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION app.reindex_message();

-- Applies SEARCH_LANGUAGE (called at start through the maintenance connection). Unchanged: nothing happens.
-- Changed: the setting and every vector are rewritten in this transaction. An unknown configuration raises
-- 42704. Instances starting together queue on the settings row.
CREATE FUNCTION app.use_search_language(p_language text) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog, public, pg_temp
  AS $$
  DECLARE
    wanted text := p_language::regconfig::text;
    current_language text;
  BEGIN
    SELECT language INTO current_language FROM public.search_settings FOR UPDATE;
    IF current_language = wanted THEN
      RETURN false;
    END IF;
    UPDATE public.search_settings SET language = wanted;
    UPDATE public.message_search s
       SET vector = app.message_search_vector(m.content, m.user_id)
      FROM public.chat_messages m
     WHERE m.message_id = s.message_id;
    RETURN true;
  END
  $$;
REVOKE ALL ON FUNCTION app.use_search_language(text), app.index_new_messages(), app.reindex_message() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.search_config(), app.search_text(text), app.owner_lexeme(uuid),
  app.owner_query(uuid), app.message_search_vector(text, uuid) TO parley_app, parley_legacy;

ANALYZE message_search;
