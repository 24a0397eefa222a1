/**
 * One seeded run of the crash-fault group under faults, with the checkers: linearizable
 * client history (the app machine as the model), equal digests at equal applied index,
 * nothing acknowledged lost, and commits again within bounded time once faults heal.
 */
import { appModel } from '../../src/app/index.ts';
import { checkLinearizable, type Operation } from '../../src/check/index.ts';
import { ClientTimeoutError, createLocalCluster, type LocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

export interface ScenarioOptions {
  clients?: number;
  opsPerClient?: number;
  faults?: boolean;
  /** Snapshot often so that compaction and snapshot installation happen in most runs. */
  snapshotEvery?: number;
}

export interface ScenarioReport {
  seed: number;
  completed: number;
  pending: number;
  reads: number;
  faults: string[];
  finalIndex: number;
  snapshotsInstalled: number;
  virtualMs: number;
  /** Hash of every send, delivery, drop and fault of the run: equal for equal seeds. */
  traceHash: string;
}

type Op = Operation<unknown, unknown>;

export async function runCrashScenario(seed: number, options: ScenarioOptions = {}): Promise<ScenarioReport> {
  const clients = options.clients ?? 4;
  const opsPerClient = options.opsPerClient ?? 25;
  const cluster = await createLocalCluster({
    machine: counter,
    faultModel: 'crash',
    f: 1,
    seed,
    network: { latency: { min: 0.5, max: 4 } },
    tuning: { snapshotEvery: options.snapshotEvery ?? 40, keepEntries: 5 },
    client: { retryAfterMs: 150, giveUpAfterMs: 6_000 },
  });
  const rng = cluster.sim.random.fork('scenario');
  const ids = cluster.replicaIds;
  const history: Op[] = [];
  const faults: string[] = [];
  const digestAt = new Map<number, { digest: string; replica: string }>();
  const violations: string[] = [];
  let acked = 0;
  let pendingSum = 0;
  let reads = 0;

  const sampleDigests = () => {
    for (const id of ids) {
      const s = cluster.replica(id).status();
      if (!s.up || s.appliedIndex === 0) continue;
      const seen = digestAt.get(s.appliedIndex);
      if (!seen) digestAt.set(s.appliedIndex, { digest: s.digest, replica: id });
      else if (seen.digest !== s.digest) violations.push(`at index ${s.appliedIndex}: ${seen.replica} has ${seen.digest.slice(0, 12)}, ${id} has ${s.digest.slice(0, 12)}`);
    }
  };

  try {
    let running = clients;
    const workload = Array.from({ length: clients }, async () => {
      const client = cluster.createClient();
      for (let i = 0; i < opsPerClient; i++) {
        const now = () => cluster.sim.clock.now();
        // Think time spreads the workload over seconds of virtual time, so faults land mid-run.
        await cluster.sim.clock.sleep(rng.between(0, 150));
        if (rng.chance(0.2)) {
          const call = now();
          try {
            const snap = await client.read();
            history.push({ client: client.id, input: null, call, output: snap, return: now() });
            reads++;
          } catch (err) {
            if (!(err instanceof ClientTimeoutError)) throw err;
          }
          continue;
        }
        const event = { type: 'ADD', amount: rng.intBetween(1, 9) };
        const call = now();
        try {
          const out = await client.send(event);
          history.push({ client: client.id, input: event, call, output: out.snapshot, return: now() });
          acked += event.amount;
        } catch (err) {
          if (!(err instanceof ClientTimeoutError)) throw err;
          history.push({ client: client.id, input: event, call });
          pendingSum += event.amount;
          break; // a client that gave up stops: its next sequence number could be refused as stale
        }
      }
      running--;
    });

    const nemesis = (async () => {
      if (options.faults === false) return;
      while (running > 0) {
        await cluster.sim.clock.sleep(rng.between(30, 400));
        sampleDigests();
        const down = ids.filter((id) => !cluster.sim.isUp(id));
        const action = rng.int(6);
        if (action === 0 && down.length < cluster.f) {
          const victim = rng.pick(ids.filter((id) => cluster.sim.isUp(id)));
          cluster.crash(victim);
          faults.push(`crash ${victim}`);
        } else if (action === 1 && down.length > 0) {
          const back = rng.pick(down);
          await cluster.restart(back);
          faults.push(`restart ${back}`);
        } else if (action === 2) {
          const shuffled = rng.shuffle(ids);
          const cut = rng.intBetween(1, ids.length - 1);
          cluster.partition(shuffled.slice(0, cut), shuffled.slice(cut));
          faults.push(`partition ${shuffled.slice(0, cut)}|${shuffled.slice(cut)}`);
        } else if (action === 3) {
          cluster.heal();
          faults.push('heal');
        } else if (action === 4) {
          const loss = rng.between(0, 0.15);
          const duplicate = rng.between(0, 0.1);
          const reorder = rng.between(0, 0.3);
          cluster.network({ loss, duplicate, reorder });
          faults.push(`network loss=${loss.toFixed(2)} dup=${duplicate.toFixed(2)} reorder=${reorder.toFixed(2)}`);
        } else {
          cluster.network({ loss: 0, duplicate: 0, reorder: 0 });
          faults.push('network clean');
        }
      }
    })();

    await Promise.all([...workload, nemesis]);

    // Heal everything; the group must commit again within bounded time.
    cluster.heal();
    cluster.network({ loss: 0, duplicate: 0, reorder: 0 });
    for (const id of ids) if (!cluster.sim.isUp(id)) await cluster.restart(id);
    const healedAt = cluster.sim.clock.now();
    const last = cluster.createClient();
    const finalCall = cluster.sim.clock.now();
    const final = await last.send({ type: 'ADD', amount: 0 });
    if (cluster.sim.clock.now() - healedAt > 5_000) violations.push(`after healing, the group took ${cluster.sim.clock.now() - healedAt} ms to commit`);
    history.push({ client: last.id, input: { type: 'ADD', amount: 0 }, call: finalCall, output: final.snapshot, return: cluster.sim.clock.now() });

    try {
      await cluster.waitFor(() => ids.every((id) => cluster.replica(id).status().appliedIndex >= final.index), { timeoutMs: 20_000 });
    } catch {
      const statuses = ids.map((id) => {
        const s = cluster.replica(id).status();
        return `${id}: ${s.phase} term ${s.term} commit ${s.commitIndex} applied ${s.appliedIndex} digest ${s.digest.slice(0, 12)}`;
      });
      violations.push(`replicas did not all reach index ${final.index} within 20 s after healing:\n  ${statuses.join('\n  ')}`);
    }
    sampleDigests();
    const count = (final.snapshot.context as { count: number }).count;
    if (count < acked) violations.push(`acknowledged writes lost: final count ${count} < acknowledged sum ${acked}`);
    if (count > acked + pendingSum) violations.push(`final count ${count} exceeds acknowledged ${acked} + pending ${pendingSum}`);

    const lin = checkLinearizable(appModel(counter), history, { timeoutMs: 20_000 });
    if (lin.ok === false) violations.push(`history not linearizable:\n${lin.explanation}`);
    if (lin.ok === 'unknown') violations.push(`linearizability undecided: ${lin.explanation}`);

    if (violations.length) {
      throw new Error(`${violations.join('\n')}\nfaults: ${faults.join('; ')}\ntrace tail:\n${cluster.sim.trace.format(30)}`);
    }
    return {
      seed,
      completed: history.filter((o) => o.return !== undefined).length,
      pending: history.filter((o) => o.return === undefined).length,
      reads,
      faults,
      finalIndex: final.index,
      snapshotsInstalled: ids.reduce((n, id) => n + cluster.replica(id).metrics.snapshotsInstalled, 0),
      virtualMs: cluster.sim.clock.now(),
      traceHash: cluster.sim.trace.hash,
    };
  } finally {
    await cluster.stop();
  }
}

export type { LocalCluster };
