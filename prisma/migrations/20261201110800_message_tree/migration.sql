-- Conversations as trees: edit a question or regenerate an answer without losing what was there.
--
-- chat_messages.parent_id is the message this one answers or follows (NULL for a first message). Editing a
-- question writes a new user message beside it (same parent); regenerating an answer writes a new assistant
-- message beside it. Nothing is deleted. sessions.current_leaf_id is the end of the branch the user is on:
-- the messages from the root down to it are what GET .../messages returns by default and what the model reads.
--
-- Reading a branch must not cost what the session's depth costs (a recursive walk up 50,000 parents would), so
-- every message also carries its place:
--   depth    its position on its branch: the number of messages above it (0 for a first message);
--   line_id  the "line" it belongs to. A message's first reply continues its parent's line; any later reply
--            (an edit, a regeneration) starts a new line named by its own message_id. A line is therefore a
--            straight run of messages at consecutive depths, and (line_id, depth) is unique.
-- The branch ending at a message is a few lines ("segments"): its own line from the line's first message down
-- to it, then the parent line up to the fork, and so on, one segment per fork on the path (app.branch_of).
-- A page of a branch is then an index range scan on (line_id, depth) per segment, whatever the session's size.
--
-- Writers: a trigger fills depth and line_id from the parent (which must be a message of the same session).
-- A writer that names no parent (raw SQL, older code) continues after the session's newest message; a writer
-- that wants a new first message (editing the first question) names no parent and sets depth to 0.
--
-- Counters follow the current branch: message_count is the number of messages on it (the leaf's depth + 1),
-- last_message_preview the first 200 characters of the leaf. last_message_at stays the session's activity: the
-- newest message on any branch (what the session list sorts by).
--
-- Deleting a message deletes its subtree (the replies and branches under it) in the same statement; when the
-- current leaf goes, the session's newest remaining message becomes the leaf. No route deletes single
-- messages; this keeps maintenance deletes consistent.
--
-- sessions.client_chat_id: the id a client such as the AI SDK's useChat generates for a chat (short, not a
-- UUID), unique per user; POST /api/v1/chat finds or creates the session by it.

ALTER TABLE chat_messages ADD COLUMN parent_id uuid, ADD COLUMN depth integer, ADD COLUMN line_id uuid;
ALTER TABLE sessions ADD COLUMN current_leaf_id uuid, ADD COLUMN client_chat_id text;

-- Existing conversations become one line each, in their order (created_at, then seq). updated_at stays.
ALTER TABLE chat_messages DISABLE TRIGGER chat_messages_set_updated_at;
WITH chained AS (
  SELECT m.message_id,
         lag(m.message_id) OVER w AS parent_id,
         (row_number() OVER w - 1)::int AS depth,
         first_value(m.message_id) OVER w AS line_id
    FROM chat_messages m
  WINDOW w AS (PARTITION BY m.session_id ORDER BY m.created_at, m.seq)
)
UPDATE chat_messages m
   SET parent_id = c.parent_id, depth = c.depth, line_id = c.line_id
  FROM chained c
 WHERE c.message_id = m.message_id;
ALTER TABLE chat_messages ENABLE TRIGGER chat_messages_set_updated_at;
ALTER TABLE chat_messages ALTER COLUMN depth SET NOT NULL, ALTER COLUMN line_id SET NOT NULL;

ALTER TABLE sessions DISABLE TRIGGER sessions_set_updated_at;
UPDATE sessions s
   SET current_leaf_id = l.message_id, message_count = l.depth + 1, last_message_preview = left(l.content, 200)
  FROM (SELECT DISTINCT ON (m.session_id) m.session_id, m.message_id, m.depth, m.content
          FROM chat_messages m
         ORDER BY m.session_id, m.created_at DESC, m.seq DESC) l
 WHERE s.session_id = l.session_id;
ALTER TABLE sessions ENABLE TRIGGER sessions_set_updated_at;

