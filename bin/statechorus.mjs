#!/usr/bin/env node
// The `statechorus` command (npx statechorus signal --port 8787). It runs the compiled
// sources in ../dist, built by `npm run build` (tsc -p tsconfig.build.json).
const cli = new URL('../dist/signaling/cli.js', import.meta.url);

// Under npm (npx, npm exec, npm run) this process runs below `sh -c`, and npm hands a SIGTERM
// it receives to that shell alone: the shell dies and this process would go on under PID 1.
// So when npm started us and our parent goes away, stop as if signalled (graceful shutdown).
if (process.env.npm_lifecycle_event !== undefined && process.platform !== 'win32') {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 200);
  watch.unref();
}

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
