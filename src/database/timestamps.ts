import pg from 'pg';

/**
 * Parley's timestamps leave it as ISO 8601 text in UTC to the millisecond, "2026-11-26T15:07:27.123Z" (what
 * Date#toJSON prints, and what the OpenAPI document calls date-time).
 *
 * On the raw-SQL paths (sqlOf) a timestamptz column arrives as that text: PostgreSQL's own
 * "2026-11-26 15:07:27.123456+00" is cut to the millisecond, instead of being parsed into a Date and printed
 * again when the response is serialized. A message page of 50 carries 100 timestamps and a list of 100
 * sessions 300; parsing them (postgres-date) and printing them back (Date#toJSON, a call out of
 * JSON.stringify for each) was about a quarter of the CPU a message costs (docs/performance.md, fix 8).
 *
 * The fast path needs the UTC form PostgreSQL prints when the session's TimeZone is UTC (the pool asks for
 * it); any other form (another time zone, years before 1000 or after 9999, BC, infinity) goes through
 * postgres-date and Date, exactly as before. The fraction is truncated to milliseconds, like a Date holds it.
 */
const UTC_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/;
const parseWithDate = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (
  text: string,
) => Date | number;

export function apiTimestampFromText(text: string): string {
  const match = UTC_TIMESTAMP.exec(text);
  if (match !== null) {
    const fraction = match[3];
    const millis =
      fraction === undefined ? '000' : fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0');
    return `${match[1]}T${match[2]}.${millis}Z`;
  }
  const parsed = parseWithDate(text);
  // ±infinity: postgres-date gives a number; no Parley column holds one, but say what PostgreSQL said.
  return typeof parsed === 'number' ? text : parsed.toISOString();
}

/** The same text for a timestamp that came through Prisma (a Date) or through raw SQL (already text). */
export function apiTimestamp(value: Date | string): string {
  return typeof value === 'string' ? value : value.toISOString();
}

/**
 * pg type parsers for the raw-SQL paths: timestamptz as API text, everything else as pg parses it. Prisma's
 * adapter passes its own parsers with every query, so its results are unaffected.
 */
export const RAW_SQL_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.TIMESTAMPTZ && format !== 'binary'
      ? apiTimestampFromText
      : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};
