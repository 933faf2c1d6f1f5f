import { parseOwnersCsv, splitCsvLine } from './owners-file.js';

const P1 = '3f2a9c1e-0000-4000-8000-000000000001';
const P2 = '3f2a9c1e-0000-4000-8000-000000000002';
const U1 = 'a1b2c3d4-0000-4000-8000-00000000000a';

describe('owners file (--owners)', () => {
  it('reads project_id,owner lines with a header, comments, blank lines, quotes, CRLF and a BOM', () => {
    const file = parseOwnersCsv(
      `\uFEFFproject_id,owner\r\n# moved from the old CRM\r\n\r\n${P1},${U1.toUpperCase()}\r\n"${P2}", "Ada@Example.test" \r\n`,
    );
    expect(file.problems).toEqual([]);
    expect(file.lines).toEqual([
      { line: 4, projectId: P1, owner: U1 },
      { line: 5, projectId: P2, owner: 'Ada@Example.test' },
    ]);
  });

  it('accepts a repeated line with the same owner and refuses one with another owner, naming both lines', () => {
    const file = parseOwnersCsv(`${P1},ada@example.test\n${P1},ADA@example.test\n${P1},bob@example.test\n`);
    expect(file.lines).toHaveLength(1);
    expect(file.problems).toEqual([`line 3: project ${P1} already mapped to ada@example.test on line 1`]);
  });

  it('names every bad line: no project id, no owner, three fields, unbalanced quotes', () => {
    const file = parseOwnersCsv(
      `${P1}\nnot-a-uuid,ada@example.test\n${P2},ada@example.test,extra\n"${P1},x@y\n`,
    );
    expect(file.lines).toEqual([]);
    expect(file.problems).toEqual([
      'line 1: "" is neither a user id (UUID) nor an email',
      'line 2: "not-a-uuid" is not a project id (UUID)',
      'line 3: expected two fields (project_id,owner), found 3',
      'line 4: unbalanced quotes',
    ]);
  });

  it('a header is only recognised on the first line', () => {
    expect(parseOwnersCsv(`${P1},${U1}\nproject_id,owner\n`).problems).toEqual([
      'line 2: "project_id" is not a project id (UUID)',
    ]);
  });

  it('splits on commas outside double quotes, "" being a quote', () => {
    expect(splitCsvLine('a,"b,c","d""e",')).toEqual(['a', 'b,c', 'd"e', '']);
    expect(splitCsvLine('"open')).toBeNull();
  });
});
