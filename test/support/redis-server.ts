/**
 * A redis-server of a test's own: its own port, its own temporary directory, nothing saved (no RDB snapshot,
 * no append-only file), stopped and removed by `stop()`. The shared-limits test starts one instead of hoping
 * something listens on 6379.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

/** Why a redis-server cannot be started here, or undefined when the binary is there. */
export function redisServerUnavailable(): string | undefined {
  try {
    accessSync(REDIS_SERVER_BIN, constants.X_OK);
    return undefined;
  } catch {
    return `${REDIS_SERVER_BIN} not found (apt-get install redis-server, or set REDIS_SERVER_BIN or TEST_REDIS_URL)`;
  }
}

/** Whether tests that cannot get what they need must fail instead of skipping (CI=true). */
export const IN_CI = process.env.CI === 'true';

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

export interface RedisServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts redis-server and resolves once it says it accepts connections (rejects with its output if it exits). */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-redis-'));
  let lastError: Error | undefined;
  // A free port can be taken by someone else before redis binds it: try again on another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      REDIS_SERVER_BIN,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${output}`)),
      );
    });
    try {
      await ready;
    } catch (error) {
      lastError = error as Error;
      if (/address already in use/i.test(output)) continue;
      break;
    }
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    return {
      url: `redis://127.0.0.1:${port}`,
      stop: async () => {
        child.kill('SIGTERM');
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError ?? new Error('redis-server did not start');
}
