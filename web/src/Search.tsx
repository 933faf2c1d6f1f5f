import DOMPurify from 'dompurify';
import { useEffect, useState } from 'react';
import { Api, describeError, type SearchHit } from './api';
import { navigate } from './hash';
import { relativeTime } from './time';

/** Snippets come HTML-escaped with the matched words in <mark>: nothing else may pass. */
const snippetHtml = (snippet: string) =>
  DOMPurify.sanitize(snippet, { ALLOWED_TAGS: ['mark'], ALLOWED_ATTR: [] });

/** Results of GET /api/v1/search over every session; choosing one opens its session at that message. */
export function SearchResults({ q }: { q: string }) {
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    setLoading(true);
    setHits([]);
    Api.search(q)
      .then(
        (page) => {
          if (!current) return;
          setHits(page.data);
          setCursor(page.next_cursor);
          setProblem(null);
        },
        (error: unknown) => current && setProblem(describeError(error)),
      )
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [q]);

  const more = async () => {
    setLoading(true);
    try {
      const page = await Api.search(q, cursor);
      setHits((list) => [...list, ...page.data]);
      setCursor(page.next_cursor);
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setLoading(false);
    }
  };

  return (
    <section className="search-results" aria-labelledby="search-heading">
      <h1 id="search-heading">Results for “{q}”</h1>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {!loading && !problem && hits.length === 0 && <p className="muted">Nothing matches.</p>}
      <ul>
        {hits.map((hit) => (
          <li key={`${hit.session_id}:${hit.message_id ?? 'title'}`}>
            <a
              href={`#/s/${hit.session_id}${hit.message_id ? `?m=${hit.message_id}` : ''}`}
              onClick={(event) => {
                event.preventDefault();
                navigate(`#/s/${hit.session_id}${hit.message_id ? `?m=${hit.message_id}` : ''}`);
              }}
            >
              <span className="session-title">{hit.session_title || 'Untitled session'}</span>
              <span className="hit-snippet" dangerouslySetInnerHTML={{ __html: snippetHtml(hit.snippet) }} />
              <span className="session-meta">
                {hit.role === 'user' ? 'You' : hit.role === 'assistant' ? 'Parley' : 'Title'} ·{' '}
                <time dateTime={hit.created_at}>{relativeTime(hit.created_at)}</time>
              </span>
            </a>
          </li>
        ))}
      </ul>
      {cursor && (
        <button type="button" onClick={() => void more()} disabled={loading}>
          More results
        </button>
      )}
    </section>
  );
}
