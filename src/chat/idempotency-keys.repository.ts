import { Injectable } from '@nestjs/common';
import { prismaOf, type Tx } from '../database/database.service.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { PreparedRef } from './chat.types.js';

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_TTL_HOURS = 24;

/**
 * The progress of a keyed chat request, kept in idempotency_keys.response (see docs/chat.md). A completed
 * request keeps its reply as the JSON it was answered with; what it holds is the chat's business.
 */
export type IdempotencyState =
  | { state: 'running'; started_at: string; prepared?: PreparedRef }
  | { state: 'failed'; prepared: PreparedRef }
  | { state: 'completed'; reply: unknown };

export interface IdempotencyRow {
  requestHash: string;
  state: IdempotencyState | null;
}

/** SQL for idempotency_keys. RLS: a user's transaction sees and changes the caller's own rows only. */
@Injectable()
export class IdempotencyKeysRepository {
  /** Forgets the caller's keys older than the TTL, then records `key` as running unless it exists. */
  async insert(
    tx: Tx,
    userId: string,
    key: string,
    requestHash: string,
    state: IdempotencyState,
  ): Promise<boolean> {
    await prismaOf(tx).$executeRaw`
      DELETE FROM idempotency_keys
       WHERE user_id = ${userId}::uuid
         AND created_at < now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}::int)`;
    const inserted = await prismaOf(tx).$executeRaw`
      INSERT INTO idempotency_keys (user_id, key, request_hash, response)
      VALUES (${userId}::uuid, ${key}, ${requestHash}, ${JSON.stringify(state)}::jsonb)
      ON CONFLICT (user_id, key) DO NOTHING`;
    return inserted === 1;
  }

  /** The key's row, locked until the transaction ends (a concurrent retry waits here). */
  async lock(tx: Tx, userId: string, key: string): Promise<IdempotencyRow | null> {
    const [row] = await prismaOf(tx).$queryRaw<{ request_hash: string; response: IdempotencyState | null }[]>`
      SELECT request_hash, response FROM idempotency_keys
       WHERE user_id = ${userId}::uuid AND key = ${key}
       FOR UPDATE`;
    return row ? { requestHash: row.request_hash, state: row.response } : null;
  }

  async update(tx: Tx, userId: string, key: string, state: IdempotencyState): Promise<void> {
    await prismaOf(tx).$executeRaw`
      UPDATE idempotency_keys SET response = ${JSON.stringify(state)}::jsonb
       WHERE user_id = ${userId}::uuid AND key = ${key}`;
  }

  async delete(tx: Tx, userId: string, key: string): Promise<void> {
    await prismaOf(tx)
      .$executeRaw`DELETE FROM idempotency_keys WHERE user_id = ${userId}::uuid AND key = ${key}`;
  }

  /**
   * MAINTENANCE: the request holding `key` died with its instance: a running key becomes `failed` with what
   * it had prepared, so a retry with it continues with the same user message at once.
   */
  async releaseInterrupted(sql: SqlExecutor, userId: string, key: string): Promise<void> {
    await sql.query(
      `UPDATE idempotency_keys
          SET response = jsonb_build_object('state', 'failed', 'prepared', response -> 'prepared')
        WHERE user_id = $1::uuid AND key = $2 AND response ->> 'state' = 'running' AND response ? 'prepared'`,
      [userId, key],
    );
  }

  /** MAINTENANCE: forgets every user's expired keys. Returns how many. */
  async purgeExpired(sql: SqlExecutor): Promise<number> {
    const rows = await sql.query<{ n: number }>(
      `WITH gone AS (DELETE FROM idempotency_keys
                      WHERE created_at < now() - make_interval(hours => $1::int) RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [IDEMPOTENCY_TTL_HOURS],
    );
    return rows[0]?.n ?? 0;
  }
}
