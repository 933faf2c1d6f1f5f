import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a network failure looks like in npm's output (no route, no DNS, refused, timed out). */
const NETWORK_FAILURE =
  /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network/i;

/**
 * Why the npm registry cannot be used, or undefined when it answers. A test file awaits this at the top
 * level, before it declares its tests, so a test that needs the registry is declared as skipped with the
 * reason in its name (jest cannot skip a test once it runs; returning early would count it as passed).
 * Only a network failure is a reason to skip: any other npm error lets the test run and fail with it.
 */
export async function npmRegistryUnreachable(pkg: string): Promise<string | undefined> {
  try {
    await run('npm', ['view', pkg, 'version'], {
      timeout: 30_000,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fetch_retries: '0' },
    });
    return undefined;
  } catch (error) {
    const { stderr, killed, signal } = error as { stderr?: string; killed?: boolean; signal?: string };
    if (killed || signal) return `npm view ${pkg} timed out after 30 s`;
    const text = String(stderr ?? error);
    if (!NETWORK_FAILURE.test(text)) return undefined;
    const line = text.split('\n').find((l) => NETWORK_FAILURE.test(l)) ?? text.split('\n')[0];
    return line.replace(/^npm (error|ERR!) /, '').trim();
  }
}
