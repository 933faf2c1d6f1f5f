import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { prismaOf, sqlOf, type Tx } from '../database/database.service.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { apiTimestamp } from '../database/timestamps.js';
import {
  CONTEXT_PAGE,
  INSERT_MESSAGE,
  MESSAGE_PAGE,
  NEWEST_MESSAGES,
  nextContextCursor,
  sessionMessagePage,
  SYSTEM_MESSAGES,
  toMessageRecord,
  type ContextRow,
  type MessagePageRow,
  type MessageRecord,
  type MessageRole,
  type MessageRow,
} from './messages.sql.js';

export { MESSAGE_ROLES, type MessageRecord, type MessageRole } from './messages.sql.js';

export interface NewMessage {
  messageId?: string;
  sessionId: string;
  role: MessageRole;
  content: string;
  metadata?: Record<string, unknown> | null;
  turnId?: string | null;
}

/**
 * Which messages of a session to read, oldest first. At most one of `offset > 0`, `before`, `after` and
 * `latest` applies (the service enforces it): the page just older than `before`, just newer than `after`, the
 * newest page (`latest`), or LIMIT/OFFSET from the oldest.
 */
export interface MessageWindow {
  limit: number;
  offset: number;
  before?: string;
  after?: string;
  latest: boolean;
}

export interface MessagePageRows {
  /** The session's message count (its counter column). */
  total: number;
  messages: MessageRecord[];
  /** More messages lie beyond the page in its direction: older for before/latest, newer otherwise. */
  hasMore: boolean;
}

/** A message as a model's context needs it. */
export interface ContextEntry {
  role: MessageRole;
  content: string;
}

/**
 * SQL for chat_messages (statements in messages.sql.ts). Inserting moves the session's counters through the
 * table's trigger.
 */
@Injectable()
export class MessagesRepository {
  /** Raw SQL: two per chat exchange. created_at is the transaction's start (the column's default). */
  async insert(tx: Tx, message: NewMessage): Promise<MessageRecord> {
    const [row] = await sqlOf(tx).query<MessageRow>(INSERT_MESSAGE, [
      message.messageId ?? randomUUID(),
      message.sessionId,
      message.role,
      message.content,
      message.metadata == null ? null : JSON.stringify(message.metadata),
      message.turnId ?? null,
    ]);
    return toMessageRecord(row);
  }

  /**
   * A page of `ownerId`'s session, oldest first, through get_session_messages (keyset on (created_at, seq)
   * for before/after/latest, so the cost does not grow with depth), with the session's message count; null
   * when the session is missing, not visible or not `ownerId`'s. One statement: the session check and the
   * page share a round trip (MESSAGE_PAGE). One row more than the page is fetched to learn whether more lie
   * beyond it. An anchor that is not a message of the session raises SQLSTATE P0002.
   */
  async page(
    tx: Tx,
    ownerId: string,
    sessionId: string,
    window: MessageWindow,
  ): Promise<MessagePageRows | null> {
    const rows = await sqlOf(tx).query<MessagePageRow>(MESSAGE_PAGE, [
      sessionId,
      window.limit + 1,
      window.offset,
      window.before ?? null,
      window.after ?? null,
      window.latest,
      ownerId,
    ]);
    const backwards = window.before !== undefined || window.latest;
    const result = sessionMessagePage(rows, window.limit, backwards);
    if (!result) return null;
    return { total: result.total, messages: result.page.map(toMessageRecord), hasMore: result.hasMore };
  }

  /** A message of the session, if the caller may see it. */
  async findInSession(tx: Tx, sessionId: string, messageId: string): Promise<MessageRecord | null> {
    const row = await prismaOf(tx).chatMessage.findFirst({
      where: { messageId, sessionId },
      select: {
        messageId: true,
        sessionId: true,
        turnId: true,
        role: true,
        content: true,
        metadata: true,
        createdAt: true,
        updatedAt: true,
      },
    });
    if (!row) return null;
    const { createdAt, updatedAt, ...rest } = row;
    return {
      ...rest,
      role: rest.role as MessageRecord['role'],
      metadata: rest.metadata as MessageRecord['metadata'],
      createdAt: apiTimestamp(createdAt),
      updatedAt: apiTimestamp(updatedAt),
    };
  }

  /**
   * The session's user/assistant messages up to and including `anchorMessageId`, newest first, read page by
   * page until they hold at least `minChars` characters (or the session's beginning is reached).
   */
  async newestMessages(
    tx: Tx,
    sessionId: string,
    anchorMessageId: string,
    minChars: number,
  ): Promise<ContextEntry[]> {
    const out: ContextEntry[] = [];
    let chars = 0;
    let cursor: { at: string; seq: string } | null = null;
    for (;;) {
      const rows: ContextRow[] = await sqlOf(tx).query<ContextRow>(NEWEST_MESSAGES, [
        sessionId,
        anchorMessageId,
        cursor?.at ?? null,
        cursor?.seq ?? null,
        CONTEXT_PAGE,
      ]);
      for (const row of rows) {
        out.push({ role: row.role, content: row.content });
        chars += row.content.length;
      }
      cursor = nextContextCursor(rows, chars, minChars);
      if (!cursor) return out;
    }
  }

  /** The session's system-role messages up to `anchorMessageId`, oldest first. */
  async systemMessages(tx: Tx, sessionId: string, anchorMessageId: string): Promise<string[]> {
    const rows = await sqlOf(tx).query<{ content: string }>(SYSTEM_MESSAGES, [sessionId, anchorMessageId]);
    return rows.map((r) => r.content);
  }
  /**
   * MAINTENANCE: an assistant reply written for its owner by background work (the partial reply of an
   * instance that died), under `parentId` (the user message it answers). Nothing when the id exists already.
   */
  async insertReplyAsMaintenance(
    sql: SqlExecutor,
    message: { messageId: string; sessionId: string; parentId: string; content: string; metadata: object },
  ): Promise<void> {
    await sql.query(
      `INSERT INTO chat_messages (message_id, session_id, role, content, metadata, parent_id)
       SELECT $1::uuid, $2::uuid, 'assistant', $3, $4::jsonb, m.message_id
         FROM chat_messages m WHERE m.message_id = $5::uuid AND m.session_id = $2::uuid
       ON CONFLICT (message_id) DO NOTHING`,
      [
        message.messageId,
        message.sessionId,
        message.content,
        JSON.stringify(message.metadata),
        message.parentId,
      ],
    );
  }
}
