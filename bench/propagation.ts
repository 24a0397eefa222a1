/**
 * `npm run bench:propagation`: how long a write takes to reach every replica, not only the one
 * that answers the client. One writer sends requests one after another to a crash group (3
 * replicas) and a Byzantine group (4) on the simulated network (links of 1–5 ms, virtual time,
 * so the figures are the protocol's own and the same on every run of a seed). For each write:
 * the client's latency, and the time until the last replica applied it. The ratio of the two
 * p50s is the figure (issue target: propagation within 2× of Yjs, which sends each update to
 * every peer at once).
 *
 *   node dist/bench/propagation.js [--writes N] [--seed N]
 */
import { createLocalCluster, type FaultModel } from '../src/index.ts';
import { store, storeEvent } from './apps.ts';
import { numberOption } from './args.ts';

const writes = numberOption('writes', 300);
const seed = numberOption('seed', 7);

interface Row {
  model: FaultModel;
  clientP50: number;
  clientP99: number;
  allP50: number;
  allP99: number;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

async function run(model: FaultModel): Promise<Row> {
  const cluster = await createLocalCluster({ machine: store, faultModel: model, f: 1, seed });
  const clock = cluster.sim.clock;
  // When each replica first showed a state with `writes` = w (its app's own count of SETs).
  const reached = new Map<string, Map<number, number>>();
  for (const id of cluster.replicaIds) {
    const seen = new Map<number, number>();
    reached.set(id, seen);
    cluster.replica(id).app.subscribe((snapshot) => {
      const w = (snapshot.context as { writes: number }).writes;
      if (!seen.has(w)) seen.set(w, clock.now());
    });
  }
  const client = cluster.createClient();
  await client.send(storeEvent(0)); // opens the session: not measured
  const clientMs: number[] = [];
  const allMs: number[] = [];
  for (let i = 1; i <= writes; i++) {
    const start = clock.now();
    await client.send(storeEvent(i)); // rejects if the write fails
    clientMs.push(clock.now() - start);
    const w = i + 1;
    await cluster.waitFor(() => [...reached.values()].every((seen) => seen.has(w)), { stepMs: 1, timeoutMs: 5_000 });
    allMs.push(Math.max(...[...reached.values()].map((seen) => seen.get(w)!)) - start);
  }
  client.close();
  await cluster.stop();
  return { model, clientP50: percentile(clientMs, 50), clientP99: percentile(clientMs, 99), allP50: percentile(allMs, 50), allP99: percentile(allMs, 99) };
}

console.log(`${writes} writes, one writer, links of 1–5 ms, seed ${seed} (virtual ms)\n`);
console.log('| group | client p50 | client p99 | every replica p50 | every replica p99 | every replica / client (p50) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const model of ['crash', 'byzantine'] as FaultModel[]) {
  const r = await run(model);
  const ms = (x: number) => x.toFixed(1);
  console.log(`| ${r.model} | ${ms(r.clientP50)} | ${ms(r.clientP99)} | ${ms(r.allP50)} | ${ms(r.allP99)} | ${(r.allP50 / r.clientP50).toFixed(2)} |`);
}
