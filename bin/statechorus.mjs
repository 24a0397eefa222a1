#!/usr/bin/env node
// The `statechorus` command (npx statechorus signal --port 8787). It runs the compiled
// sources in ../dist, built by `npm run build` (tsc -p tsconfig.build.json).
const cli = new URL('../dist/signaling/cli.js', import.meta.url);

let main;
try {
  ({ main } = await import(cli.href));
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/signaling/cli.js')) {
    console.error(`statechorus: ${cli.pathname} is missing; run "npm run build" first`);
    process.exit(1);
  }
  throw err;
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`statechorus: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
