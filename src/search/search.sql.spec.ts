import { SEARCH_CURSOR } from '../common/keyset-cursor.js';
import { queryProblem, snippetHtml } from './search.sql.js';

describe('search snippets and cursor', () => {
  it('escapes the text and turns only the private-use markers into <mark> tags', () => {
    expect(snippetHtml('a \uE000word\uE001 & <b> "q" \'s\' \uE002tag\uE003 \uE004')).toBe(
      'a <mark>word</mark> &amp; &lt;b&gt; &quot;q&quot; &#39;s&#39; &lt;tag&gt; &amp;',
    );
  });

  it('says why a parsed query cannot run: no word, or only excluded words', () => {
    expect(queryProblem('')).toBe('no-words');
    expect(queryProblem('T')).toBe('only-excluded');
    expect(queryProblem("'apple' & !'pie'")).toBeNull();
  });

  it('round-trips a (rank, timestamp, id) position and refuses anything else', () => {
    const position = {
      rank: '0.060793',
      at: '2026-12-01T10:00:00.123456Z',
      id: '0b6f3c1a-9d2e-4f7b-8a61-5c2d9e4f1a37',
    };
    expect(SEARCH_CURSOR.decode(SEARCH_CURSOR.encode(position))).toEqual(position);
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    for (const text of [
      forged(`v1|${position.at}|${position.id}`),
      forged(`s1|1e5|${position.at}|${position.id}`),
      forged(`s1|-1|${position.at}|${position.id}`),
      forged(`s1|0.1|2026-02-30T10:00:00.000000Z|${position.id}`),
      forged(`s1|0.1|${position.at}|nope`),
    ])
      expect(() => SEARCH_CURSOR.decode(text)).toThrow(/cursor/);
  });
});
