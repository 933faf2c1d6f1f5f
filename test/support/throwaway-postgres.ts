/**
 * A PostgreSQL cluster of a test's own, on its own port under a temporary directory, that the test can stop,
 * pause and start again: for fault tests the shared server cannot be used for. initdb and pg_ctl refuse to
 * run as root, so as root (CI) they run as the `postgres` OS user through runuser.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a throw-away cluster cannot be made here, or undefined when it can. */
export function throwawayPostgresUnavailable(): string | undefined {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl')))
    return `PostgreSQL binaries not found in ${PG_BIN} (set PG_BIN)`;
  if (process.getuid?.() === 0 && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser'))
    return 'running as root without runuser to switch to the postgres user';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export class ThrowawayPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly asPostgresUser: boolean,
  ) {}

  /** initdb into a new temporary directory and start on a free port. */
  static async create(): Promise<ThrowawayPostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'parley-pg-'));
    const asPostgresUser = process.getuid?.() === 0;
    if (asPostgresUser) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await chmod(dir, 0o700);
    const cluster = new ThrowawayPostgres(dir, await freePort(), asPostgresUser);
    await cluster.pg('initdb', [
      '-D',
      cluster.dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    await cluster.start();
    return cluster;
  }

  /**
   * A streaming replica of this cluster: pg_basebackup -R (which writes primary_conninfo and standby.signal)
   * into a temporary directory of its own, started on another free port as a hot standby.
   */
  async createReplica(): Promise<ThrowawayPostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'parley-pg-replica-'));
    if (this.asPostgresUser) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await chmod(dir, 0o700);
    const replica = new ThrowawayPostgres(dir, await freePort(), this.asPostgresUser);
    await replica.pg('pg_basebackup', [
      '-D',
      replica.dataDir,
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      'postgres',
      '-R',
      '-X',
      'stream',
      '--no-sync',
      '-c',
      'fast',
    ]);
    await replica.start();
    return replica;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** A superuser URL (trust authentication, loopback only). */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private async pg(binary: string, args: string[]): Promise<string> {
    const command = join(PG_BIN, binary);
    const { stdout } = this.asPostgresUser
      ? await run('runuser', ['-u', 'postgres', '--', command, ...args], { timeout: 60_000 })
      : await run(command, args, { timeout: 60_000 });
    return stdout;
  }

  async start(): Promise<void> {
    await this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=50`,
      '-w',
      '-t',
      '30',
      'start',
    ]);
  }

  /** Stops the server. `immediate` is a crash for the clients: connections drop mid-statement. */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  /** The postmaster and every backend, frozen (SIGSTOP) or thawed (SIGCONT): a server that hangs. */
  async signalAll(signal: 'STOP' | 'CONT'): Promise<void> {
    const postmaster = (await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0].trim();
    const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', postmaster]).catch(() => ({ stdout: '' }));
    const pids = [
      postmaster,
      ...stdout
        .split('\n')
        .map((p) => p.trim())
        .filter(Boolean),
    ];
    for (const pid of pids) {
      try {
        process.kill(Number(pid), `SIG${signal}`);
      } catch {
        // the process ended meanwhile
      }
    }
  }

  async isRunning(): Promise<boolean> {
    try {
      await this.pg('pg_ctl', ['-D', this.dataDir, 'status']);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the server if it runs (thawing it first) and removes its directory. */
  async destroy(): Promise<void> {
    try {
      if (existsSync(join(this.dataDir, 'postmaster.pid'))) {
        await this.signalAll('CONT');
        await this.stop('immediate');
      }
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
