/**
 * A PgBouncer of a test's (or a benchmark's) own, in transaction pooling mode, in front of a PostgreSQL server: its own ini,
 * auth file, log and pid file in a temporary directory, on a free port. PgBouncer refuses to run as root,
 * so as root (CI) it runs as the `postgres` OS user through runuser, as the throw-away clusters do.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './processes.js';

const run = promisify(execFile);

export const PGBOUNCER_BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

/** Why PgBouncer cannot be started here, or undefined when the binary is there. */
export function pgbouncerUnavailable(): string | undefined {
  try {
    accessSync(PGBOUNCER_BIN, constants.X_OK);
    return undefined;
  } catch {
    return `${PGBOUNCER_BIN} not found (apt-get install pgbouncer, or set PGBOUNCER_BIN)`;
  }
}

export interface PgBouncer {
  /** `serverUrl` with PgBouncer's host and port: the same database and user, through the pooler. */
  urlFor(serverUrl: string): string;
  /** PgBouncer's SHOW STATS row of a database (transactions and queries it has passed on). */
  stats(database: string): Promise<{ xacts: number; queries: number }>;
  /** Its log so far (for a failing test's message). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer in front of the server `serverUrl` names (every database on it, as the user the URL
 * names, trusted), with `poolSize` server connections per database and user.
 */
export async function startPgBouncer(serverUrl: string, poolSize = 10): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const dir = await mkdtemp(join(tmpdir(), 'parley-pgbouncer-'));
  const asPostgresUser = process.getuid?.() === 0;
  const port = await freePort();
  const ini = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    `admin_users = ${user}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 500',
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    `pidfile = ${join(dir, 'pgbouncer.pid')}`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'pgbouncer.ini'), ini);
  await writeFile(join(dir, 'users.txt'), `"${user}" ""\n`);
  if (asPostgresUser) {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    for (const path of [dir, join(dir, 'pgbouncer.ini'), join(dir, 'users.txt')])
      await chown(path, Number(uid.trim()), Number(gid.trim()));
  }
  const args = [join(dir, 'pgbouncer.ini')];
  const child = asPostgresUser
    ? spawn('runuser', ['-u', 'postgres', '--', PGBOUNCER_BIN, ...args], { stdio: 'ignore' })
    : spawn(PGBOUNCER_BIN, args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = () => readFile(join(dir, 'pgbouncer.log'), 'utf8').catch(() => '');

  const adminUrl = `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/pgbouncer`;
  // Ready once its admin console answers.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited before it was ready:\n${await log()}`);
    const client = new pg.Client({ connectionString: adminUrl });
    try {
      await client.connect();
      await client.query('SHOW VERSION');
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (attempt > 100)
        throw new Error(`pgbouncer did not start: ${(error as Error).message}\n${await log()}`, {
          cause: error,
        });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  return {
    urlFor(serverUrlOfDatabase: string) {
      const url = new URL(serverUrlOfDatabase);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    async stats(database: string) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        // The admin console speaks the simple protocol only.
        const { rows } = await client.query<{
          database: string;
          total_xact_count: string;
          total_query_count: string;
        }>('SHOW STATS');
        const row = rows.find((r) => r.database === database);
        return { xacts: Number(row?.total_xact_count ?? 0), queries: Number(row?.total_query_count ?? 0) };
      } finally {
        await client.end();
      }
    },
    log,
    async stop() {
      child.kill('SIGTERM');
      if (asPostgresUser) {
        // runuser passes the signal on; make sure PgBouncer itself is gone.
        const pid = await readFile(join(dir, 'pgbouncer.pid'), 'utf8').catch(() => '');
        if (pid.trim()) {
          try {
            process.kill(Number(pid.trim()), 'SIGTERM');
          } catch {
            // already gone
          }
        }
      }
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
