import { Injectable } from '@nestjs/common';
import { sqlOf, type Tx } from '../database/database.service.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import { END_GENERATION, INSERT_GENERATION } from './generations.sql.js';

/** A reply being generated, as chat_generations records it. */
export interface GenerationRecord {
  messageId: string;
  sessionId: string;
  userId: string;
  userMessageId: string;
  instanceId: string;
  idempotencyKey: string | null;
  provider: string;
  model: string;
  startedAt: string;
}

interface GenerationRow {
  message_id: string;
  session_id: string;
  user_id: string;
  user_message_id: string;
  instance_id: string;
  idempotency_key: string | null;
  provider: string;
  model: string;
  started_at: string | Date;
}

const COLUMNS = `message_id::text, session_id::text, user_id::text, user_message_id::text, instance_id::text,
                 idempotency_key, provider, model, started_at`;

const toRecord = (row: GenerationRow): GenerationRecord => ({
  messageId: row.message_id,
  sessionId: row.session_id,
  userId: row.user_id,
  userMessageId: row.user_message_id,
  instanceId: row.instance_id,
  idempotencyKey: row.idempotency_key,
  provider: row.provider,
  model: row.model,
  startedAt: row.started_at instanceof Date ? row.started_at.toISOString() : String(row.started_at),
});

/** One batch of chunks: parallel arrays, one element per reply that had text in the batch. */
export interface ChunkBatch {
  messageIds: string[];
  seqs: number[];
  userIds: string[];
  deltas: string[];
}

/** What a resuming reader finds: whether the reply is still running, and the chunks after the ones it has. */
export interface ChunkRead {
  running: boolean;
  chunks: { seq: number; delta: string }[];
}

/**
 * SQL for chat_generations, chat_generation_chunks and chat_instances (docs/chat.md, "Resumable streams" and
 * "Crash safety"). Request work runs as the caller under row-level security; the batched chunk writer, the
 * heartbeat and the finishing of dead instances' replies act for many users at once and take the
 * maintenance executor.
 */
@Injectable()
export class GenerationsRepository {
  /** Recorded in the transaction that commits the user message. */
  async insert(tx: Tx, g: Omit<GenerationRecord, 'startedAt'>): Promise<void> {
    await sqlOf(tx).query(INSERT_GENERATION, [
      g.messageId,
      g.sessionId,
      g.userId,
      g.userMessageId,
      g.instanceId,
      g.idempotencyKey,
      g.provider,
      g.model,
    ]);
  }

  /** The reply is saved (or failed): its record and its chunks go, in the transaction that saves it. */
  async delete(tx: Tx, messageId: string): Promise<void> {
    await sqlOf(tx).query(END_GENERATION, [messageId]);
  }

  /** The replies running in the caller's session (`messageId`: that one only), newest first. */
  async running(tx: Tx, userId: string, sessionId: string, messageId?: string): Promise<GenerationRecord[]> {
    const rows = await sqlOf(tx).query<GenerationRow>(
      `SELECT ${COLUMNS} FROM chat_generations
        WHERE session_id = $1::uuid AND user_id = $2::uuid AND ($3::uuid IS NULL OR message_id = $3::uuid)
        ORDER BY started_at DESC, message_id LIMIT 20`,
      [sessionId, userId, messageId ?? null],
    );
    return rows.map(toRecord);
  }

  /** Asks the reply's instance to stop it (read by instances that cannot LISTEN). */
  async requestStop(tx: Tx, messageId: string): Promise<void> {
    await sqlOf(tx).query(
      `UPDATE chat_generations SET stop_requested_at = now() WHERE message_id = $1::uuid`,
      [messageId],
    );
  }

  /** The reply's chunks after `afterSeq`, and whether it is still running. One statement. */
  async chunksAfter(tx: Tx, messageId: string, afterSeq: number): Promise<ChunkRead> {
    const rows = await sqlOf(tx).query<{ running: boolean; seq: number | null; delta: string | null }>(
      `SELECT (g.message_id IS NOT NULL) AS running, c.seq, c.delta
         FROM (SELECT 1) one
         LEFT JOIN chat_generations g ON g.message_id = $1::uuid
         LEFT JOIN chat_generation_chunks c ON c.message_id = $1::uuid AND c.seq > $2::int
        ORDER BY c.seq`,
      [messageId, afterSeq],
    );
    return {
      running: rows[0]?.running ?? false,
      chunks: rows.filter((r) => r.seq !== null).map((r) => ({ seq: Number(r.seq), delta: r.delta ?? '' })),
    };
  }

  /**
   * MAINTENANCE: one batch of every running reply's new text, one statement whatever the number of replies.
   * Chunks of a reply that has ended meanwhile are left out; on PostgreSQL the batch also notifies the other
   * instances (`channel`, payload: this instance's id) so their resuming readers read it.
   */
  async insertChunks(sql: SqlExecutor, batch: ChunkBatch, notify?: { channel: string; payload: string }) {
    const insert = `INSERT INTO chat_generation_chunks (message_id, seq, user_id, delta)
      SELECT u.message_id, u.seq, u.user_id, u.delta
        FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[]) AS u(message_id, seq, user_id, delta)
       WHERE EXISTS (SELECT 1 FROM chat_generations g WHERE g.message_id = u.message_id)
      ON CONFLICT DO NOTHING`;
    const params = [batch.messageIds, batch.seqs, batch.userIds, batch.deltas];
    if (!notify) {
      await sql.query(insert, params);
      return;
    }
    await sql.query(`WITH written AS (${insert} RETURNING 1) SELECT pg_notify($5, $6)`, [
      ...params,
      notify.channel,
      notify.payload,
    ]);
  }

