import { titleFromMessage } from './chat-title.js';

describe('titleFromMessage', () => {
  it('takes the first non-empty line, whitespace collapsed', () => {
    expect(titleFromMessage('\n\n  Plot   ideas \t for a thriller \nmore text')).toBe(
      'Plot ideas for a thriller',
    );
  });

  it('keeps a line of exactly 80 characters', () => {
    const line = 'w'.repeat(80);
    expect(titleFromMessage(line)).toBe(line);
  });

  it('cuts a longer line at a word boundary, at most 80 characters with the ellipsis', () => {
    const title = titleFromMessage(`${'word '.repeat(30)}end`);
    expect(title).toBe(`${'word '.repeat(16).trim()}…`);
    expect(Array.from(title).length).toBeLessThanOrEqual(80);
  });

  it('keeps a word that ends exactly where the room ends', () => {
    const line = `${'a'.repeat(78)} ${'b'.repeat(10)}`;
    expect(titleFromMessage(line)).toBe(`${'a'.repeat(78)}…`);
  });

  it('cuts a single overlong word hard and counts characters, not UTF-16 units', () => {
    expect(titleFromMessage('x'.repeat(200))).toBe(`${'x'.repeat(79)}…`);
    const emoji = titleFromMessage('😀'.repeat(100));
    expect(Array.from(emoji)).toHaveLength(80);
  });

  it('drops trailing punctuation before the ellipsis', () => {
    expect(titleFromMessage(`${'abc, '.repeat(16)}tail words here`)).toMatch(/abc…$/);
  });
});
