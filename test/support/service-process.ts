import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * Parley as a real process (src/main.ts compiled on the fly by SWC, as jest does, through
 * test/support/swc-register.mjs), for tests that need several instances or a kill. The same way
 * test/shutdown.e2e-spec.ts starts it. `cwd` runs another source tree's (another release's) src/main.ts
 * through that tree's own loader.
 */
export interface ServiceProcess {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts the service on a free port (another one when the probed port is taken before it listens). */
export async function startServiceProcess(
  env: Record<string, string>,
  cwd = process.cwd(),
): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freePort(), env, cwd);
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

async function startOn(port: number, env: Record<string, string>, cwd: string): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', './test/support/swc-register.mjs', 'src/main.ts'], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      SWAGGER_ENABLED: 'false',
      WEB_ENABLED: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes('Parley listening on')) resolve();
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`the service did not start:\n${output}`)));
    check();
  });
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/** Stops a service started here: SIGTERM, then SIGKILL if it has not exited in time. */
export async function stopServiceProcess(service: ServiceProcess | undefined, ms = 15000): Promise<void> {
  if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), ms);
  await service.exited;
  clearTimeout(timer);
}
