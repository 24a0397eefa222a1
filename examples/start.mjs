// `npm start`: a replica group as separate processes over WebRTC on loopback, with file storage,
// under a client workload. Midway one replica is killed (SIGKILL); the group carries on, and
// the replica restarts from its files and catches up. Ends with a summary.
//
//   node examples/start.mjs [--fault-model byzantine|crash] [--f 1] [--duration 60] [--clients 16] [--port 8787]
import { fileURLToPath } from 'node:url';
import { startProcessGroup } from 'statechorus';

const HELP = `usage: npm start -- [options]

  --fault-model M   byzantine (default; n = 3f+1, PBFT-style) or crash (n = 2f+1, Raft-style)
  --f N             faults tolerated (default 1)
  --duration S      seconds of workload (default 60)
  --clients N       concurrent clients (default 16)
  --port P          signaling server port (default 8787; 0 picks a free one)
`;

function parseArgs(argv) {
  const opts = { faultModel: 'byzantine', f: 1, duration: 60, clients: 16, port: 8787 };
  for (let i = 0; i < argv.length; i++) {
    const [name, value] = [argv[i], argv[i + 1]];
    const number = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${name} needs a whole number, not ${value}`);
      i++;
      return n;
    };
    if (name === '--help' || name === '-h') return null;
    else if (name === '--fault-model') {
      if (value !== 'crash' && value !== 'byzantine') throw new Error(`--fault-model is crash or byzantine, not ${value}`);
      opts.faultModel = value;
      i++;
    } else if (name === '--f') opts.f = number();
    else if (name === '--duration') opts.duration = number();
    else if (name === '--clients') opts.clients = Math.max(1, number());
    else if (name === '--port') opts.port = number();
    else throw new Error(`unknown option ${name}`);
  }
  if (opts.f < 1 || opts.f > 3) throw new Error('--f must be 1, 2 or 3 here (one process per replica on this machine)');
  if (opts.duration < 10) throw new Error('--duration must be at least 10 seconds (the kill and recovery need time)');
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`statechorus: ${err.message}\n\n${HELP}`);
  process.exit(2);
}
if (opts === null) {
  console.log(HELP);
  process.exit(0);
}

const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const n = opts.faultModel === 'byzantine' ? 3 * opts.f + 1 : 2 * opts.f + 1;
console.log(bold(`statechorus: ${n} replicas (${opts.faultModel}, f = ${opts.f}) as separate processes over WebRTC, file storage`));

const apps = fileURLToPath(new URL('./apps.mjs', import.meta.url));
let group;
try {
  group = await startProcessGroup({ faultModel: opts.faultModel, f: opts.f, signalingPort: opts.port, machine: { module: apps, export: 'counter' }, statusMs: 250 });
} catch (err) {
  const taken = /already in use/.test(err.message);
  console.error(`statechorus: could not start: ${err.message}${taken ? `\n  another program uses port ${opts.port}; pick another with --port (0 picks a free one)` : ''}`);
  process.exit(1);
}
console.log(`signaling server ${group.signaling}, room ${group.room}, data in ${group.dir}`);

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  await group.stop();
  process.exit(code);
}
process.on('SIGINT', () => {
  console.log('\ninterrupted: stopping every process');
  void shutdown(130);
});

// The workload: each client adds 1 at a time; the counter must end at the number acknowledged.
const clients = await group.createClients(opts.clients, { giveUpAfterMs: 30_000 });
const latencies = [];
let acked = 0;
/** The highest log index a client was acknowledged: every replica must reach it before the states are compared. */
let lastIndex = 0;
let failed = 0;
let running = true;
const started = performance.now();
const workload = clients.map(async (client) => {
  while (running) {
    const t = performance.now();
    try {
      const out = await client.send({ type: 'INC' });
      latencies.push(performance.now() - t);
      acked++;
      lastIndex = Math.max(lastIndex, out.index);
    } catch {
      failed++;
      if (stopping) return;
    }
  }
});

// The fault: kill the replica that orders requests a third of the way in, restart it at two thirds.
const killAt = opts.duration / 3;
const restartAt = (2 * opts.duration) / 3;
const events = [];
let victim;
let caughtUpAt;
const seconds = () => (performance.now() - started) / 1000;
const phaseOf = (id) => {
  const r = group.report(id);
  if (!group.isRunning(id)) return 'killed';
  return r ? r.status.phase : 'starting';
};

let lastAcked = 0;
let lastTime = performance.now();
let rate = 0;
let lines = 0;
function render() {
  const now = performance.now();
  rate = ((acked - lastAcked) * 1000) / (now - lastTime);
  [lastAcked, lastTime] = [acked, now];
  const header = `t ${seconds().toFixed(0).padStart(3)} s  committed ${String(acked).padStart(7)}  ${rate.toFixed(0).padStart(5)} req/s${failed ? `  gave up ${failed}` : ''}`;
  const rows = group.ids.map((id) => {
    const r = group.report(id);
    const view = opts.faultModel === 'byzantine' ? 'view' : 'term';
    const status = r?.status;
    return `  ${id}  ${phaseOf(id).padEnd(12)} ${view} ${String(status?.term ?? '-').padStart(3)}  applied ${String(status?.appliedIndex ?? '-').padStart(7)}  links ${r?.peers.length ?? 0}`;
  });
  const out = [header, ...rows, dim(events.at(-1) ?? '')];
  if (tty) {
    if (lines) process.stdout.write(`\x1b[${lines}A`);
    process.stdout.write(out.map((l) => `\x1b[2K${l}`).join('\n') + '\n');
    lines = out.length;
  } else {
    console.log(out.join('\n'));
  }
}
const ticker = setInterval(render, tty ? 500 : 5_000);

const say = (text) => {
  events.push(`${seconds().toFixed(1)} s: ${text}`);
  if (!tty) console.log(events.at(-1));
};
const leaderOf = () => group.ids.map((id) => group.report(id)?.status.leader).find((l) => l && group.isRunning(l)) ?? group.ids[0];
await sleep(killAt * 1000);
victim = leaderOf();
await group.kill(victim, 'SIGKILL');
say(`killed ${victim} (the ${opts.faultModel === 'byzantine' ? 'primary' : 'leader'}) with SIGKILL; the others carry on`);
await sleep((restartAt - killAt) * 1000);
await group.restart(victim);
say(`restarted ${victim} from its files; it catches up`);
const others = () => Math.max(...group.ids.filter((id) => id !== victim).map((id) => group.report(id)?.status.appliedIndex ?? 0));
const until = performance.now() + (opts.duration - restartAt) * 1000;
while (performance.now() < until) {
  if (caughtUpAt === undefined && (group.report(victim)?.status.appliedIndex ?? 0) >= others() - opts.clients) {
    caughtUpAt = seconds();
    say(`${victim} caught up (applied ${group.report(victim)?.status.appliedIndex})`);
  }
  await sleep(100);
}
running = false;
await Promise.all(workload);
const elapsed = seconds();
// Let every replica apply the last requests, then compare their states. The reports come from
// separate processes at different moments: comparing the latest ones at once can mix a replica's
// state from before the last writes with another's after them (680, 680, 684 on a loaded machine).
// So wait, with a deadline, until every running replica has reported since the workload ended,
// all at the same applied index, at least the last acknowledged one, with the same digest.
const settled = await group.settle({ atLeast: lastIndex, timeoutMs: 20_000 });
const final = await clients[0].read();
render();
clearInterval(ticker);

latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1) : '-');
const digests = new Set(settled.replicas.map((r) => r.digest));
console.log('');
console.log(bold('summary'));
console.log(`  requests committed  ${acked} in ${elapsed.toFixed(1)} s (${(acked / elapsed).toFixed(0)} req/s), ${failed} gave up`);
console.log(`  latency             p50 ${pct(0.5)} ms, p90 ${pct(0.9)} ms, p99 ${pct(0.99)} ms`);
console.log(`  fault survived      ${victim} killed at ${killAt.toFixed(0)} s, restarted at ${restartAt.toFixed(0)} s, caught up ${caughtUpAt !== undefined ? `at ${caughtUpAt.toFixed(1)} s` : 'not yet'}`);
console.log(`  final counter       ${final.context.count} (acknowledged ${acked}${final.context.count >= acked ? ', none lost' : ', LOST SOME'})`);
const states = settled.settled
  ? `identical on every replica (applied index ${settled.replicas[0].appliedIndex}, settled in ${settled.waitedMs.toFixed(0)} ms)`
  : `NOT SETTLED after ${(settled.waitedMs / 1000).toFixed(0)} s: ${digests.size === 1 ? 'one digest' : `${digests.size} different digests`}, last acknowledged index ${lastIndex}`;
console.log(`  replica states      ${states}`);
for (const r of settled.replicas) {
  console.log(`    ${r.id}  applied ${String(r.appliedIndex ?? '-').padStart(7)}  digest ${r.digest?.slice(0, 16) ?? '-'}  ${r.phase}${r.running && !r.fresh ? ' (no report since the workload ended)' : ''}`);
}
await shutdown(final.context.count >= acked && settled.settled ? 0 : 1);

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
