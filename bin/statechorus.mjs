#!/usr/bin/env node
// The `statechorus` command: `signal` (the signaling server), `init`, `replica`, `send`, `read`,
// `status`. It runs the compiled sources in ../dist, built by `npm run build`
// (tsc -p tsconfig.build.json): signal from dist/signaling/cli.js, the others from dist/src/cli.
const command = process.argv[2];
const signal = command === 'signal';
const help = command === undefined || command === '--help' || command === '-h' || command === 'help';
const signalCli = new URL('../dist/signaling/cli.js', import.meta.url);
const groupCli = new URL('../dist/src/cli/main.js', import.meta.url);

const missing = (err, url) => err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(url.pathname.split('/dist/').pop());

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

// Under npx the command runs as a grandchild of npm (npm -> sh -> node): a SIGTERM to npm kills
// the shell but never reaches this process, which would be left running under PID 1. So when
// our parent goes away, stop as if signalled (the commands' SIGTERM handlers close cleanly).
const parent = process.ppid;
if (parent > 1) {
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
  }, 500).unref();
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
