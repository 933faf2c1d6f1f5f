import { apiTimestamp, apiTimestampFromText, RAW_SQL_TYPES } from './timestamps.js';

describe('API timestamps', () => {
  it.each([
    ['2026-11-26 15:07:27.123456+00', '2026-11-26T15:07:27.123Z'],
    ['2026-11-26 15:07:27.123+00', '2026-11-26T15:07:27.123Z'],
    ['2026-11-26 15:07:27.12+00', '2026-11-26T15:07:27.120Z'],
    ['2026-11-26 15:07:27.1+00', '2026-11-26T15:07:27.100Z'],
    ['2026-11-26 15:07:27+00', '2026-11-26T15:07:27.000Z'],
    // truncated like a Date holds it, never rounded up into the next millisecond (or second)
    ['2026-12-31 23:59:59.999999+00', '2026-12-31T23:59:59.999Z'],
  ])('cuts PostgreSQL UTC text %s to %s', (text, iso) => {
    expect(apiTimestampFromText(text)).toBe(iso);
  });

  it('prints what Date#toJSON printed for the same instant', () => {
    for (let i = 0; i < 2000; i++) {
      const date = new Date(Date.UTC(2000, 0, 1) + i * 987_654_321 + (i % 1000));
      const micros = String(i % 1000).padStart(3, '0');
      const text = `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 23)}${micros}+00`;
      expect(apiTimestampFromText(text)).toBe(date.toJSON());
    }
  });

  it.each([
    ['another time zone', '2026-11-26 16:07:27.123456+01', '2026-11-26T15:07:27.123Z'],
    ['a half-hour offset', '2026-11-26 20:37:27.5+05:30', '2026-11-26T15:07:27.500Z'],
    ['a year before 1000', '0999-01-02 03:04:05+00', '0999-01-02T03:04:05.000Z'],
    ['infinity', 'infinity', 'infinity'],
  ])('falls back to a Date for %s', (_label, text, iso) => {
    expect(apiTimestampFromText(text)).toBe(iso);
  });

  it('gives a Date from Prisma the same text', () => {
    expect(apiTimestamp(new Date('2026-11-26T15:07:27.123Z'))).toBe('2026-11-26T15:07:27.123Z');
    expect(apiTimestamp('2026-11-26T15:07:27.123Z')).toBe('2026-11-26T15:07:27.123Z');
  });

  it('changes only timestamptz among pg type parsers', () => {
    const parse = RAW_SQL_TYPES.getTypeParser as (oid: number, format?: string) => (text: string) => unknown;
    expect(parse(1184, 'text')('2026-11-26 15:07:27.123456+00')).toBe('2026-11-26T15:07:27.123Z');
    expect(parse(23, 'text')('42')).toBe(42);
    expect(parse(16, 'text')('t')).toBe(true);
  });
});
