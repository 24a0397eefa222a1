/**
 * `npm run bench`: committed ops/s and latency of the crash group (3 replicas, f = 1) and the
 * byzantine group (4 replicas, f = 1), each in one process over the simulated network with
 * zero delay, next to the same machine run as one unreplicated XState actor in the same
 * invocation. The ratios are the figure (these machines are shared and noisy).
 *
 * Then the same groups as separate processes over real WebRTC on loopback with file storage,
 * under the same number of clients for a fixed time, next to the in-process figures (ratio).
 *
 *   node dist/bench/replication.js [--requests N] [--clients N] [--single N] [--only crash|byzantine] [--long] [--rss] [--progress] [--network-seconds S] [--no-network]
 *   --single: requests of the one-client run (default min(2,000, --requests); 0 skips it, e.g.
 *             to profile the loaded run alone: one request per batch makes it crypto-bound).
 *   --long: 1,000,000 requests, sampling RSS and heap at each tenth (log compaction and stable
 *           checkpoints keep memory flat); combine with --only to run one group.
 *   --rss: sample RSS and heap in a run of any length.
 *   --progress: print each replica's state every second (to stderr), to diagnose stalls.
 *   --network-seconds: length of each run over WebRTC (default 10); --no-network skips them.
 */
import { createActor } from 'xstate';
import { createLocalCluster, type FaultModel, type ReplicaMetrics, type ReplicaTuning } from '../src/index.ts';
import { store, storeEvent } from './apps.ts';
import { benchNetworkGroup, type NetworkRow } from './network.ts';
import { hasFlag, numberOption, textOption } from './args.ts';

const long = hasFlag('long');
const progress = hasFlag('progress');
const sampleMemory = long || hasFlag('rss');
const requests = long ? 1_000_000 : numberOption('requests', 20_000);
const clients = numberOption('clients', 64);
const single = numberOption('single', Math.min(2_000, requests));
const only = textOption('only');
if (only !== undefined && only !== 'crash' && only !== 'byzantine') throw new TypeError(`--only takes crash or byzantine, not ${only}`);
const groups: FaultModel[] = only ? [only] : ['crash', 'byzantine'];
const network = !hasFlag('no-network') && !long;
const networkMs = numberOption('network-seconds', 10) * 1000;

const event = storeEvent;

/**
 * One process carries every replica and every client, so its event loop lags under load:
 * generous timeouts keep that lag from looking like a dead leader (crash) or a faulty
 * primary (byzantine), which would measure view changes instead of the normal case.
 */
