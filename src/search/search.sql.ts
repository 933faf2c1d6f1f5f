/**
 * The SQL of GET /api/v1/search and the pure functions around it (the page, the cursor's position, the
 * snippet's markers). Loads neither Nest nor Prisma: the benchmarks run the same statement.
 *
 * How it finds (prisma/migrations/20261202050000_message_search): each message's row in message_search holds
 * its words and its owner's lexeme, in one GIN index; the statement asks for the query AND the caller's lexeme
 * (app.owner_query), so GIN intersects the caller's postings with the words' and never visits another user's
 * rows. Session titles are parsed at query time over the caller's own sessions (their user_id index): no
 * stored vector on sessions, whose every index is paid each time a message moves last_message_at.
 */
import type { SearchCursor } from '../common/keyset-cursor.js';

/** Private-use characters ts_headline wraps matches in; the text around them is escaped before they become tags. */
const START = '\uE000';
const STOP = '\uE001';

/**
 * The text a snippet is cut from: the indexed text (app.search_text) with <, > and & kept as private-use
 * characters the parser reads as spaces, like the index does, and any private-use character of our own in the
 * message replaced first, so only ts_headline's markers come back as markers.
 */
const HEADLINE_TEXT = (column: string) =>
  `translate(${column}, E'\\uE000\\uE001\\uE002\\uE003\\uE004<>&', E'\\uFFFD\\uFFFD\\uFFFD\\uFFFD\\uFFFD\\uE002\\uE003\\uE004')`;

const HEADLINE_OPTIONS = `'StartSel=' || chr(57344) || ', StopSel=' || chr(57345) || ', MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'`;
const TITLE_OPTIONS = `'StartSel=' || chr(57344) || ', StopSel=' || chr(57345) || ', HighlightAll=true'`;

/**
 * One statement: the query's parse (tree: '' when it has no word, 'T' when it only excludes words; the caller
 * answers 400 for both, and the search then does not run) LEFT JOINed to the page. Parameters: user id, q,
 * project id, session id, role, from, to, include_archived, cursor rank, cursor timestamp, cursor id, limit + 1.
 * A row with null hit_id and the query's tree: no (more) hits.
 *
 * Hits are messages (content matches) and sessions (title matches; message_id and role null), ordered by
 * rank (ts_rank rounded to 6 decimals, so the cursor carries it exactly), then newest first, then id.
 */
export const SEARCH = `WITH q AS (
  SELECT query, querytree(query) AS tree, app.search_config() AS config
    FROM websearch_to_tsquery(app.search_config(), $2::text) AS query
)
SELECT q.tree, h.hit_id, h.message_id, h.session_id, h.session_title, h.role,
       h.created_at, to_char(h.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at,
       h.rank::text AS rank,
       CASE WHEN h.message_id IS NULL
            THEN ts_headline(q.config, ${HEADLINE_TEXT('h.session_title')}, q.query, ${TITLE_OPTIONS})
            ELSE ts_headline(q.config, ${HEADLINE_TEXT('m.content')}, q.query, ${HEADLINE_OPTIONS}) END AS snippet
  FROM q
  LEFT JOIN LATERAL (
    SELECT hit.*
      FROM (
        SELECT ms.message_id AS hit_id, ms.message_id, ms.session_id, s.title AS session_title, ms.role,
               ms.created_at, round(ts_rank(ms.vector, q.query)::numeric, 6) AS rank
          FROM message_search ms
          JOIN sessions s ON s.session_id = ms.session_id
         WHERE ms.vector @@ (q.query && app.owner_query($1::uuid))
           AND ms.user_id = $1::uuid
           AND ($3::uuid IS NULL OR s.project_id = $3::uuid)
           AND ($4::uuid IS NULL OR ms.session_id = $4::uuid)
           AND ($5::text IS NULL OR ms.role = $5::text)
           AND ($6::timestamptz IS NULL OR ms.created_at >= $6::timestamptz)
           AND ($7::timestamptz IS NULL OR ms.created_at < $7::timestamptz)
           AND ($8::boolean OR s.is_active)
        UNION ALL
        SELECT t.session_id, NULL, t.session_id, t.title, NULL, t.created_at,
               round(ts_rank(t.vector, q.query)::numeric, 6)
          FROM (SELECT s.session_id, s.title, s.created_at,
                       to_tsvector(q.config, app.search_text(s.title)) AS vector
                  FROM sessions s
                 WHERE s.user_id = $1::uuid
                   AND s.title IS NOT NULL
                   AND $5::text IS NULL
                   AND ($3::uuid IS NULL OR s.project_id = $3::uuid)
                   AND ($4::uuid IS NULL OR s.session_id = $4::uuid)
                   AND ($6::timestamptz IS NULL OR s.created_at >= $6::timestamptz)
                   AND ($7::timestamptz IS NULL OR s.created_at < $7::timestamptz)
                   AND ($8::boolean OR s.is_active)) t
         WHERE t.vector @@ q.query
      ) hit
     WHERE q.tree NOT IN ('', 'T')
       AND ($9::numeric IS NULL OR (hit.rank, hit.created_at, hit.hit_id) < ($9::numeric, $10::timestamptz, $11::uuid))
     ORDER BY hit.rank DESC, hit.created_at DESC, hit.hit_id DESC
     LIMIT $12::int
  ) h ON true
  LEFT JOIN chat_messages m ON m.message_id = h.message_id
 ORDER BY h.rank DESC, h.created_at DESC, h.hit_id DESC`;

