/**
 * The database's own ceiling: pgbench running a scenario's statements (the very strings of queries.ts, with
 * `$n` turned into pgbench variables) in the same transaction shape, directly against PostgreSQL, on as many
 * connections as the servers' pools hold. pgbench is in the postgresql-client package; without it these
 * figures are left out of the report.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { percentile } from './load.js';

const run = promisify(execFile);

/** One statement and its parameters, exactly as the bare server sends it. */
export interface Statement {
  sql: string;
  params: (string | number | boolean | null)[];
}

export interface PgbenchStats {
  tps: number;
  p50: number;
  p99: number;
  transactions: number;
  failed: number;
}

export async function pgbenchAvailable(): Promise<string | null> {
  try {
    const { stdout } = await run('pgbench', ['--version']);
    return stdout.trim();
  } catch {
    return null;
  }
}

/**
 * The pgbench script of a transaction: BEGIN, the statements, COMMIT. Each `$n` becomes `:sK_n`, defined on
 * the command line, so pgbench's extended protocol binds them as parameters, like the servers do (NULLs are
 * inlined).
 */
export function pgbenchScript(statements: Statement[]): { script: string; defines: Record<string, string> } {
  const defines: Record<string, string> = {};
  const lines = ['BEGIN;'];
  statements.forEach((statement, k) => {
    const sql = statement.sql.replace(/\$(\d+)/g, (_m, n: string) => {
      const name = `s${k}_${n}`;
      const value = statement.params[Number(n) - 1];
      if (value === undefined) throw new Error(`statement ${k} has no value for $${n}`);
      // pgbench variables cannot be NULL: a NULL parameter is written as the literal, which PostgreSQL plans
      // the same way (an unnamed statement is planned with its parameter values).
      if (value === null) return 'NULL';
      defines[name] = String(value);
      return `:${name}`;
    });
    lines.push(`${escapeColonsInLiterals(sql)};`);
  });
  lines.push('COMMIT;');
  return { script: `${lines.join('\n')}\n`, defines };
}

/**
 * pgbench reads `:name` as a variable even inside a string literal (to_char's 'HH24:MI:SS'); such literals
 * are split around the colon ('HH24' || ':' || 'MI'), which PostgreSQL folds back into one constant.
 */
export function escapeColonsInLiterals(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'/g, (literal) =>
    /:[A-Za-z0-9_]/.test(literal) ? literal.replace(/:(?=[A-Za-z0-9_])/g, "' || ':' || '") : literal,
  );
}

export async function runPgbench(options: {
  databaseUrl: string;
  statements: Statement[];
  clients: number;
  durationSec: number;
}): Promise<PgbenchStats> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-pgbench-'));
  try {
    const { script, defines } = pgbenchScript(options.statements);
    const file = join(dir, 'scenario.sql');
    await writeFile(file, script);
    const args = [
      '--no-vacuum',
      '--protocol=extended',
      `--client=${options.clients}`,
      '--jobs=1',
      `--time=${Math.max(1, Math.round(options.durationSec))}`,
      `--file=${file}`,
      '--log',
      `--log-prefix=${join(dir, 'tx')}`,
      ...Object.entries(defines).map(([k, v]) => `--define=${k}=${v}`),
      options.databaseUrl,
    ];
    const { stdout } = await run('pgbench', args, { maxBuffer: 16 * 1024 * 1024 });
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    const latencies: number[] = [];
    for (const name of await readdir(dir)) {
      if (!name.startsWith('tx')) continue;
      const text = await readFile(join(dir, name), 'utf8');
      for (const line of text.split('\n')) {
        const fields = line.split(' ');
        // client_id transaction_no time script_no time_epoch time_us (time in microseconds)
        if (fields.length >= 3) latencies.push(Number(fields[2]) / 1000);
      }
    }
    const sorted = Float64Array.from(latencies).sort();
    return {
      tps,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      transactions: sorted.length,
      failed,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
