import DOMPurify from 'dompurify';
import { Marked } from 'marked';

/**
 * Replies are Markdown written by a model, so they are untrusted: raw HTML in them is shown as text (never
 * parsed), and marked's output goes through DOMPurify, which drops scripts, event-handler attributes and
 * `javascript:`/`data:` URLs. Links open in a new tab without access to this one.
 */
const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html: ({ text }) => escapeHtml(text),
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe'],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/(?!\/))/i,
};

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(marked.parse(text) as string, SANITIZE);
}