CREATE UNIQUE INDEX chat_messages_line_id_depth_key ON chat_messages (line_id, depth);
-- Siblings (a message's parent's replies, in order) and the subtree of a deleted message.
CREATE INDEX chat_messages_parent_id_seq_idx ON chat_messages (parent_id, seq);
-- Siblings of first messages.
CREATE INDEX chat_messages_roots_idx ON chat_messages (session_id, seq) WHERE parent_id IS NULL;
CREATE UNIQUE INDEX sessions_user_id_client_chat_id_key ON sessions (user_id, client_chat_id)
  WHERE client_chat_id IS NOT NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_client_chat_id_length CHECK (char_length(client_chat_id) BETWEEN 1 AND 200);

-- ---------------------------------------------------------------------------------------------------------
-- Placing a new message: parent, depth and line. Row level, BEFORE INSERT: rows written earlier by the same
-- statement are visible, so a multi-row INSERT of a conversation chains as it goes.
-- ---------------------------------------------------------------------------------------------------------
CREATE FUNCTION app.place_message() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  DECLARE
    parent_depth integer;
    parent_line uuid;
  BEGIN
    -- Two replies to the same message at once would both take the parent's line: writers in a session queue
    -- here (the statement's counters update takes the same row lock a moment later anyway).
    PERFORM 1 FROM sessions s WHERE s.session_id = NEW.session_id FOR NO KEY UPDATE;
    IF NEW.parent_id IS NULL AND NEW.depth IS NULL THEN
      SELECT m.message_id INTO NEW.parent_id
        FROM chat_messages m
       WHERE m.session_id = NEW.session_id
       ORDER BY m.created_at DESC, m.seq DESC
       LIMIT 1;
    END IF;
    IF NEW.parent_id IS NULL THEN
      NEW.depth := 0;
      NEW.line_id := NEW.message_id;
      RETURN NEW;
    END IF;
    SELECT m.depth, m.line_id INTO parent_depth, parent_line
      FROM chat_messages m
     WHERE m.message_id = NEW.parent_id AND m.session_id = NEW.session_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'parent message % is not a message of session %', NEW.parent_id, NEW.session_id
        USING ERRCODE = '23503';
    END IF;
    NEW.depth := parent_depth + 1;
    IF EXISTS (SELECT 1 FROM chat_messages c WHERE c.line_id = parent_line AND c.depth = parent_depth + 1) THEN
      NEW.line_id := NEW.message_id;
    ELSE
      NEW.line_id := parent_line;
    END IF;
    RETURN NEW;
  END
  $$;

CREATE TRIGGER chat_messages_place BEFORE INSERT ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION app.place_message();

-- A message's place in its tree never changes (its subtree's depths and lines depend on it).
CREATE FUNCTION app.guard_message_place() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF NEW.parent_id IS DISTINCT FROM OLD.parent_id OR NEW.depth <> OLD.depth OR NEW.line_id <> OLD.line_id
       OR NEW.session_id <> OLD.session_id THEN
      RAISE EXCEPTION 'a message keeps its session, parent, depth and line' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END
  $$;

CREATE TRIGGER chat_messages_guard_place BEFORE UPDATE OF parent_id, depth, line_id, session_id ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION app.guard_message_place();

-- ---------------------------------------------------------------------------------------------------------
-- Counters. The current leaf decides message_count and last_message_preview (sessions' BEFORE UPDATE trigger
-- below); the message triggers move the leaf and last_message_at.
-- ---------------------------------------------------------------------------------------------------------
CREATE FUNCTION app.follow_current_leaf() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF NEW.current_leaf_id IS NULL THEN
      NEW.message_count := 0;
      NEW.last_message_preview := NULL;
      RETURN NEW;
    END IF;
    SELECT m.depth + 1, left(m.content, 200) INTO NEW.message_count, NEW.last_message_preview
      FROM chat_messages m
     WHERE m.message_id = NEW.current_leaf_id AND m.session_id = NEW.session_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'current leaf % is not a message of session %', NEW.current_leaf_id, NEW.session_id
        USING ERRCODE = '23503';
    END IF;
    RETURN NEW;
  END
  $$;

