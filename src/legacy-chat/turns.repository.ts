import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { prismaOf, type Tx } from '../database/database.service.js';
import { Prisma } from '../generated/prisma/client.js';

/** Which earlier turns to read for a model's context: pages of this many rows, newest first. */
const CONTEXT_PAGE = 200;

export interface TurnRecord {
  turnId: string;
  projectId: string;
  userText: string;
  assistantText: string | null;
  userId: string | null;
  sessionId: string | null;
  createdAt: Date;
}

/** A turn flattened for a model's context. */
export interface TurnMessage {
  role: 'user' | 'assistant';
  content: string;
}

interface TurnContextRow {
  user_text: string | null;
  assistant_text: string | null;
  at: string;
  turn_id: string;
}

/** SQL for `turns`, the pre-sessions POST /chat's exchanges, in the caller's (or the legacy role's) transaction. */
@Injectable()
export class TurnsRepository {
  async insert(
    tx: Tx,
    turn: { projectId: string; userText: string; userId?: string | null; sessionId?: string | null },
  ): Promise<TurnRecord> {
    const row = await prismaOf(tx).turn.create({
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

  async setReply(tx: Tx, turnId: string, assistantText: string): Promise<void> {
    await prismaOf(tx).turn.update({ where: { turnId }, data: { assistantText }, select: { turnId: true } });
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
  ): Promise<TurnMessage[]> {
    const out: TurnMessage[] = [];
    let chars = 0;
    let cursor: { at: string; turnId: string } | null = null;
    for (;;) {
      const after: Prisma.Sql = cursor
        ? Prisma.sql`AND (t.created_at, t.turn_id) < (${cursor.at}::timestamptz, ${cursor.turnId}::uuid)`
        : Prisma.empty;
      const rows: TurnContextRow[] = await prismaOf(tx).$queryRaw<TurnContextRow[]>`
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
  async latestSessionId(tx: Tx, userId: string, projectId: string): Promise<string | null> {
    const [row] = await prismaOf(tx).$queryRaw<{ session_id: string }[]>`
      SELECT t.session_id::text AS session_id
        FROM turns t
        JOIN sessions s ON s.session_id = t.session_id
       WHERE t.project_id = ${projectId}::uuid AND t.user_id = ${userId}::uuid
       ORDER BY t.created_at DESC, t.turn_id DESC
       LIMIT 1`;
    return row?.session_id ?? null;
  }
}
