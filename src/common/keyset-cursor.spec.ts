import { AppError } from './app-error.js';
import { keysetCursor, PROJECT_CURSOR, SESSION_CURSOR } from './keyset-cursor.js';

const AT = '2026-11-26T09:24:36.123457Z';
const ID = '7d3c4b1e-2f7a-4c55-9d0e-2b8f5f1c9a10';
const encode = (raw: string) => Buffer.from(raw).toString('base64url');

function rejection(decode: () => unknown): AppError {
  let error: unknown;
  try {
    decode();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('keyset cursors', () => {
  describe.each([
    ['session', SESSION_CURSOR, 'v1', { lastMessageAt: AT, sessionId: ID, pinned: false }],
    ['pinned session', SESSION_CURSOR, 'v1p', { lastMessageAt: AT, sessionId: ID, pinned: true }],
    ['project', PROJECT_CURSOR, 'p1', { lastActivityAt: AT, projectId: ID }],
  ] as const)('the %s list', (_list, codec, tag, position) => {
    const decode = (text: string) => (codec.decode as (text: string) => unknown)(text);

    it('round-trips the position with its microseconds, as url-safe text', () => {
      const text = (codec.encode as (p: typeof position) => string)(position);
      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decode(text)).toEqual(position);
    });

    it(`keeps the format of the cursors already handed out (base64url of \`${tag}|<timestamp>|<id>\`)`, () => {
      const issued = encode(`${tag}|${AT}|${ID}`);
      expect((codec.encode as (p: typeof position) => string)(position)).toBe(issued);
      expect(decode(issued)).toEqual(position);
    });

    it('reads an upper-case id as the lower-case one', () => {
      expect(decode(encode(`${tag}|${AT}|${ID.toUpperCase()}`))).toEqual(position);
    });

    it.each([
      ['not base64url', '!!!'],
      ['empty', ''],
      ['base64url of junk', encode('hello')],
      ['another version', encode(`v2|${AT}|${ID}`)],
      ['a millisecond timestamp', encode(`${tag}|2026-11-26T09:24:36.123Z|${ID}`)],
      ['a date that does not exist', encode(`${tag}|2026-02-30T09:24:36.123457Z|${ID}`)],
      ['an hour that does not exist', encode(`${tag}|2026-02-03T25:24:36.123457Z|${ID}`)],
      ['a malformed id', encode(`${tag}|${AT}|nope`)],
      ['an extra part', encode(`${tag}|${AT}|${ID}|x`)],
      ['too long', 'A'.repeat(201)],
    ])('rejects %s with a 400 naming cursor', (_label, text) => {
      const error = rejection(() => decode(text));
      expect(error.status).toBe(400);
      expect(error.details).toEqual([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
    });
  });

  it("refuses one list's cursor in another", () => {
    const sessions = SESSION_CURSOR.encode({ lastMessageAt: AT, sessionId: ID, pinned: false });
    const projects = PROJECT_CURSOR.encode({ lastActivityAt: AT, projectId: ID });
    expect(rejection(() => PROJECT_CURSOR.decode(sessions)).status).toBe(400);
    expect(rejection(() => SESSION_CURSOR.decode(projects)).status).toBe(400);
  });

  it('names the position fields as the list asks', () => {
    const codec = keysetCursor('s1', 'rankedAt', 'hitId');
    expect(codec.decode(codec.encode({ rankedAt: AT, hitId: ID }))).toEqual({ rankedAt: AT, hitId: ID });
  });
});
