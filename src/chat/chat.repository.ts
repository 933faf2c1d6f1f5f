import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { sqlOf, type Tx } from '../database/database.service.js';
import { apiTimestamp } from '../database/timestamps.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { Prisma } from '../generated/prisma/client.js';
import type { MessageRecord, MessageRole } from '../messages/messages.repository.js';
import type { StoredMessage } from './chat-context.js';

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_TTL_HOURS = 24;

/** Which earlier messages/turns to read for a model's context: pages of this many rows, newest first. */
const CONTEXT_PAGE = 200;

/** The progress of a keyed chat request, kept in idempotency_keys.response (see docs/chat.md). */
export type IdempotencyState =
  | { state: 'running'; started_at: string; prepared?: PreparedRef }
  | { state: 'failed'; prepared: PreparedRef }
  | { state: 'completed'; reply: unknown };

/** What a keyed request committed before calling the model, so a retry can continue it. */
export interface PreparedRef {
  session_id: string;
  user_message_id: string;
  session_created: boolean;
}

export interface IdempotencyRow {
  requestHash: string;
  state: IdempotencyState | null;
}

export interface TurnRecord {
  turnId: string;
  projectId: string;
  userText: string;
  assistantText: string | null;
  userId: string | null;
  sessionId: string | null;
  createdAt: Date;
}

interface ContextRow {
  role: MessageRole;
  content: string;
  at: string;
  seq: string;
}

interface TurnContextRow {
  user_text: string | null;
  assistant_text: string | null;
  at: string;
  turn_id: string;
}

/**
 * Chat-specific SQL: the context a model receives, Idempotency-Key records, and the legacy `turns` table.
 * Sessions, messages and projects are written through their own repositories.
 */
