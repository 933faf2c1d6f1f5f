import type { PGlite, Transaction } from '@electric-sql/pglite';
import pg from 'pg';

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

/** A transaction of the embedded database (PGlite.transaction) as an executor. */
export function pgliteTransactionExecutor(tx: Transaction): SqlExecutor {
  return {
    kind: 'pglite',
    async query<R>(sql: string, params: unknown[] = []) {
      const result = await tx.query<R>(sql, params);
      return result.rows;
    },
    async exec(script: string) {
      await tx.exec(script);
    },
  };
}

/** One statement and its parameters (text values only: a role, a user id). */
export interface Statement {
  readonly text: string;
  readonly values?: readonly string[];
}

/** pg.Query's message handlers, which its type declarations leave out. */
interface QueryMessages {
  handleRowDescription(message: unknown): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: unknown): void;
  prepare(connection: unknown): void;
}
const QueryWithHandlers = pg.Query as unknown as new (config: pg.QueryConfig) => QueryMessages;

interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parse(message: { text: string; name: string }): void;
  bind(message: { portal: string; statement: string; values: readonly string[] }): void;
  execute(message: { portal: string; rows: number }): void;
}

/**
 * A pg query preceded by statements whose results nobody reads, sent as one extended-protocol batch with a
 * single Sync: Parse/Bind/Execute for each prefix statement, then the query's own Parse/Bind/Describe/
 * Execute/Sync. PostgreSQL runs them in order and answers them together, so the prefix costs no round trip
 * of its own. An error in any of them ends the batch there (PostgreSQL skips to the Sync) and is the error
 * the query fails with; the prefix's rows and command tags are dropped, the query's result is as pg gives it.
 */
class PrefixedQuery extends QueryWithHandlers {
  private remaining: number;
  /** Every statement of the batch, in order (read by bench/trace-sql.ts). */
  readonly statements: string[];

  constructor(
    private readonly prefix: readonly Statement[],
    config: pg.QueryConfig,
  ) {
    super(config);
    this.remaining = prefix.length;
    this.statements = [...prefix.map((s) => s.text), config.text];
  }

  submit(connection: unknown): null {
    const wire = connection as unknown as WireConnection;
    wire.stream.cork?.();
    try {
      for (const statement of this.prefix) {
        wire.parse({ text: statement.text, name: '' });
        wire.bind({ portal: '', statement: '', values: statement.values ?? [] });
        wire.execute({ portal: '', rows: 0 });
      }
      this.prepare(connection);
    } finally {
      wire.stream.uncork?.();
    }
    return null;
  }

  override handleRowDescription(message: unknown): void {
    if (this.remaining === 0) super.handleRowDescription(message);
  }

  override handleDataRow(message: unknown): void {
    if (this.remaining === 0) super.handleDataRow(message);
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.remaining > 0) this.remaining--;
    else super.handleCommandComplete(message, connection);
  }
}

/**
 * Runs `prefix` and then `config` on one connection in a single round trip (see PrefixedQuery). Used to
 * open a request's transaction (BEGIN and the RLS context) with its first statement.
 */
export function queryAfter<R extends pg.QueryResultRow = Record<string, unknown>>(
  client: pg.ClientBase,
  prefix: readonly Statement[],
  config: pg.QueryConfig,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const query = new PrefixedQuery(prefix, config);
    const send = client.query.bind(client) as unknown as (
      query: pg.Submittable,
      callback: (error: Error | null, result: pg.QueryResult<R>) => void,
    ) => void;
    send(query as unknown as pg.Submittable, (error, result) => (error ? reject(error) : resolve(result)));
  });
}
