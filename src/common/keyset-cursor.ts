import { AppError } from './app-error.js';
import { isUuid } from './uuid.js';

/**
 * The opaque `next_cursor` of a keyset-paginated list: a position in the list, the (timestamp, id) of the last
 * row of a page, as base64url of `<tag>|<timestamp>|<id>`. Each list has its own tag (below), so a cursor of
 * one list is refused by another. The timestamp is PostgreSQL's own text in UTC at microsecond precision
 * (`2026-11-26T09:24:36.123456Z`): a JavaScript Date keeps only milliseconds, and two rows a few microseconds
 * apart would be skipped or repeated.
 *
 * Loads neither Nest nor Prisma: the benchmarks import it.
 */
export interface CursorCodec<P> {
  encode(position: P): string;
  /** Anything this API did not produce (for this list) is a 400 naming `cursor`. */
  decode(text: string): P;
}

/** The position a codec carries, e.g. `CursorPosition<typeof SESSION_CURSOR>`. */
export type CursorPosition<C> = C extends CursorCodec<infer P> ? P : never;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const TEXT = /^[A-Za-z0-9_-]{1,200}$/;

function invalid(): AppError {
  const message = 'is not a cursor this API returned';
  return AppError.validation(`Invalid request: cursor: ${message}`, [{ field: 'cursor', message }]);
}

/**
 * A real calendar instant PostgreSQL can hold (rejects 2026-02-30, 25:00 and the year 0000, which JavaScript
 * reads as 1 BC but PostgreSQL refuses), so PostgreSQL never sees a bad timestamp.
 */
function isValidTimestamp(text: string): boolean {
  if (!TIMESTAMP.test(text) || text.startsWith('0000')) return false;
  const millis = `${text.slice(0, 23)}Z`;
  const date = new Date(millis);
  return !Number.isNaN(date.getTime()) && date.toISOString() === millis;
}

/**
 * The codec of one list: `tag` tells its cursors apart from other lists' (and from a later format of its own);
 * `atKey` and `idKey` name the position's fields.
 */
export function keysetCursor<A extends string, I extends string>(
  tag: string,
  atKey: A,
  idKey: I,
): CursorCodec<Record<A, string> & Record<I, string>> {
  type Position = Record<A, string> & Record<I, string>;
  return {
    encode(position: Position): string {
      return Buffer.from(`${tag}|${position[atKey]}|${position[idKey]}`, 'utf8').toString('base64url');
    },
    decode(text: string): Position {
      if (!TEXT.test(text)) throw invalid();
      const parts = Buffer.from(text, 'base64url').toString('utf8').split('|');
      if (parts.length !== 3 || parts[0] !== tag) throw invalid();
      const [, at, id] = parts;
      if (!isValidTimestamp(at) || !isUuid(id)) throw invalid();
      return { [atKey]: at, [idKey]: id.toLowerCase() } as Position;
    },
  };
}

const UNPINNED_SESSION_CURSOR = keysetCursor('v1', 'lastMessageAt', 'sessionId');
const PINNED_SESSION_CURSOR = keysetCursor('v1p', 'lastMessageAt', 'sessionId');

/** A position in a caller's session list: (pinned, last_message_at, session_id) of a page's last session. */
export interface SessionCursor {
  lastMessageAt: string;
  sessionId: string;
  /** In the pinned part of the list (which comes first). */
  pinned: boolean;
}

/**
 * A caller's session list, pinned sessions first: the tag says which part of the list the position is in
 * (`v1p` pinned, `v1` the rest, so cursors issued before pins existed keep working).
 */
export const SESSION_CURSOR: CursorCodec<SessionCursor> = {
  encode(position) {
    return (position.pinned ? PINNED_SESSION_CURSOR : UNPINNED_SESSION_CURSOR).encode(position);
  },
  decode(text) {
    const pinned = Buffer.from(text, 'base64url').toString('utf8').startsWith('v1p|');
    return { ...(pinned ? PINNED_SESSION_CURSOR : UNPINNED_SESSION_CURSOR).decode(text), pinned };
  },
};

/** A caller's project list: (last_activity_at, project_id) of a page's last project. */
export const PROJECT_CURSOR = keysetCursor('p1', 'lastActivityAt', 'projectId');
export type ProjectCursor = CursorPosition<typeof PROJECT_CURSOR>;

const RANK = /^\d{1,6}(\.\d{1,6})?$/;

/**
 * A ranked list's cursor: base64url of `<tag>|<rank>|<timestamp>|<id>`, the (rank, timestamp, id) of a page's
 * last row, the rank as the decimal text PostgreSQL printed (at most 6 decimals, so it goes back exactly).
 */
export function rankedKeysetCursor(tag: string): CursorCodec<{ rank: string; at: string; id: string }> {
  return {
    encode(position) {
      return Buffer.from(`${tag}|${position.rank}|${position.at}|${position.id}`, 'utf8').toString(
        'base64url',
      );
    },
    decode(text) {
      if (!TEXT.test(text)) throw invalid();
      const parts = Buffer.from(text, 'base64url').toString('utf8').split('|');
      if (parts.length !== 4 || parts[0] !== tag) throw invalid();
      const [, rank, at, id] = parts;
      if (!RANK.test(rank) || !isValidTimestamp(at) || !isUuid(id)) throw invalid();
      return { rank, at, id: id.toLowerCase() };
    },
  };
}

/** Search results: (rank, created_at, id) of a page's last hit. */
export const SEARCH_CURSOR = rankedKeysetCursor('s1');
export type SearchCursor = CursorPosition<typeof SEARCH_CURSOR>;
