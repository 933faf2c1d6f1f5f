/**
 * The servers under test, each a child process on loopback: the built Parley (`node dist/src/main.js`) and
 * the bare ceiling server (`node dist/bench/bare-server.js`). Their output goes to a log file; their memory is
 * read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Server {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in MB (VmRSS), or null when it is gone. */
export function rssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the largest value seen. */
export function sampleRss(pid: number, everyMs = 200): { stop(): number } {
  let max = rssMb(pid) ?? 0;
  const timer = setInterval(() => {
    const value = rssMb(pid);
    if (value !== null && value > max) max = value;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const value = rssMb(pid);
      if (value !== null && value > max) max = value;
      return max;
    },
  };
}

/** The environment a child starts with: only what a Node process needs, plus the given settings. */
function childEnv(settings: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...settings };
}

export interface StartOptions {
  name: string;
  /** Node arguments and script, e.g. ['dist/src/main.js']. */
  args: string[];
  env: Record<string, string>;
  port: number;
  cwd: string;
  logDir: string;
  /** A path that answers once the server is ready (any HTTP status counts). */
  readyPath: string;
  timeoutMs?: number;
}

export async function startServer(options: StartOptions): Promise<Server> {
  const logFile = join(options.logDir, `${options.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60000);
  for (;;) {
    if (exited) {
      throw new Error(`${options.name} ${exited} before it was ready:\n${tail(logFile)}`);
    }
    try {
      await fetch(`${url}${options.readyPath}`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `${options.name} was not ready within ${options.timeoutMs ?? 60000} ms:\n${tail(logFile)}`,
        );
      }
      await sleep(150);
    }
  }
  return {
    name: options.name,
    url,
    pid: child.pid as number,
    child,
    logFile,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const killed = await Promise.race([done.then(() => true), sleep(10000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await done;
      }
      log.end();
    },
  };
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const TICK_MS = 10; // CLK_TCK is 100 on Linux

/** CPU time (user + system) a process has used, in milliseconds, or null when it is gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return null;
  }
}

/** CPU milliseconds of every PostgreSQL backend connected to `database`, by pid. */
export function backendCpuMs(database: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.startsWith('postgres: ') || !cmdline.includes(` ${database} `)) continue;
      const ms = cpuMs(Number(entry));
      if (ms !== null) out.set(Number(entry), ms);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** CPU used by a server and by the database's backends between start() and stop(). */
export function cpuMeter(
  pid: number | undefined,
  database: string | undefined,
): { stop(): { serverMs: number | null; dbMs: number | null } } {
  const server0 = pid ? cpuMs(pid) : null;
  const db0 = database ? backendCpuMs(database) : null;
  return {
    stop() {
      const server1 = pid ? cpuMs(pid) : null;
      let dbMs: number | null = null;
      if (database && db0) {
        dbMs = 0;
        for (const [backend, ms] of backendCpuMs(database)) dbMs += ms - (db0.get(backend) ?? 0);
      }
      return { serverMs: server0 !== null && server1 !== null ? server1 - server0 : null, dbMs };
    },
  };
}
