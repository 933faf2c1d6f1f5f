import type { AppError } from '../common/app-error.js';
import type { MessageRecord } from '../messages/messages.repository.js';
import type { SessionRecord } from '../sessions/sessions.repository.js';

/** What POST /api/v1/chat asks for. */
export interface ChatRequest {
  /** Already trimmed, 1..32,000 characters. */
  text: string;
  sessionId?: string;
  projectId?: string;
  /**
   * Where the new message goes in the session's tree (with sessionId): under this message (an edit: a sibling
   * of the message being edited), or, null, as a new first message. Absent: under the current leaf.
   */
  parentMessageId?: string | null;
  /**
   * Without sessionId (useChat's `id`): the caller's session with this id when it is one, else the client's
   * own id for the chat, naming the session per user (created on first use).
   */
  clientChatId?: string;
  /** A new session is temporary. */
  temporary?: boolean;
  /** useChat's edit: the message edited (the new one goes beside it), when it is a saved message. */
  editOf?: string;
  /**
   * From useChat's body: a parentMessageId that is not a message of the session (an id the client made up)
   * means "under the current leaf" instead of 404, and a new session ignores it.
   */
  transport?: boolean;
}

/**
 * A regeneration: a new reply beside an assistant message (or a new reply to a user message). The session
 * by id, or (useChat) by its chat id; the message by id, or (useChat) the first of `candidates` that is a
 * message of the session, else its current leaf.
 */
export interface RegenerateRequest {
  sessionId?: string;
  chatId?: string;
  messageId?: string;
  candidates?: string[];
}

/** A persisted exchange: what POST /api/v1/chat answers, and what a keyed retry replays. */
export interface ChatReply {
  session: SessionRecord;
  sessionCreated: boolean;
  userMessage: MessageRecord;
  assistantMessage: MessageRecord;
}

/** What is known before the model is called; the stream's first parts carry it. */
export interface ChatStart {
  session: SessionRecord;
  sessionCreated: boolean;
  userMessage: MessageRecord;
  /** The id the assistant message will have once saved. */
  assistantMessageId: string;
  /** A retry with a completed Idempotency-Key: the stored reply; nothing new was written. */
  replayed: boolean;
}

/** How an exchange ended: a saved reply (complete, partial or aborted), or a failure with no reply saved. */
export type ChatEnd = { kind: 'replied'; reply: ChatReply } | { kind: 'failed'; error: AppError };

/**
 * One chat exchange in flight. `deltas` yields the reply's text as it arrives and ends with the model call;
 * `end` resolves (never rejects) once the outcome is saved. The generation runs on its own: a client that
 * stops reading only aborts it through the signal it was given, and the partial reply is still saved.
 */
export interface ChatRun {
  start: ChatStart;
  deltas: AsyncIterable<string>;
  end: Promise<ChatEnd>;
}

/** What a keyed request committed before calling the model, so a retry can continue it (stored as JSON). */
export interface PreparedRef {
  session_id: string;
  user_message_id: string;
  session_created: boolean;
  /** A regeneration: the reply becomes the session's current leaf when saved. */
  regenerate?: boolean;
}