const TUNING: Record<FaultModel, Partial<ReplicaTuning>> = {
  crash: { snapshotEvery: 10_000, keepEntries: 1_000, electionTicks: 50 },
  byzantine: { requestTimeoutMs: 10_000, viewChangeTimeoutMs: 10_000, statusMs: 500, checkpointEvery: 64, windowSize: 256 },
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Process CPU time (user + system, every thread: WebCrypto runs on libuv's pool) in µs. */
const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

function unreplicated(n: number): { opsPerSec: number; cpuPerOp: number } {
  const actor = createActor(store).start();
  const t = performance.now();
  const cpu = cpuMicros();
  for (let i = 0; i < n; i++) actor.send(event(i) as never);
  const opsPerSec = n / ((performance.now() - t) / 1000);
  const cpuPerOp = (cpuMicros() - cpu) / n;
  actor.stop();
  return { opsPerSec, cpuPerOp };
}

const sum = (ms: ReplicaMetrics[], key: 'signatures' | 'verifications') => ms.reduce((s, m) => s + m[key], 0);

/** n requests from `concurrency` clients, each sending one request at a time, to a group of the given fault model. */
async function runGroup(faultModel: FaultModel, n: number, concurrency: number, memorySamples = false) {
  const cluster = await createLocalCluster({
    machine: store,
    faultModel,
    f: 1,
    seed: 1,
    // Wall-clock scheduling lets replicas overlap their crypto, as separate machines would.
    clock: 'real',
    network: { latency: 0 },
    tuning: TUNING[faultModel],
    client: { retryAfterMs: 1_000, giveUpAfterMs: 600_000 },
  });
  const label = `[${faultModel}, ${concurrency} clients]`;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    const latencies: number[] = [];
    // RSS and the JS heap in use: RSS alone cannot tell a leak from a heap V8 has not shrunk yet.
    const memory: NodeJS.MemoryUsage[] = [];
    let next = 0;
    let done = 0;
    ticker = progress
      ? setInterval(() => {
          const s = cluster.replicaIds.map((id) => {
            const r = cluster.replica(id).status();
            const seqs = r.faultModel === 'byzantine' ? ` exec ${r.executedSeq} stable ${r.stableSeq}` : '';
            return `${id} ${r.phase}/${r.term} commit ${r.commitIndex} applied ${r.appliedIndex}${seqs}`;
          });
          console.error(`${label} ${done}/${n} done; ${s.join('; ')}`);
        }, 1000)
      : undefined;
    await cluster.createClient().send(event(0)); // elect a leader / settle view 0 before timing
    // Count crypto only over the timed requests, not the start-up and the warm-up request.
    const metrics = () => cluster.replicaIds.map((id) => cluster.replica(id).metrics);
    // Ordered batches (crash: the leader's proposals; byzantine: sequence numbers executed), to show batching.
    const batches = () =>
      faultModel === 'byzantine' ? Math.max(...cluster.replicaIds.map((id) => cluster.replica(id).status().executedSeq ?? 0)) : metrics().reduce((s, m) => s + m.proposals, 0);
    const before = { signatures: sum(metrics(), 'signatures'), verifications: sum(metrics(), 'verifications'), batches: batches() };
    const tenth = Math.max(1, Math.floor(n / 10));
    const t = performance.now();
    const cpu = cpuMicros();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        const client = cluster.createClient();
        while (next < n) {
          const i = next++;
          const started = performance.now();
          await client.send(event(i));
          latencies.push(performance.now() - started);
          done++;
          if (memorySamples && done % tenth === 0) memory.push(process.memoryUsage());
        }
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    const cpuPerOp = (cpuMicros() - cpu) / n;
    latencies.sort((a, b) => a - b);
    const replicas = cluster.replicaIds.length;
    const statuses = cluster.replicaIds.map((id) => cluster.replica(id).status());
    const perRequestPerReplica = (key: 'signatures' | 'verifications') => (sum(metrics(), key) - before[key]) / n / replicas;
    return {
      faultModel,
      replicas,
      concurrency,
      opsPerSec: n / seconds,
      cpuPerOp,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      signaturesPerRequestPerReplica: perRequestPerReplica('signatures'),
      verificationsPerRequestPerReplica: perRequestPerReplica('verifications'),
      requestsPerBatch: n / (batches() - before.batches),
      // Crash: Raft term (1 = no re-election). Byzantine: the view (0 = no view change).
      term: Math.max(...statuses.map((s) => s.term)),
      stableSeq: statuses.map((s) => s.stableSeq ?? 0),
      snapshots: Math.max(...metrics().map((m) => m.snapshotsTaken)),
      memory,
    };
  } finally {
    clearInterval(ticker);
    await cluster.stop();
  }
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

console.log(`statechorus benchmark: ${requests.toLocaleString('en-US')} requests of ~100 bytes, ${clients} clients, node ${process.version}`);
unreplicated(20_000); // warm-up
const base = unreplicated(Math.max(requests, 100_000));
const results: Array<Awaited<ReturnType<typeof runGroup>>> = [];
for (const faultModel of groups) {
  if (single > 0) results.push(await runGroup(faultModel, single, 1));
  results.push(await runGroup(faultModel, requests, clients, sampleMemory));
}
const peakRss = process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB
const networkRows: NetworkRow[] = [];
if (network) {
  for (const faultModel of groups) {
    networkRows.push(...(await benchNetworkGroup({ faultModel, clientCounts: single > 0 ? [1, clients] : [clients], durationMs: networkMs })));
  }
}

console.log('');
// CPU µs/op counts the whole process (every replica and client): less sensitive than ops/s to other load on a shared machine.
console.log('| run | ops/s | p50 ms | p99 ms | CPU µs/op | vs unreplicated |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
console.log(`| unreplicated XState actor | ${fmt(base.opsPerSec)} | | | ${fmt(base.cpuPerOp, 1)} | 1.00 |`);
for (const r of results) {
  const name = `${r.faultModel} group, ${r.replicas} replicas, ${r.concurrency} client${r.concurrency === 1 ? '' : 's'}`;
  console.log(`| ${name} | ${fmt(r.opsPerSec)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.cpuPerOp)} | ${(r.opsPerSec / base.opsPerSec).toFixed(4)} |`);
}
console.log('');
const loaded = (faultModel: FaultModel) => results.find((r) => r.faultModel === faultModel && r.concurrency === clients);
const crash = loaded('crash');
const byzantine = loaded('byzantine');
if (crash && byzantine) {
  const ratio = (byzantine.opsPerSec / crash.opsPerSec).toFixed(2);
  console.log(`byzantine/crash throughput at ${clients} clients: ${ratio} (target >= 0.5); by CPU per request: ${(crash.cpuPerOp / byzantine.cpuPerOp).toFixed(2)}`);
}
// Every run, the one-client runs too: one request per batch shows the crypto cost of a batch undivided.
for (const r of results) {
  const target = r.faultModel === 'byzantine' && r.concurrency === clients ? ' (target <= 0.05)' : '';
  const crypto = `${fmt(r.requestsPerBatch, 1)} requests per batch; signatures ${r.signaturesPerRequestPerReplica.toFixed(4)}, verifications ${r.verificationsPerRequestPerReplica.toFixed(4)}${target} per request per replica`;
  const state =
    r.faultModel === 'crash'
      ? `snapshots: ${r.snapshots} (most by one replica); final term: ${r.term} (1 = no re-election)`
      : `final view: ${r.term} (0 = no view change); stable checkpoint seq: ${r.stableSeq.join(', ')} (per replica)`;
  console.log(`${r.faultModel}, ${r.concurrency} client${r.concurrency === 1 ? '' : 's'}: ${crypto}; ${state}`);
  if (r.memory.length) console.log(`${r.faultModel}: RSS / heap used at each tenth of the run (MiB): ${r.memory.map((m) => `${mib(m.rss)}/${mib(m.heapUsed)}`).join(', ')}`);
}
console.log(`peak RSS: ${mib(peakRss)} MiB`);
if (networkRows.length) {
  console.log('');
  console.log(`Over WebRTC on loopback, one process per replica, file storage (fsync on), clients in one load process, ${networkMs / 1000} s per run:`);
  console.log('');
  console.log('| run | ops/s | p50 ms | p99 ms | replica CPU µs/op | errors | vs in-process (target >= 0.70) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of networkRows) {
    const inProcess = results.find((x) => x.faultModel === r.faultModel && x.concurrency === r.clients);
    const ratio = inProcess ? (r.opsPerSec / inProcess.opsPerSec).toFixed(2) : '';
    const name = `${r.faultModel} group over WebRTC, ${r.clients} client${r.clients === 1 ? '' : 's'}`;
    console.log(`| ${name} | ${fmt(r.opsPerSec)} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${fmt(r.replicaCpuMicrosPerOp)} | ${r.errors} | ${ratio} |`);
  }
  const changes = networkRows.filter((r) => r.term !== (r.faultModel === 'crash' ? 1 : 0));
  if (changes.length) console.log(`leader changes during the WebRTC runs: ${changes.map((r) => `${r.faultModel} ${r.clients} clients -> term/view ${r.term}`).join('; ')}`);
}
