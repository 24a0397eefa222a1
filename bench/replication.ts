/**
 * `npm run bench`: committed ops/s and latency of a replicated group in one process over the
 * simulated network with zero delay, next to the same machine run as one unreplicated XState
 * actor in the same invocation. The ratio is the figure (these machines are shared and noisy).
 *
 *   node dist/bench/replication.js [--requests N] [--clients N] [--long]
 *   --long: 1,000,000 requests, sampling RSS as it goes (log compaction keeps memory flat).
 *   --rss: sample RSS in a run of any length.
 */
import { assign, createActor, setup } from 'xstate';
import { createLocalCluster } from '../src/index.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const long = args.includes('--long');
const progress = args.includes('--progress');
const requests = long ? 1_000_000 : flag('requests', 20_000);
const clients = flag('clients', 64);

/** A small store: events of ~100 bytes set one of 8 keys (a context of ~1 kB, typical of a statechart). */
const store = setup({
  types: { context: {} as { items: Record<string, string>; writes: number }, events: {} as { type: 'SET'; key: string; value: string } },
}).createMachine({
  context: { items: {}, writes: 0 },
  on: {
    SET: { actions: assign({ items: ({ context, event }) => ({ ...context.items, [event.key]: event.value }), writes: ({ context }) => context.writes + 1 }) },
  },
});

const event = (i: number) => ({ type: 'SET', key: `k${i % 8}`, value: 'v'.repeat(70) + String(i).padStart(8, '0') });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function unreplicated(n: number): { opsPerSec: number } {
  const actor = createActor(store).start();
  const t = performance.now();
  for (let i = 0; i < n; i++) actor.send(event(i) as never);
  const opsPerSec = n / ((performance.now() - t) / 1000);
  actor.stop();
  return { opsPerSec };
}

async function replicated(n: number, concurrency: number, sampleRss = false) {
  const cluster = await createLocalCluster({
    machine: store,
    faultModel: 'crash',
    f: 1,
    seed: 1,
    // Wall-clock scheduling lets replicas overlap their crypto, as separate machines would.
    clock: 'real',
    network: { latency: 0 },
    // One process carries all three replicas and every client, so its event loop lags under
    // load: a longer election timeout keeps that lag from looking like a dead leader.
    tuning: { snapshotEvery: 10_000, keepEntries: 1_000, electionTicks: 50 },
    client: { retryAfterMs: 1_000, giveUpAfterMs: 600_000 },
  });
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    const latencies: number[] = [];
    const rss: number[] = [];
    let next = 0;
    let done = 0;
    ticker = progress
      ? setInterval(() => {
          const s = cluster.replicaIds.map((id) => {
            const r = cluster.replica(id).status();
            return `${id} ${r.phase}/${r.term} commit ${r.commitIndex} applied ${r.appliedIndex}`;
          });
          console.error(`[${concurrency} clients] ${done}/${n} done; ${s.join('; ')}`);
        }, 1000)
      : undefined;
    await cluster.createClient().send(event(0)); // elect a leader before timing
    const t = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        const client = cluster.createClient();
        while (next < n) {
          const i = next++;
          const started = performance.now();
          await client.send(event(i));
          latencies.push(performance.now() - started);
          done++;
          if (sampleRss && i % Math.max(1, Math.floor(n / 10)) === 0) rss.push(process.memoryUsage().rss);
        }
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    latencies.sort((a, b) => a - b);
    const leader = cluster.leader()!;
    const m = cluster.replicaIds.map((id) => cluster.replica(id).metrics);
    const verifications = m.reduce((s, x) => s + x.verifications, 0) / m.length;
    return {
      term: cluster.replica(leader).status().term,
      opsPerSec: n / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      verificationsPerRequestPerReplica: verifications / n,
      snapshots: cluster.replica(leader).metrics.snapshotsTaken,
      rss,
    };
  } finally {
    clearInterval(ticker);
    await cluster.stop();
  }
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

console.log(`statechorus benchmark: ${requests.toLocaleString('en-US')} requests of ~100 bytes, node ${process.version}`);
unreplicated(20_000); // warm-up
const base = unreplicated(Math.max(requests, 100_000));
const one = await replicated(Math.min(2_000, requests), 1);
const many = await replicated(requests, clients, long || args.includes('--rss'));
const peakRss = process.memoryUsage().rss;

console.log('');
console.log('| run | ops/s | p50 ms | p99 ms | vs unreplicated |');
console.log('| --- | ---: | ---: | ---: | ---: |');
console.log(`| unreplicated XState actor | ${fmt(base.opsPerSec)} | | | 1.00 |`);
console.log(`| crash group, 3 replicas, 1 client | ${fmt(one.opsPerSec)} | ${fmt(one.p50, 3)} | ${fmt(one.p99, 3)} | ${(one.opsPerSec / base.opsPerSec).toFixed(3)} |`);
console.log(`| crash group, 3 replicas, ${clients} clients | ${fmt(many.opsPerSec)} | ${fmt(many.p50, 3)} | ${fmt(many.p99, 3)} | ${(many.opsPerSec / base.opsPerSec).toFixed(3)} |`);
console.log('');
console.log(`signature verifications per request per replica: ${many.verificationsPerRequestPerReplica.toFixed(4)}; leader snapshots: ${many.snapshots}; final term: ${many.term} (1 = no re-election)`);
if (many.rss.length) console.log(`RSS at each tenth of the run (MiB): ${many.rss.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')}`);
console.log(`peak RSS: ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
