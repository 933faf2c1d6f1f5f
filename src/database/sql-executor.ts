import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';

/**
 * The few raw operations the migrator and the maintenance tools need, over either backend: a pg client or
 * pool, or an embedded PGlite. `exec` runs a multi-statement script; `query` runs one parameterised statement.
 */
export interface SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  exec(script: string): Promise<void>;
}

export function pgExecutor(client: pg.Pool | pg.PoolClient | pg.Client): SqlExecutor {
  return {
    kind: 'postgres',
    async query<R>(sql: string, params: unknown[] = []) {
      const result = await client.query(sql, params);
      return result.rows as R[];
    },
    async exec(script: string) {
      await client.query(script);
    },
  };
}

export function pgliteExecutor(db: PGlite): SqlExecutor {
  return {
    kind: 'pglite',
    async query<R>(sql: string, params: unknown[] = []) {
      const result = await db.query<R>(sql, params);
      return result.rows;
    },
    async exec(script: string) {
      await db.exec(script);
    },
  };
}
