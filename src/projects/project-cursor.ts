import { AppError } from '../common/app-error.js';
import { isUuid } from '../common/uuid.js';

/**
 * A position in a caller's project list: the (last_activity_at, project_id) of the last project of a page.
 * The timestamp is PostgreSQL's own text in UTC at microsecond precision (`2026-11-26T09:24:36.123456Z`):
 * a JavaScript Date keeps only milliseconds, and two projects a few microseconds apart would be skipped or
 * repeated.
 */
export interface ProjectCursor {
  lastActivityAt: string;
  projectId: string;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const VERSION = 'p1';

/** The opaque cursor text: base64url of `p1|<timestamp>|<project id>`. */
export function encodeProjectCursor(cursor: ProjectCursor): string {
  return Buffer.from(`${VERSION}|${cursor.lastActivityAt}|${cursor.projectId}`, 'utf8').toString('base64url');
}

function invalid(): AppError {
  const message = 'is not a cursor this API returned';
  return AppError.validation(`Invalid request: cursor: ${message}`, [{ field: 'cursor', message }]);
}

/** A real calendar instant (rejects 2026-02-30 and 25:00), so PostgreSQL never sees a bad timestamp. */
function isValidTimestamp(text: string): boolean {
  if (!TIMESTAMP.test(text)) return false;
  const millis = `${text.slice(0, 23)}Z`;
  const date = new Date(millis);
  return !Number.isNaN(date.getTime()) && date.toISOString() === millis;
}

/** Reads a cursor from the query string; anything this API did not produce is a 400 naming `cursor`. */
export function decodeProjectCursor(text: string): ProjectCursor {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw invalid();
  const parts = Buffer.from(text, 'base64url').toString('utf8').split('|');
  if (parts.length !== 3 || parts[0] !== VERSION) throw invalid();
  const [, lastActivityAt, projectId] = parts;
  if (!isValidTimestamp(lastActivityAt) || !isUuid(projectId)) throw invalid();
  return { lastActivityAt, projectId: projectId.toLowerCase() };
}
