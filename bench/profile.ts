/**
 * Where Parley's time goes on one scenario: starts the built Parley on the bench database with
 * profiler-preload.ts, warms it up, records a CPU profile of the steady state while autocannon drives the
 * scenario, and prints the time per package (inclusive and self) and the functions with the most self time.
 * The .cpuprofile is kept (open it in Chrome DevTools for the call tree).
 *
 *   npm run build && node dist/bench/profile.js <scenario id> [seconds] [connections]
 *
 * `--bare` profiles the bare server instead. Needs the bench database loaded (npm run bench -- --data-only).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatScenarios, mixScenario } from './chat.js';
import { loadBenchConfig } from './config.js';
import { loadFixtures } from './fixtures.js';
import { runLoad } from './load.js';
import { freePort, startServer } from './processes.js';
import { coreScenarios } from './scenarios.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function packageOf(url: string): string {
  if (!url) return '(native / GC / idle)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node core';
  const dist = url.indexOf('/dist/');
  return dist >= 0
    ? `parley ${url
        .slice(dist + 6)
        .split('/')
        .slice(0, 2)
        .join('/')}`
    : url;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const bare = process.argv.includes('--bare');
  const [id = 'users-me', seconds = '8', connections = '32'] = args;
  const config = loadBenchConfig();
  const fixtures = await loadFixtures(config.databaseUrl);
  const scenario = [...coreScenarios(fixtures), ...chatScenarios(fixtures), mixScenario(fixtures)].find(
    (s) => s.id === id,
  );
  if (!scenario) throw new Error(`no scenario ${id}`);
  const dir = mkdtempSync(join(tmpdir(), 'parley-profile-'));
  const port = await freePort();
  const profileFile = join(dir, `${bare ? 'bare' : 'parley'}-${id}.cpuprofile`);
  const server = await startServer({
    name: bare ? 'bare-profiled' : 'parley-profiled',
    args: [
      '--import',
      './dist/bench/profiler-preload.js',
      bare ? 'dist/bench/bare-server.js' : 'dist/src/main.js',
    ],
    env: bare
      ? {
          BENCH_PROFILE_FILE: profileFile,
          PORT: String(port),
          BARE_DATABASE_URL: config.databaseUrl,
          POOL_MAX: String(config.poolMax),
        }
      : {
          BENCH_PROFILE_FILE: profileFile,
          NODE_ENV: 'production',
          PORT: String(port),
          LOG_LEVEL: 'warn',
          DATABASE_URL: config.databaseUrl,
          DB_POOL_MAX: String(config.poolMax),
          RATE_LIMIT_MAX: '1000000',
          RATE_LIMIT_CHAT_MAX: '1000000',
        },
    port,
    cwd: config.root,
    logDir: dir,
    readyPath: '/api/v1/users/me',
  });
  await runLoad({
    url: server.url,
    connections: Number(connections),
    durationSec: 3,
    next: scenario.source(),
  });
  process.kill(server.pid, 'SIGUSR2');
  await sleep(200);
  const stats = await runLoad({
    url: server.url,
    connections: Number(connections),
    durationSec: Number(seconds),
    next: scenario.source(),
    pid: server.pid,
    database: config.databaseName,
  });
  process.kill(server.pid, 'SIGUSR2');
  for (let i = 0; i < 50 && !existsSync(profileFile); i++) await sleep(200);
  await sleep(500);
  await server.stop();
  console.log(
    `${id}: ${stats.rps.toFixed(0)} req/s, p50 ${stats.p50.toFixed(2)} ms, p99 ${stats.p99.toFixed(2)} ms, ` +
      `server CPU ${stats.cpuMsPerRequest?.toFixed(3)} ms/request, PostgreSQL CPU ${stats.dbCpuMsPerRequest?.toFixed(3)} ms/request` +
      (stats.failed ? `, ${stats.failed} failed` : ''),
  );
  if (!existsSync(profileFile)) throw new Error(`no profile written to ${profileFile}`);
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((nodeId, i) =>
    self.set(nodeId, (self.get(nodeId) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [nodeId, us] of self) {
    const node = byId.get(nodeId);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(node_modules|dist)\//, '')}:${lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const pkg = packageOf(url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  // Inclusive: a sample counts for every package on its stack (so the figures add up to more than 100%).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [nodeId, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = nodeId; cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)?.callFrame.url ?? '';
      if (url) seen.add(packageOf(url));
    }
    for (const pkg of seen) inclusive.set(pkg, (inclusive.get(pkg) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log('\nTime with the package on the stack (inclusive):');
  for (const [pkg, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`${pct(us)}  ${pkg}`);
  console.log('\nSelf time by package:');
  for (const [pkg, us] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${pct(us)}  ${pkg}`);
  console.log('\nTop functions (self time):');
  for (const [fn, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 40))
    console.log(`${pct(us)}  ${fn}`);
  console.log(`\nprofile: ${profileFile}`);
}

main().catch((error: unknown) => {
  console.error((error as Error).stack ?? String(error));
  process.exit(1);
});
