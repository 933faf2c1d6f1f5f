import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { sqlOf, type Tx } from '../database/database.service.js';

export type MessageRole = 'user' | 'assistant' | 'system';
export const MESSAGE_ROLES: readonly MessageRole[] = ['user', 'assistant', 'system'];

export interface MessageRecord {
  messageId: string;
  sessionId: string;
  turnId: string | null;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  /** ISO 8601 in UTC to the millisecond (database/timestamps.ts). */
  createdAt: string;
  updatedAt: string;
}

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
  messages: MessageRecord[];
  /** More messages lie beyond the page in its direction: older for before/latest, newer otherwise. */
  hasMore: boolean;
}

interface MessageRow {
  message_id: string;
  session_id: string;
  turn_id: string | null;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

/** SQL for chat_messages. Inserting moves the session's counters through the table's trigger. */
@Injectable()
export class MessagesRepository {
  /** Raw SQL: two per chat exchange. created_at is the transaction's start (the column's default). */
  async insert(tx: Tx, message: NewMessage): Promise<MessageRecord> {
    const [row] = await sqlOf(tx).query<MessageRow>(
      `INSERT INTO chat_messages (message_id, session_id, role, content, metadata, turn_id)
       VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6::uuid)
       RETURNING message_id, session_id, turn_id, role, content, metadata, created_at, updated_at`,
      [
        message.messageId ?? randomUUID(),
        message.sessionId,
        message.role,
        message.content,
        message.metadata == null ? null : JSON.stringify(message.metadata),
        message.turnId ?? null,
      ],
    );
    return toRecord(row);
  }

  /**
   * A page of the session's messages, oldest first, through get_session_messages (keyset on
   * (created_at, seq) for before/after/latest, so the cost does not grow with depth). One row more than the
   * page is fetched to learn whether more lie beyond it. An anchor that is not a message of the session
   * raises SQLSTATE P0002.
   */
  async page(tx: Tx, sessionId: string, window: MessageWindow): Promise<MessagePageRows> {
    const rows = await sqlOf(tx).query<MessageRow>(
      `SELECT m.message_id, m.session_id, m.turn_id, m.role, m.content, m.metadata, m.created_at, m.updated_at
         FROM get_session_messages($1::uuid, $2::int, $3::int, $4::uuid, $5::uuid, $6::boolean) m
        ORDER BY m.created_at, m.seq`,
      [
        sessionId,
        window.limit + 1,
        window.offset,
        window.before ?? null,
        window.after ?? null,
        window.latest,
      ],
    );
    const hasMore = rows.length > window.limit;
    // Backwards pages (before, latest) are the newest limit+1 rows: the surplus one is the oldest.
    const backwards = window.before !== undefined || window.latest;
    const page = hasMore ? (backwards ? rows.slice(1) : rows.slice(0, window.limit)) : rows;
    return { messages: page.map(toRecord), hasMore };
  }
}

function toRecord(row: MessageRow): MessageRecord {
  return {
    messageId: row.message_id,
    sessionId: row.session_id,
    turnId: row.turn_id,
    role: row.role,
    content: row.content,
    metadata: row.metadata,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
