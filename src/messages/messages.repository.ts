import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { prismaOf, sqlOf, type Tx } from '../database/database.service.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { apiTimestamp } from '../database/timestamps.js';
import {
  BRANCH_CONTEXT,
  contextWindow,
  INSERT_MESSAGE,
  MESSAGE_PAGE,
  MESSAGE_PAGE_ALL,
  nextContextWindow,
  sessionMessagePage,
  SYSTEM_MESSAGES,
  toMessageRecord,
  toPagedMessageRecord,
  type ContextRow,
  type MessagePageRow,
  type MessageRecord,
  type MessageRole,
  type MessageRow,
  type PagedMessageRecord,
} from './messages.sql.js';

export {
  MESSAGE_ROLES,
  type MessageRecord,
  type MessageRole,
  type PagedMessageRecord,
} from './messages.sql.js';

/**
 * Where a new message goes in the session's tree: under `parentId`, or as a new first message (`root`), or
 * (neither) under the session's current leaf, continuing the branch the user is on.
 */
export interface NewMessage {
  messageId?: string;
  sessionId: string;
  role: MessageRole;
  content: string;
  metadata?: Record<string, unknown> | null;
  turnId?: string | null;
  parentId?: string | null;
  root?: boolean;
}

/** A message of a tree written by MessagesRepository.insertTree. */
export interface TreeMessage {
  messageId: string;
  parentId: string | null;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  /** ISO 8601. */
  createdAt: string;
}

/**
 * Which messages of a session to read, oldest first. At most one of `offset > 0`, `before`, `after` and
 * `latest` applies (the service enforces it): the page just older than `before`, just newer than `after`, the
 * newest page (`latest`), or LIMIT/OFFSET from the oldest.
 */
export interface MessageWindow {
  /** `current`: the session's current branch (root to current leaf); `all`: every message of the tree. */
  branch: 'current' | 'all';
  limit: number;
  offset: number;
  before?: string;
  after?: string;
  latest: boolean;
}

export interface MessagePageRows {
  /** How many messages the paged sequence holds: the current branch's (message_count), or the whole tree's. */
  total: number;
  messages: PagedMessageRecord[];
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
  /**
   * Raw SQL: two per chat exchange. created_at is the transaction's start (the column's default). A parent
   * that is not a message of the session raises SQLSTATE 23503.
   */
  async insert(tx: Tx, message: NewMessage): Promise<MessageRecord> {
    const [row] = await sqlOf(tx).query<MessageRow>(INSERT_MESSAGE, [
      message.messageId ?? randomUUID(),
      message.sessionId,
      message.role,
      message.content,
      message.metadata == null ? null : JSON.stringify(message.metadata),
      message.turnId ?? null,
      message.parentId ?? null,
      message.root === true,
    ]);
    return toMessageRecord(row);
  }

  /**
   * A page of `ownerId`'s session, oldest first: of its current branch through get_branch_messages (depth
   * ranges on the branch's lines), or of the whole tree through get_session_messages (keyset on (created_at,
   * seq)); for before/after/latest the cost does not grow with depth. Null when the session is missing, not
   * visible or not `ownerId`'s. One statement: the session check and the page share a round trip
   * (MESSAGE_PAGE). One row more than the page is fetched to learn whether more lie beyond it. An anchor that
   * is not a message of the session (for `after` on the current branch: not on that branch) raises P0002.
   */
  async page(
    tx: Tx,
    ownerId: string,
    sessionId: string,
    window: MessageWindow,
  ): Promise<MessagePageRows | null> {
    const sql = window.branch === 'all' ? MESSAGE_PAGE_ALL : MESSAGE_PAGE;
    const rows = await sqlOf(tx).query<MessagePageRow>(sql, [
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
    return { total: result.total, messages: result.page.map(toPagedMessageRecord), hasMore: result.hasMore };
  }

  /** A message of the session (of any session with `sessionId` null), if the caller may see it. */
  async findInSession(tx: Tx, sessionId: string | null, messageId: string): Promise<MessageRecord | null> {
    const row = await prismaOf(tx).chatMessage.findFirst({
      where: sessionId === null ? { messageId } : { messageId, sessionId },
      select: {
        messageId: true,
        sessionId: true,
        turnId: true,
        parentId: true,
        depth: true,
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
   * The user/assistant messages of the branch ending at `anchor` (the message being answered, at `depth` on
   * its branch), newest first, read CONTEXT_PAGE positions at a time until they hold at least `minChars`
   * characters (or the branch's first message is reached). Other branches are never read.
   */
  async newestMessages(
    tx: Tx,
    anchor: { messageId: string; depth: number },
    minChars: number,
  ): Promise<ContextEntry[]> {
    const out: ContextEntry[] = [];
    let chars = 0;
    let window = contextWindow(anchor.depth);
    while (window) {
      const rows: ContextRow[] = await sqlOf(tx).query<ContextRow>(BRANCH_CONTEXT, [
        anchor.messageId,
        window.lo,
        window.hi,
      ]);
      for (const row of rows) {
        out.push({ role: row.role, content: row.content });
        chars += row.content.length;
      }
      window = nextContextWindow(window, chars, minChars);
    }
    return out;
  }

  /** The system-role messages on the branch ending at `anchorMessageId`, oldest first. */
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

  /**
   * Writes messages of a tree into a session in one statement, in the order given (parents before their
   * replies): each names its parent (null: a first message, depth 0), and the placing trigger gives it its
   * depth and line. For imports.
   */
  async insertTree(tx: Tx, sessionId: string, messages: readonly TreeMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await sqlOf(tx).query(
      `INSERT INTO chat_messages (message_id, session_id, role, content, metadata, created_at, parent_id, depth)
       SELECT r.message_id, $1::uuid, r.role, r.content, r.metadata, r.created_at, r.parent_id,
              CASE WHEN r.parent_id IS NULL THEN 0 END
         FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS o(item, ord),
              jsonb_to_record(o.item) AS r(message_id uuid, role text, content text, metadata jsonb,
                                           created_at timestamptz, parent_id uuid)
        ORDER BY o.ord`,
      [
        sessionId,
        JSON.stringify(
          messages.map((m) => ({
            message_id: m.messageId,
            role: m.role,
            content: m.content,
            metadata: m.metadata,
            created_at: m.createdAt,
            parent_id: m.parentId,
          })),
        ),
      ],
    );
  }
}