/** A row of SEARCH. */
export interface SearchRow {
  tree: string;
  hit_id: string | null;
  message_id: string | null;
  session_id: string;
  session_title: string | null;
  role: string | null;
  created_at: string;
  cursor_at: string;
  rank: string;
  snippet: string;
}

export interface SearchHit {
  messageId: string | null;
  sessionId: string;
  sessionTitle: string | null;
  role: string | null;
  createdAt: string;
  snippet: string;
  rank: number;
}

/** The filters of a search, as SEARCH's parameters take them. */
export interface SearchFilter {
  userId: string;
  q: string;
  projectId?: string;
  sessionId?: string;
  role?: string;
  from?: string;
  to?: string;
  includeArchived: boolean;
  limit: number;
  after?: SearchCursor;
}

export function searchParams(filter: SearchFilter): unknown[] {
  return [
    filter.userId,
    filter.q,
    filter.projectId ?? null,
    filter.sessionId ?? null,
    filter.role ?? null,
    filter.from ?? null,
    filter.to ?? null,
    filter.includeArchived,
    filter.after?.rank ?? null,
    filter.after?.at ?? null,
    filter.after?.id ?? null,
    filter.limit + 1,
  ];
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '\uE000': '<mark>',
  '\uE001': '</mark>',
  '\uE002': '&lt;',
  '\uE003': '&gt;',
  '\uE004': '&amp;',
};

/**
 * ts_headline's output as the API's snippet: HTML-escaped text (& < > " ' as entities) in which the matched
 * words, and only they, are wrapped in <mark>…</mark>. Safe to insert as HTML; nothing else is markup.
 */
export function snippetHtml(headline: string): string {
  return headline.replace(/[&<>"'\uE000-\uE004]/g, (ch) => ESCAPES[ch]);
}

/** What the query's parse says: a query to run, or why not. */
export function queryProblem(tree: string): 'no-words' | 'only-excluded' | null {
  if (tree === '') return 'no-words';
  if (tree === 'T') return 'only-excluded';
  return null;
}

/** The page among SEARCH's rows (limit + 1 hits at most) and the position after its last hit. */
export function searchPageOfRows(
  rows: SearchRow[],
  limit: number,
): { hits: SearchHit[]; next: SearchCursor | null } {
  const found = rows.filter((row) => row.hit_id !== null);
  const page = found.slice(0, limit);
  const last = page[page.length - 1];
  return {
    hits: page.map((row) => ({
      messageId: row.message_id,
      sessionId: row.session_id,
      sessionTitle: row.session_title,
      role: row.role,
      createdAt: row.created_at,
      snippet: snippetHtml(row.snippet),
      rank: Number(row.rank),
    })),
    next:
      found.length > limit && last
        ? { rank: last.rank, at: last.cursor_at, id: last.hit_id as string }
        : null,
  };
}

export { START as SNIPPET_START_MARK, STOP as SNIPPET_STOP_MARK };
