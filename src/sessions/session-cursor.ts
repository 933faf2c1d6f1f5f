import { AppError } from '../common/app-error.js';
import { isUuid } from '../common/uuid.js';

/**
 * A position in a caller's session list: the (last_message_at, session_id) of the last session of a page.
 * `lastMessageAt` is PostgreSQL's own text for the timestamp, in UTC at full microsecond precision
 * (`2026-11-26T09:24:36.123456Z`), because a JavaScript Date keeps only milliseconds and two sessions a few
 * microseconds apart would be skipped or repeated.
 */
export interface SessionCursor {
  lastMessageAt: string;
  sessionId: string;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/;
const VERSION = 'v1';

/** The opaque cursor text: base64url of `v1|<timestamp>|<session id>`. */
export function encodeSessionCursor(cursor: SessionCursor): string {
  return Buffer.from(`${VERSION}|${cursor.lastMessageAt}|${cursor.sessionId}`, 'utf8').toString('base64url');
}

function invalid(): AppError {
  const message = 'is not a cursor this API returned';
  return AppError.validation(`Invalid request: cursor: ${message}`, [{ field: 'cursor', message }]);
}

/** A real calendar instant (rejects 2026-02-30 and 25:00), so PostgreSQL never sees a bad timestamp. */
function isValidTimestamp(text: string): boolean {
  const match = TIMESTAMP.exec(text);
  if (!match) return false;
  const millis = text.slice(0, 23) + 'Z';
  const date = new Date(millis);
  return !Number.isNaN(date.getTime()) && date.toISOString() === millis;
}

/** Reads a cursor from a query string; anything this API did not produce is a 400 naming `cursor`. */
export function decodeSessionCursor(text: string): SessionCursor {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw invalid();
  const parts = Buffer.from(text, 'base64url').toString('utf8').split('|');
  if (parts.length !== 3 || parts[0] !== VERSION) throw invalid();
  const [, lastMessageAt, sessionId] = parts;
  if (!isValidTimestamp(lastMessageAt) || !isUuid(sessionId)) throw invalid();
  return { lastMessageAt, sessionId: sessionId.toLowerCase() };
}
