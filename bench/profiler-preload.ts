/**
 * Preload for bench/profile.ts: a CPU profile of the steady state only. The first SIGUSR2 starts V8's
 * sampling profiler (after the harness has warmed the process up), the second writes the profile to
 * BENCH_PROFILE_FILE. Start-up (module loading, compilation) stays out of it, unlike `node --cpu-prof`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const target = process.env.BENCH_PROFILE_FILE;

if (target) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!running) {
        running = true;
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 200 });
        await session.post('Profiler.start');
        return;
      }
      running = false;
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(target, JSON.stringify(profile));
    })();
  });
}
