import { AppError } from '../common/app-error.js';
import { decodeSessionCursor, encodeSessionCursor } from './session-cursor.js';

describe('session cursor', () => {
  const position = {
    lastMessageAt: '2026-11-26T09:24:36.123457Z',
    sessionId: '7d3c4b1e-2f7a-4c55-9d0e-2b8f5f1c9a10',
  };

  it('round-trips the position with its microseconds, as url-safe text', () => {
    const text = encodeSessionCursor(position);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeSessionCursor(text)).toEqual(position);
  });

  const encode = (raw: string) => Buffer.from(raw).toString('base64url');
  it.each([
    ['not base64url', '!!!'],
    ['empty', ''],
    ['base64url of junk', encode('hello')],
    ['another version', encode(`v2|${position.lastMessageAt}|${position.sessionId}`)],
    ['a millisecond timestamp', encode(`v1|2026-11-26T09:24:36.123Z|${position.sessionId}`)],
    ['a date that does not exist', encode(`v1|2026-02-30T09:24:36.123457Z|${position.sessionId}`)],
    ['an hour that does not exist', encode(`v1|2026-02-03T25:24:36.123457Z|${position.sessionId}`)],
    ['a malformed id', encode(`v1|${position.lastMessageAt}|nope`)],
    ['an extra part', encode(`v1|${position.lastMessageAt}|${position.sessionId}|x`)],
    ['too long', 'A'.repeat(201)],
  ])('rejects %s with a 400 naming cursor', (_label, text) => {
    let error: unknown;
    try {
      decodeSessionCursor(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(400);
    expect((error as AppError).details).toEqual([{ field: 'cursor', message: expect.any(String) }]);
  });
});
