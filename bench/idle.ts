/**
 * `npm run bench:idle`: what an idle group costs (issue target: a replica of an idle group uses
 * at most 1% of a core and sends at most 5 messages a second).
 *
 * Messages: each group (crash, 3 replicas; Byzantine, 4) on the simulated network takes one
 * write, settles for 5 s, then idles for `--seconds` of virtual time; messages sent are counted
 * per replica from the network trace (exact, the same on every run of a seed).
 * CPU: the same groups on the real clock in this process, idle for `--cpu-seconds` of wall time
 * after one write; the process's CPU time over that span, per replica (the simulator's share
 * included, so an upper bound).
 *
 *   node dist/bench/idle.js [--seconds S] [--cpu-seconds S] [--seed N]
 */
import { createLocalCluster, type FaultModel } from '../src/index.ts';
import { store, storeEvent } from './apps.ts';
import { numberOption } from './args.ts';

const seconds = numberOption('seconds', 10);
const cpuSeconds = numberOption('cpu-seconds', 5);
const seed = numberOption('seed', 7);
const MESSAGE_TARGET = 5;
const CPU_TARGET = 1;

async function messages(model: FaultModel): Promise<Map<string, number>> {
  const cluster = await createLocalCluster({ machine: store, faultModel: model, f: 1, seed });
  try {
    const client = cluster.createClient();
    await client.send(storeEvent(1));
    await cluster.sim.clock.sleep(5_000);
    const sent = new Map<string, number>(cluster.replicaIds.map((id) => [id, 0]));
    const trace = cluster.sim.trace;
    const record = trace.record.bind(trace);
    trace.record = (time, kind, from, to, payload) => {
      if (kind === 'send' && from !== undefined && sent.has(from)) sent.set(from, sent.get(from)! + 1);
      record(time, kind, from, to, payload);
    };
    await cluster.sim.clock.sleep(seconds * 1000);
    trace.record = record;
    return sent;
  } finally {
    await cluster.stop();
  }
}

async function cpu(model: FaultModel): Promise<number> {
  const cluster = await createLocalCluster({ machine: store, faultModel: model, f: 1, seed, clock: 'real' });
  try {
    await cluster.createClient().send(storeEvent(1));
    await new Promise((r) => setTimeout(r, 1000));
    const before = process.cpuUsage();
    const start = performance.now();
    await new Promise((r) => setTimeout(r, cpuSeconds * 1000));
    const used = process.cpuUsage(before);
    const wallMs = performance.now() - start;
    return ((used.user + used.system) / 1000 / wallMs / cluster.replicaIds.length) * 100;
  } finally {
    await cluster.stop();
  }
}

for (const model of ['crash', 'byzantine'] as FaultModel[]) {
  const sent = await messages(model);
  const rates = [...sent].map(([id, n]) => `${id} ${(n / seconds).toFixed(1)}`).join(', ');
  const worst = Math.max(...[...sent.values()].map((n) => n / seconds));
  const share = await cpu(model);
  console.log(
    `${model.padEnd(9)} messages/s per replica: ${rates}; worst ${worst.toFixed(1)} (target <= ${MESSAGE_TARGET}: ${worst <= MESSAGE_TARGET ? 'met' : 'not met'}); ` +
      `CPU per replica ${share.toFixed(2)}% of a core (target <= ${CPU_TARGET}%: ${share <= CPU_TARGET ? 'met' : 'not met'})`,
  );
}