  /** MAINTENANCE: tells the other instances (`channel`, ids only) without writing anything. */
  async notify(sql: SqlExecutor, channel: string, payload: string): Promise<void> {
    await sql.query(`SELECT pg_notify($1, $2)`, [channel, payload]);
  }

  /** MAINTENANCE: this instance is alive. */
  async heartbeat(sql: SqlExecutor, instanceId: string): Promise<void> {
    await sql.query(
      `INSERT INTO chat_instances (instance_id) VALUES ($1::uuid)
       ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = now()`,
      [instanceId],
    );
  }

  /** MAINTENANCE: this instance is gone (a graceful shutdown, once its replies are saved). */
  async forgetInstance(sql: SqlExecutor, instanceId: string): Promise<void> {
    await sql.query(`DELETE FROM chat_instances WHERE instance_id = $1::uuid`, [instanceId]);
  }

  /**
   * MAINTENANCE: replies whose instance is dead: its heartbeat older than `deadAfterMs` or missing; with
   * `allOthers` (the embedded database, which one process at a time opens) every instance but this one.
   */
  async orphaned(
    sql: SqlExecutor,
    instanceId: string,
    deadAfterMs: number,
    allOthers: boolean,
  ): Promise<string[]> {
    const rows = await sql.query<{ message_id: string }>(
      `SELECT g.message_id::text FROM chat_generations g
         LEFT JOIN chat_instances i ON i.instance_id = g.instance_id
        WHERE g.instance_id <> $1::uuid
          AND ($3::boolean OR i.instance_id IS NULL
               OR i.heartbeat_at < now() - make_interval(secs => $2::double precision / 1000))
        LIMIT 500`,
      [instanceId, deadAfterMs, allOthers],
    );
    return rows.map((r) => r.message_id);
  }

  /** MAINTENANCE: this instance's replies started more than `olderThanMs` ago (to find those it lost). */
  async ofInstance(sql: SqlExecutor, instanceId: string, olderThanMs: number): Promise<string[]> {
    const rows = await sql.query<{ message_id: string }>(
      `SELECT message_id::text FROM chat_generations
        WHERE instance_id = $1::uuid AND started_at < now() - make_interval(secs => $2::double precision / 1000)
        LIMIT 500`,
      [instanceId, olderThanMs],
    );
    return rows.map((r) => r.message_id);
  }

  /** MAINTENANCE: the replies of this instance someone asked to stop (the polling fallback of NOTIFY). */
  async stopRequested(sql: SqlExecutor, instanceId: string): Promise<string[]> {
    const rows = await sql.query<{ message_id: string }>(
      `SELECT message_id::text FROM chat_generations
        WHERE instance_id = $1::uuid AND stop_requested_at IS NOT NULL`,
      [instanceId],
    );
    return rows.map((r) => r.message_id);
  }

  /**
   * MAINTENANCE, inside a transaction: takes an orphaned reply to finish it (locked; null when another
   * instance has it or it is gone), with its text so far.
   */
  async take(sql: SqlExecutor, messageId: string): Promise<(GenerationRecord & { text: string }) | null> {
    const rows = await sql.query<GenerationRow>(
      `SELECT ${COLUMNS} FROM chat_generations WHERE message_id = $1::uuid FOR UPDATE SKIP LOCKED`,
      [messageId],
    );
    if (!rows[0]) return null;
    const [text] = await sql.query<{ text: string }>(
      `SELECT coalesce(string_agg(delta, '' ORDER BY seq), '') AS text
         FROM chat_generation_chunks WHERE message_id = $1::uuid`,
      [messageId],
    );
    return { ...toRecord(rows[0]), text: text?.text ?? '' };
  }

  /** MAINTENANCE, in the transaction of take(): the reply is finished; its record and chunks go. */
  async remove(sql: SqlExecutor, messageId: string): Promise<void> {
    await sql.query(`DELETE FROM chat_generation_chunks WHERE message_id = $1::uuid`, [messageId]);
    await sql.query(`DELETE FROM chat_generations WHERE message_id = $1::uuid`, [messageId]);
  }

  /** MAINTENANCE: chunks whose reply has gone (a race with a batch), and instances long dead with no replies. */
  async sweep(sql: SqlExecutor): Promise<void> {
    await sql.query(
      `DELETE FROM chat_generation_chunks c
        WHERE NOT EXISTS (SELECT 1 FROM chat_generations g WHERE g.message_id = c.message_id)`,
    );
    await sql.query(
      `DELETE FROM chat_instances i
        WHERE i.heartbeat_at < now() - interval '1 hour'
          AND NOT EXISTS (SELECT 1 FROM chat_generations g WHERE g.instance_id = i.instance_id)`,
    );
  }
}
