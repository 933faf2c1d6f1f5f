/**
 * Parley's entry point (`node dist/src/main.js`). It sets V8's garbage-collector options before any of the
 * application is loaded, then boots it (server.ts). The options:
 *
 * Allocation-site pretenuring off: V8 watches which allocation sites' objects survive young-generation
 * collections and starts allocating those straight in the old generation. Under concurrent load a request's
 * rows, strings and response survive a scavenge often enough for V8 to pretenure their sites, and from then
 * on every request's short-lived objects fill the old generation: in a steady list-sessions load the heap
 * grew 0.5 MB per scavenge, scavenges took 2.5-4.5 ms instead of about 1 ms, and mark-compacts came every few
 * seconds. Without it, CPU per request fell by about a sixth and the single-connection p99 by half, with RSS
 * 180-200 MB instead of 210-330 MB (docs/performance.md, fix 9). The flag is read at every collection, so
 * setting it here, before the first request, is enough; `node --no-allocation-site-pretenuring` would work
 * too but would depend on every launcher passing it.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-allocation-site-pretenuring');
// V8's gc(), for giving a burst of streams' memory back once it is over (limits/burst-memory.ts). Set after
// the main context exists, so it is reachable only from a new vm context, never as a global.
setFlagsFromString('--expose-gc');

const { serve } = await import('./server.js');
serve().catch((error: unknown) => {
  console.error(`Parley failed to start: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