CREATE TRIGGER sessions_follow_current_leaf BEFORE INSERT OR UPDATE OF current_leaf_id ON sessions
  FOR EACH ROW EXECUTE FUNCTION app.follow_current_leaf();

-- New messages: last_message_at moves forward; a message written under the current leaf (or into an empty
-- session) extends the current branch and becomes the leaf (the deepest of the statement's rows). Messages
-- written elsewhere (an edit, a regeneration) leave the leaf where it is: their writer moves it explicitly.
CREATE OR REPLACE FUNCTION update_session_last_message() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE sessions s
       SET last_message_at = CASE WHEN s.current_leaf_id IS NULL THEN n.newest_at
                                  ELSE GREATEST(s.last_message_at, n.newest_at) END,
           current_leaf_id = CASE WHEN s.current_leaf_id IS NULL OR s.current_leaf_id = ANY (n.parents)
                                  THEN n.deepest ELSE s.current_leaf_id END
      FROM (
        SELECT m.session_id,
               max(m.created_at) AS newest_at,
               (array_agg(m.message_id ORDER BY m.depth DESC, m.seq DESC))[1] AS deepest,
               array_agg(m.parent_id) AS parents
          FROM new_messages m
         GROUP BY m.session_id
      ) n
     WHERE s.session_id = n.session_id;
    RETURN NULL;
  END
  $$;

-- The leaf's text changed (a reply saved in steps): the preview follows.
CREATE FUNCTION app.preview_follows_leaf() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE sessions s
       SET last_message_preview = left(NEW.content, 200)
     WHERE s.session_id = NEW.session_id AND s.current_leaf_id = NEW.message_id
       AND s.last_message_preview IS DISTINCT FROM left(NEW.content, 200);
    RETURN NULL;
  END
  $$;

CREATE TRIGGER chat_messages_preview_follows_leaf AFTER UPDATE OF content ON chat_messages
  FOR EACH ROW WHEN (NEW.content IS DISTINCT FROM OLD.content) EXECUTE FUNCTION app.preview_follows_leaf();

-- Deleted messages take their subtrees with them (one nested statement for all of it); then, per session,
-- last_message_at is the newest remaining message (the session's created_at when none remains) and a leaf that
-- is gone is replaced by the newest remaining message. Sessions being deleted are skipped.
CREATE OR REPLACE FUNCTION update_session_after_message_delete() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    -- Only when something is left under a deleted message: the nested DELETE fires this trigger again.
    IF EXISTS (SELECT 1 FROM old_messages o JOIN chat_messages c ON c.parent_id = o.message_id
                WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = o.session_id)) THEN
      DELETE FROM chat_messages d
       WHERE d.message_id IN (
         WITH RECURSIVE below AS (
           SELECT c.message_id
             FROM old_messages o
             JOIN chat_messages c ON c.parent_id = o.message_id
           UNION ALL
           SELECT c.message_id FROM below b JOIN chat_messages c ON c.parent_id = b.message_id
         )
         SELECT message_id FROM below);
    END IF;

    UPDATE sessions s
       SET last_message_at = COALESCE(n.created_at, s.created_at),
           current_leaf_id = CASE WHEN EXISTS (SELECT 1 FROM chat_messages l WHERE l.message_id = s.current_leaf_id)
                                  THEN s.current_leaf_id ELSE n.message_id END
      FROM (SELECT DISTINCT session_id FROM old_messages) d
      LEFT JOIN LATERAL (
        SELECT m.message_id, m.created_at
          FROM chat_messages m
         WHERE m.session_id = d.session_id
         ORDER BY m.created_at DESC, m.seq DESC
         LIMIT 1
      ) n ON true
     WHERE s.session_id = d.session_id;
    RETURN NULL;
  END
  $$;

-- ---------------------------------------------------------------------------------------------------------
-- Reading a branch.
-- ---------------------------------------------------------------------------------------------------------

-- The branch from the root down to p_message_id, as segments: (line, first depth, last depth), one per line
-- on the path, the message's own line first. Two primary-key probes per fork on the path; nothing per message.
CREATE FUNCTION app.branch_of(p_message_id uuid)
  RETURNS TABLE (line_id uuid, lo integer, hi integer)
  LANGUAGE sql STABLE
  AS $$
    WITH RECURSIVE seg AS (
      SELECT m.line_id, f.depth AS lo, m.depth AS hi, f.parent_id AS fork_parent
        FROM chat_messages m
        JOIN chat_messages f ON f.message_id = m.line_id
       WHERE m.message_id = p_message_id
      UNION ALL
      SELECT p.line_id, f.depth, p.depth, f.parent_id
        FROM seg
        JOIN chat_messages p ON p.message_id = seg.fork_parent
        JOIN chat_messages f ON f.message_id = p.line_id
    )
    SELECT seg.line_id, seg.lo, seg.hi FROM seg
  $$;

-- A page of the session's current branch (or, with p_before, of the branch through that message), as
-- get_session_messages pages the whole session: p_before / p_after (a message of the session; p_after must be
-- on the current branch) give the page just above / below it, p_latest the newest p_limit messages, otherwise
-- p_limit messages from the p_offset-th. On a branch a message's depth is its position, so every page is a
-- depth range read from the (line_id, depth) index. Raises P0002 when the anchor is not in the session (or,
-- for p_after, not on the current branch).
CREATE FUNCTION get_branch_messages(
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
    leaf uuid;
    leaf_depth integer;
    anchor_depth integer;
    anchor_line uuid;
    from_depth integer;
    to_depth integer;
    branch_end uuid;
  BEGIN
    IF p_before IS NOT NULL OR p_after IS NOT NULL THEN
      SELECT m.depth, m.line_id INTO anchor_depth, anchor_line
        FROM chat_messages m
       WHERE m.message_id = COALESCE(p_before, p_after) AND m.session_id = p_session_id;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'anchor message not found in session' USING ERRCODE = 'P0002';
      END IF;
    END IF;

    IF p_before IS NOT NULL THEN
      branch_end := p_before;
      from_depth := anchor_depth - p_limit;
      to_depth := anchor_depth - 1;
    ELSE
      SELECT s.current_leaf_id INTO leaf FROM sessions s WHERE s.session_id = p_session_id;
      IF leaf IS NULL THEN
        IF p_after IS NOT NULL THEN
          RAISE EXCEPTION 'anchor message not on the current branch' USING ERRCODE = 'P0002';
        END IF;
        RETURN;
      END IF;
      SELECT m.depth INTO leaf_depth FROM chat_messages m WHERE m.message_id = leaf;
      branch_end := leaf;
      IF p_after IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM app.branch_of(leaf) b
                        WHERE b.line_id = anchor_line AND anchor_depth BETWEEN b.lo AND b.hi) THEN
          RAISE EXCEPTION 'anchor message not on the current branch' USING ERRCODE = 'P0002';
        END IF;
        from_depth := anchor_depth + 1;
        to_depth := anchor_depth + p_limit;
      ELSIF p_latest THEN
        from_depth := leaf_depth - p_limit + 1;
        to_depth := leaf_depth;
      ELSE
        from_depth := p_offset;
        to_depth := p_offset + p_limit - 1;
      END IF;
    END IF;

    RETURN QUERY
      SELECT m.*
        FROM app.branch_of(branch_end) b
        JOIN chat_messages m
          ON m.line_id = b.line_id
         AND m.depth BETWEEN GREATEST(b.lo, from_depth) AND LEAST(b.hi, to_depth)
       WHERE b.lo <= to_depth AND b.hi >= from_depth;
  END
  $$;

GRANT EXECUTE ON FUNCTION app.branch_of(uuid) TO parley_app;
GRANT EXECUTE ON FUNCTION get_branch_messages(uuid, integer, integer, uuid, uuid, boolean) TO parley_app;
REVOKE ALL ON FUNCTION app.place_message(), app.guard_message_place(), app.follow_current_leaf(),
  app.preview_follows_leaf() FROM PUBLIC;

ANALYZE chat_messages;
