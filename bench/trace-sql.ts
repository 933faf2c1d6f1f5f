/**
 * Preload (`node --import ./dist/bench/trace-sql.js ...`) that appends the text of every statement a process
 * sends through `pg` to the file named by BENCH_SQL_TRACE, one JSON string a line. The harness loads it into
 * a throw-away Parley and a throw-away bare server, sends each scenario's request once to both, and checks that
 * they sent the same statements. It is never loaded into the processes that are measured.
 */
import { appendFileSync } from 'node:fs';
import pg from 'pg';

const target = process.env.BENCH_SQL_TRACE;

if (target) {
  type QueryFn = (this: pg.Client, ...args: unknown[]) => unknown;
  const proto = pg.Client.prototype as unknown as { query: QueryFn };
  const original = proto.query;
  proto.query = function traced(this: pg.Client, ...args: unknown[]) {
    const first = args[0];
    // A batch sent as one query (src/database/sql-executor.ts, queryAfter) names all its statements.
    const batch = (first as { statements?: unknown } | null)?.statements;
    if (Array.isArray(batch)) {
      for (const statement of batch) appendFileSync(target, `${JSON.stringify(statement)}\n`);
      return original.apply(this, args);
    }
    const text =
      typeof first === 'string'
        ? first
        : first && typeof first === 'object' && typeof (first as { text?: unknown }).text === 'string'
          ? (first as { text: string }).text
          : null;
    if (text !== null) appendFileSync(target, `${JSON.stringify(text)}\n`);
    return original.apply(this, args);
  };
}
