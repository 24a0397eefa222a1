#!/usr/bin/env node
// Builds the browser bundle into demo/dist/ with Vite's JS API (Vite is installed for vitest):
//   demo/dist/statechorus.js  the library's browser entry (src/browser.ts)
//   demo/dist/counter.js      the smoke test's counter machine (demo/counter.js)
//   demo/dist/game.js         the demo's game (demo/game.js)
// sharing chunks (xstate) between them. No aliases, defines or shims: the library uses only
// web APIs in browsers (the consumer test builds it with a Vite config that sets nothing).
// Usage: node scripts/browser-build.mjs [--watch]   (also importable: `buildBrowserBundle()`).
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildBrowserBundle({ minify = false, quiet = false, watch = false } = {}) {
  const { build } = await import('vite');
  const outDir = join(root, 'demo', 'dist');
  return build({
    configFile: false,
    root,
    logLevel: quiet ? 'warn' : 'info',
    publicDir: false,
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2022',
      minify,
      sourcemap: true,
      reportCompressedSize: false,
      watch: watch ? {} : null,
      lib: {
        entry: {
          statechorus: join(root, 'src', 'browser.ts'),
          counter: join(root, 'demo', 'counter.js'),
          game: join(root, 'demo', 'game.js'),
        },
        formats: ['es'],
      },
      rolldownOptions: {
        output: { chunkFileNames: 'chunks/[name]-[hash].js' },
      },
    },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  await buildBrowserBundle({ watch: process.argv.includes('--watch') });
  if (!process.argv.includes('--watch')) console.log(`browser bundle built in ${Date.now() - t0} ms: demo/dist/`);
}