@Injectable()
export class ChatRepository {
  /**
   * The session's user/assistant messages up to and including `anchorMessageId`, newest first, read page by
   * page until they hold at least `minChars` characters (or the session's beginning is reached).
   */
  async newestMessages(
    tx: Tx,
    sessionId: string,
    anchorMessageId: string,
    minChars: number,
  ): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let chars = 0;
    let cursor: { at: string; seq: string } | null = null;
    for (;;) {
      const rows: ContextRow[] = await sqlOf(tx).query<ContextRow>(
        `SELECT m.role, m.content, to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
                m.seq::text AS seq
           FROM chat_messages m
          WHERE m.session_id = $1::uuid
            AND m.role IN ('user', 'assistant')
            AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a WHERE a.message_id = $2::uuid)
            AND ($3::timestamptz IS NULL OR (m.created_at, m.seq) < ($3::timestamptz, $4::bigint))
          ORDER BY m.created_at DESC, m.seq DESC
          LIMIT $5`,
        [sessionId, anchorMessageId, cursor?.at ?? null, cursor?.seq ?? null, CONTEXT_PAGE],
      );
      for (const row of rows) {
        out.push({ role: row.role, content: row.content });
        chars += row.content.length;
      }
      if (rows.length < CONTEXT_PAGE || chars >= minChars) return out;
      const last = rows[rows.length - 1];
      cursor = { at: last.at, seq: last.seq };
    }
  }

  /** The session's system-role messages up to `anchorMessageId`, oldest first. */
  async systemMessages(tx: Tx, sessionId: string, anchorMessageId: string): Promise<string[]> {
    const rows = await sqlOf(tx).query<{ content: string }>(
      `SELECT m.content
         FROM chat_messages m
        WHERE m.session_id = $1::uuid
          AND m.role = 'system'
          AND (m.created_at, m.seq) <= (SELECT a.created_at, a.seq FROM chat_messages a WHERE a.message_id = $2::uuid)
        ORDER BY m.created_at, m.seq`,
      [sessionId, anchorMessageId],
    );
    return rows.map((r) => r.content);
  }

  /** A message of the session, if the caller may see it. */
  async findMessage(tx: Tx, sessionId: string, messageId: string): Promise<MessageRecord | null> {
    const row = await tx.chatMessage.findFirst({
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

  // ---------------------------------------------------------------------------------------------------------
  // Idempotency keys (RLS: the caller's own rows only)
  // ---------------------------------------------------------------------------------------------------------

  /** Forgets the caller's keys older than the TTL, then records `key` as running unless it exists. */
  async insertKey(
    tx: Tx,
    userId: string,
    key: string,
    requestHash: string,
    state: IdempotencyState,
  ): Promise<boolean> {
    await tx.$executeRaw`
      DELETE FROM idempotency_keys
       WHERE user_id = ${userId}::uuid
         AND created_at < now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}::int)`;
    const inserted = await tx.$executeRaw`
      INSERT INTO idempotency_keys (user_id, key, request_hash, response)
      VALUES (${userId}::uuid, ${key}, ${requestHash}, ${JSON.stringify(state)}::jsonb)
      ON CONFLICT (user_id, key) DO NOTHING`;
    return inserted === 1;
  }

  /** The key's row, locked until the transaction ends (a concurrent retry waits here). */
  async lockKey(tx: Tx, userId: string, key: string): Promise<IdempotencyRow | null> {
    const [row] = await tx.$queryRaw<{ request_hash: string; response: IdempotencyState | null }[]>`
      SELECT request_hash, response FROM idempotency_keys
       WHERE user_id = ${userId}::uuid AND key = ${key}
       FOR UPDATE`;
    return row ? { requestHash: row.request_hash, state: row.response } : null;
  }

  async updateKey(tx: Tx, userId: string, key: string, state: IdempotencyState): Promise<void> {
    await tx.$executeRaw`
      UPDATE idempotency_keys SET response = ${JSON.stringify(state)}::jsonb
       WHERE user_id = ${userId}::uuid AND key = ${key}`;
  }

  async deleteKey(tx: Tx, userId: string, key: string): Promise<void> {
    await tx.$executeRaw`DELETE FROM idempotency_keys WHERE user_id = ${userId}::uuid AND key = ${key}`;
  }

  /** MAINTENANCE: forgets every user's expired keys. Returns how many. */
  async purgeExpiredKeys(sql: SqlExecutor): Promise<number> {
    const rows = await sql.query<{ n: number }>(
      `WITH gone AS (DELETE FROM idempotency_keys
                      WHERE created_at < now() - make_interval(hours => $1::int) RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [IDEMPOTENCY_TTL_HOURS],
    );
    return rows[0]?.n ?? 0;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Legacy turns
  // ---------------------------------------------------------------------------------------------------------

  /** Whether the dossier exists and the transaction's role may see it (RLS decides). */
  async dossierVisible(tx: Tx, projectId: string): Promise<boolean> {
    const row = await tx.dossier.findUnique({ where: { projectId }, select: { projectId: true } });
    return row !== null;
  }

  /** A dossier made by an anonymous legacy call: no creator, no members. */
  async createLegacyDossier(tx: Tx, title: string | null): Promise<string> {
    const row = await tx.dossier.create({
      data: { projectId: randomUUID(), title, createdBy: null },
      select: { projectId: true },
    });
    return row.projectId;
  }

  async insertTurn(
    tx: Tx,
    turn: { projectId: string; userText: string; userId?: string | null; sessionId?: string | null },
  ): Promise<TurnRecord> {
    const row = await tx.turn.create({
      data: {
        turnId: randomUUID(),
        projectId: turn.projectId,
        userText: turn.userText,
        userId: turn.userId ?? null,
        sessionId: turn.sessionId ?? null,
      },
      select: {
        turnId: true,
        projectId: true,
        userText: true,
        assistantText: true,
        userId: true,
        sessionId: true,
        createdAt: true,
      },
    });
    return row as TurnRecord;
  }

  async setTurnReply(tx: Tx, turnId: string, assistantText: string): Promise<void> {
    await tx.turn.update({ where: { turnId }, data: { assistantText }, select: { turnId: true } });
  }

  /**
   * The dossier's turns before `anchorTurnId`, newest first, flattened to messages (each turn's reply before
   * its question, since the list runs backwards), until they hold at least `minChars` characters.
   */
  async newestTurnMessages(
    tx: Tx,
    projectId: string,
    anchorTurnId: string,
    minChars: number,
  ): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let chars = 0;
    let cursor: { at: string; turnId: string } | null = null;
    for (;;) {
      const after: Prisma.Sql = cursor
        ? Prisma.sql`AND (t.created_at, t.turn_id) < (${cursor.at}::timestamptz, ${cursor.turnId}::uuid)`
        : Prisma.empty;
      const rows: TurnContextRow[] = await tx.$queryRaw<TurnContextRow[]>`
        SELECT t.user_text, t.assistant_text, t.turn_id::text AS turn_id,
               to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
          FROM turns t
         WHERE t.project_id = ${projectId}::uuid
           AND (t.created_at, t.turn_id) < (SELECT a.created_at, a.turn_id FROM turns a
                                             WHERE a.turn_id = ${anchorTurnId}::uuid)
           ${after}
         ORDER BY t.created_at DESC, t.turn_id DESC
         LIMIT ${CONTEXT_PAGE}`;
      for (const row of rows) {
        if (row.assistant_text) out.push({ role: 'assistant', content: row.assistant_text });
        if (row.user_text) out.push({ role: 'user', content: row.user_text });
        chars += (row.assistant_text?.length ?? 0) + (row.user_text?.length ?? 0);
      }
      if (rows.length < CONTEXT_PAGE || chars >= minChars) return out;
      const last = rows[rows.length - 1];
      cursor = { at: last.at, turnId: last.turn_id };
    }
  }

  /**
   * The session a user's legacy calls into this dossier continue: the one their latest turn there was
   * recorded in, if it still exists.
   */
  async latestLegacySessionId(tx: Tx, userId: string, projectId: string): Promise<string | null> {
    const [row] = await tx.$queryRaw<{ session_id: string }[]>`
      SELECT t.session_id::text AS session_id
        FROM turns t
        JOIN sessions s ON s.session_id = t.session_id
       WHERE t.project_id = ${projectId}::uuid AND t.user_id = ${userId}::uuid
       ORDER BY t.created_at DESC, t.turn_id DESC
       LIMIT 1`;
    return row?.session_id ?? null;
  }
}
