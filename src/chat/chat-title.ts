export const TITLE_MAX_CHARS = 80;

/**
 * A new session's title: the first non-empty line of its first message, whitespace collapsed, cut at a word
 * boundary to at most 80 characters (an ellipsis marks the cut). A single word longer than that is cut hard.
 */
export function titleFromMessage(text: string, max = TITLE_MAX_CHARS): string {
  const line =
    text
      .split(/\r?\n/)
      .map((l) => l.replace(/\s+/g, ' ').trim())
      .find((l) => l.length > 0) ?? '';
  const chars = Array.from(line);
  if (chars.length <= max) return line;
  const room = chars.slice(0, max - 1).join('');
  const boundary = chars[max - 1] === ' ' ? room.length : room.lastIndexOf(' ');
  const cut = boundary > 0 ? room.slice(0, boundary) : room;
  return `${cut.replace(/[\s.,;:!?-]+$/, '')}…`;
}
