#!/usr/bin/env node
// The `statechorus` command: `signal` (the signaling server), `init`, `replica`, `send`, `read`,
// `status`, `add-member`, `remove-member`. It runs the compiled sources in ../dist, built by `npm run build`
// (tsc -p tsconfig.build.json): signal from dist/signaling/cli.js, the others from dist/src/cli.
const command = process.argv[2];
const signal = command === 'signal';
const help = command === undefined || command === '--help' || command === '-h' || command === 'help';
const signalCli = new URL('../dist/signaling/cli.js', import.meta.url);
const groupCli = new URL('../dist/src/cli/main.js', import.meta.url);

const missing = (err, url) => err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(url.pathname.split('/dist/').pop());

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
  ({ main } = await import((signal ? signalCli : groupCli).href));
} catch (err) {
  const cli = signal ? signalCli : groupCli;
  if (!missing(err, cli)) throw err;
  try {
    // Help where only the signaling server is built: its usage, as before the group commands.
    if (!help) throw err;
    ({ main } = await import(signalCli.href));
  } catch (err2) {
    if (!missing(err2, signalCli) && err2 !== err) throw err2;
    console.error(`statechorus: ${cli.pathname} is missing; run "npm run build" first`);
    process.exit(1);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // A finished command exits now (a WebRTC binding may hold handles); a server keeps running.
    if (!signal && (code !== 0 || command !== 'replica')) process.exit(code ?? 0);
  },
  (err) => {
    console.error(`statechorus: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
