/**
 * `node dist/bench/abuse.js`: what one Byzantine member's validly signed abuse costs the
 * group (issue 12 finding 7). A byzantine group (4 replicas, f = 1) in one process on the real
 * clock (replicas overlap their crypto); honest closed-loop clients measure committed ops/s
 * while r4 is quiet, then during each storm (behaviour 'flood', src/cluster/behaviours/misbehaviour.ts):
 *
 *   status  every status period, to each peer: one bundle of 4,096 status{executed: 0} and 4 alone
 *   proofs  every status period, to each peer: a view change quoting 4,096 distinct signed proofs, and 4 stale view changes
 *   fetch   every status period, to each peer: 64 fetchState demands for its latest checkpoint
 *
 * Printed: ops/s and the victim r2's signatures and verifications per second in each phase,
 * and each storm's throughput as a fraction of the quiet rate (same invocation: the figure).
 *
 *   node dist/bench/abuse.js [--seconds S] [--clients N]
 */
import { createLocalCluster, type FloodOptions, type ReplicaMetrics } from '../src/index.ts';
import { store, storeEvent } from './apps.ts';
import { runLoad } from './load.ts';
import { numberOption } from './args.ts';

const seconds = numberOption('seconds', 4);
const clients = numberOption('clients', 32);

// Quiet phases between the storms: each storm is compared with the quiet phases either side of it
// (this machine is shared, so its speed drifts during a run).
const QUIET: [string, undefined] = ['quiet', undefined];
const STORMS: Array<[string, Partial<FloodOptions> | undefined]> = [
  QUIET,
  ['status storm', { kinds: ['status'], statuses: 4096, bundles: 4 }],
  QUIET,
  ['proof storm', { kinds: ['proofs'], proofs: 4096, bundles: 4 }],
  QUIET,
  ['fetchState storm', { kinds: ['fetch'], fetches: 64 }],
  QUIET,
];

const cluster = await createLocalCluster({
  machine: store,
  faultModel: 'byzantine',
  f: 1,
  seed: 1,
  clock: 'real',
  network: { latency: 0 },
  client: { retryAfterMs: 1_000, giveUpAfterMs: 600_000 },
});
/** r4 floods (or is quiet again); resolves once the proofs it quotes are signed. */
const attack = async (flood: Partial<FloodOptions> | undefined) => {
  await cluster.byzantine('r4', flood ? 'flood' : 'correct', { flood });
  await cluster.behaviourReady('r4');
};
const victim = () => cluster.replica('r2').metrics;
try {
  const writers = Array.from({ length: clients }, () => cluster.createClient());
  let n = 0;
  await writers[0]!.send(storeEvent(n++)); // settle view 0
  // Warm up (JIT, caches), and let r4 sign the proofs it will quote before anything is measured.
  await runLoad({ clients, durationMs: 2_000, warmupMs: 0, op: async (c) => void (await writers[c]!.send(storeEvent(n++))) });
  await attack({ kinds: ['proofs'], proofs: 4096, bundles: 0 });
  await attack(undefined);
  const rows: Array<{ phase: string; opsPerSec: number; sigs: number; verifs: number; misbehaviour: string }> = [];
  for (const [phase, flood] of STORMS) {
    await attack(flood);
    const before: ReplicaMetrics = structuredClone(victim());
    const t = performance.now();
    // The storm ends with the measured window, so draining the last ops does not run on under it.
    const calm = setTimeout(() => void attack(undefined), 1_000 + seconds * 1000);
    const r = await runLoad({ clients, durationMs: seconds * 1000, warmupMs: 1_000, op: async (c) => void (await writers[c]!.send(storeEvent(n++))) });
    clearTimeout(calm);
    const s = (performance.now() - t) / 1000;
    const after = victim();
    const mis = Object.entries(after.misbehaviour)
      .map(([k, v]) => [k, v - (before.misbehaviour[k] ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    rows.push({ phase, opsPerSec: r.opsPerSec, sigs: (after.signatures - before.signatures) / s, verifs: (after.verifications - before.verifications) / s, misbehaviour: mis || '-' });
  }
  await attack(undefined);
  console.log(`byzantine group, 4 replicas in one process (real clock), ${clients} clients, ${seconds} s per phase; r4 floods, r2 is measured`);
  console.log('phase               ops/s   x quiet   r2 signatures/s   r2 verifications/s   r2 misbehaviour counted');
  rows.forEach((row, i) => {
    // A storm against the mean of the quiet phases either side; a quiet phase against itself.
    const quiet = row.phase === 'quiet' ? row.opsPerSec : (rows[i - 1]!.opsPerSec + rows[i + 1]!.opsPerSec) / 2;
    console.log(
      `${row.phase.padEnd(18)} ${row.opsPerSec.toFixed(1).padStart(6)}   ${(row.opsPerSec / quiet).toFixed(2).padStart(7)}   ${row.sigs.toFixed(0).padStart(15)}   ${row.verifs.toFixed(0).padStart(18)}   ${row.misbehaviour}`,
    );
  });
} finally {
  await cluster.stop();
}
