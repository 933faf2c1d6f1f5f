import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/** The budget the issue sets for the JavaScript a first visit loads (test/web.e2e-spec.ts asserts it too). */
export const INITIAL_JS_BUDGET_BYTES = 250 * 1024;

/**
 * Prints the initial JavaScript (the entry chunk and the chunks it imports statically: what index.html makes
 * the browser load before the first screen) gzipped, and fails the build past the budget.
 */
function initialJsReport(): Plugin {
  return {
    name: 'parley-initial-js',
    apply: 'build',
    generateBundle(_options, bundle) {
      const chunks = new Map(
        Object.values(bundle).flatMap((item) => (item.type === 'chunk' ? [[item.fileName, item]] : [])),
      );
      const initial = new Set<string>();
      const visit = (name: string) => {
        const chunk = chunks.get(name);
        if (!chunk || initial.has(name)) return;
        initial.add(name);
        chunk.imports.forEach(visit);
      };
      for (const chunk of chunks.values()) if (chunk.isEntry) visit(chunk.fileName);
      const gzipped = [...initial].reduce((sum, name) => sum + gzipSync(chunks.get(name)!.code).length, 0);
      const line = `initial JS: ${(gzipped / 1024).toFixed(1)} KB gzipped (${initial.size} file(s); budget ${INITIAL_JS_BUDGET_BYTES / 1024} KB)`;
      this.info(line);
      console.log(`\n${line}`);
      if (gzipped > INITIAL_JS_BUDGET_BYTES) this.error(`${line}: over budget`);
    },
  };
}

export default defineConfig(({ command }) => ({
  root: import.meta.dirname,
  base: '/',
  // JSX through Vite's own transform with React's automatic runtime (no plugin needed for a build).
  oxc: { jsx: { runtime: 'automatic' } },
  // One copy of the AI SDK: @ai-sdk/react pins a patch release of `ai` next to the server's own.
  resolve: { dedupe: ['ai', '@ai-sdk/provider-utils', '@ai-sdk/provider'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    // One chunk is the design (the budget above is what counts), not something to warn about.
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      onLog(level, log, handler) {
        // swr's 'use client' marks a React Server Components boundary; this is a client-only bundle.
        if (log.code === 'MODULE_LEVEL_DIRECTIVE') return;
        handler(level, log);
      },
    },
  },
  // A build is the production client whatever NODE_ENV the shell (or a test runner) has: React's development
  // build is three times the size and double-runs effects.
  define: command === 'build' ? { 'process.env.NODE_ENV': JSON.stringify('production') } : {},
  plugins: [initialJsReport()],
  server: {
    // `npm run dev:web`: the API of a Parley started with `npm start` on port 3000.
    proxy: { '/api': 'http://127.0.0.1:3000', '/web-config.json': 'http://127.0.0.1:3000' },
  },
}));
