import type { ContextMessage } from '../llm/chat-model.js';

export interface StoredMessage {
  role: 'user' | 'assistant' | 'system';
  content: string;
}

export interface ModelContext {
  system: string;
  messages: ContextMessage[];
  /** Earlier user/assistant messages left out because they did not fit the budget. */
  dropped: number;
}

/**
 * What the model receives: the configured system prompt, then the session's own `system` messages (oldest
 * first, always kept), then as many user/assistant messages as fit in `budgetChars`, newest first, the
 * oldest dropped first. The session's system messages are counted against the budget before anything else.
 * The newest message (the user's current one) is always sent, even if it alone exceeds the budget. A
 * conversation never starts with an assistant message, and empty messages are skipped.
 *
 * `newestFirst` holds the session's user/assistant messages up to and including the current one, newest
 * first; `sessionSystem` its system messages, oldest first.
 */
export function buildContext(input: {
  systemPrompt: string;
  sessionSystem: string[];
  newestFirst: StoredMessage[];
  budgetChars: number;
}): ModelContext {
  const instructions = input.sessionSystem.map((s) => s.trim()).filter((s) => s.length > 0);
  const system = [input.systemPrompt.trim(), ...instructions].filter((s) => s.length > 0).join('\n\n');
  let remaining = input.budgetChars - instructions.reduce((sum, s) => sum + s.length, 0);

  const conversation = input.newestFirst.filter(
    (m): m is ContextMessage => m.role !== 'system' && m.content.length > 0,
  );
  const kept: ContextMessage[] = [];
  for (const message of conversation) {
    if (kept.length > 0 && message.content.length > remaining) break;
    kept.push({ role: message.role, content: message.content });
    remaining -= message.content.length;
  }
  const messages = kept.reverse();
  while (messages.length > 1 && messages[0].role === 'assistant') messages.shift();
  return { system, messages, dropped: conversation.length - messages.length };
}
