/**
 * Fidelity: each XState v5 feature's machine, run on a local actor (XState's SimulatedClock)
 * and on the crash and Byzantine groups, must show the same state after every step: the
 * client's agreed snapshot and every replica's app (value, context, status, output, children),
 * also across a leader/primary crash and its restart from storage (snapshot restore); every
 * case ends with a follower restored from its storage, compared with one that never stopped.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type AnyActorRef } from 'xstate';
import { deterministicIds } from '../../src/app/determinism.ts';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';
import { CASES, type FeatureCase } from './machines.ts';

const TUNING = {
  crash: { snapshotEvery: 4, keepEntries: 0 },
  byzantine: { checkpointEvery: 4, windowSize: 16, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, statusMs: 50 },
};

/** Actor refs (live, or persisted as { xstate$$type: 1, id }) become { ref: id }. */
function plain(x: unknown): unknown {
  if (x === null || typeof x !== 'object') return x;
  if (Array.isArray(x)) return x.map(plain);
  const o = x as Record<string, unknown>;
  if ('sessionId' in o && 'send' in o) return { ref: (o as unknown as AnyActorRef).id };
  if (o.xstate$$type === 1 && typeof o.id === 'string') return { ref: o.id };
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (o[k] !== undefined) out[k] = plain(o[k]);
  return out;
}

function view(snap: { value?: unknown; context?: unknown; status?: string; output?: unknown; children?: Record<string, AnyActorRef> }, withChildren: boolean) {
  const v: Record<string, unknown> = { value: snap.value, context: plain(snap.context), status: snap.status };
  if (snap.output !== undefined) v.output = plain(snap.output);
  if (withChildren) {
    v.children = Object.fromEntries(
      Object.entries(snap.children ?? {}).map(([id, c]) => {
        const cs = c.getSnapshot() as { value?: unknown; context?: unknown; status?: string };
        return [id, { value: cs.value, context: plain(cs.context), status: cs.status }];
      }),
    );
  }
  return v;
}

async function settle(cluster: LocalCluster, index: number): Promise<string[]> {
  const live = cluster.replicaIds.filter((id) => cluster.sim.isUp(id));
  await cluster.waitFor(() => live.every((id) => cluster.replica(id).status().appliedIndex >= index), { timeoutMs: 20_000 });
  await cluster.waitFor(() => new Set(live.map((id) => `${cluster.replica(id).status().appliedIndex}:${cluster.replica(id).status().digest}`)).size === 1, { timeoutMs: 20_000 });
  return live;
}

async function run(c: FeatureCase, faultModel: 'crash' | 'byzantine', seed: number): Promise<void> {
  const cluster = await createLocalCluster({ machine: c.machine, faultModel, f: 1, seed, tuning: TUNING[faultModel], client: { retryAfterMs: 150, giveUpAfterMs: 20_000 } });
  try {
    await cluster.waitFor(() => cluster.replicaIds.every((id) => cluster.replica(id).status().appliedIndex >= 1)); // started at genesis
    const t0 = cluster.sim.clock.now();
    const clock = new SimulatedClock();
    // In small steps: SimulatedClock runs each due timer at the clock's final time, so a long
    // jump would start the next delay late (the executor runs each timer at its own due time).
    const catchUp = () => {
      const to = cluster.sim.clock.now() - t0;
      while (clock.now() < to) clock.set(Math.min(to, clock.now() + 5));
    };
    const local = createActor(c.machine, { clock, id: c.machine.id });
    deterministicIds(local, { next: 0 });
    local.start();
    const client = cluster.createClient();
    let crashed: string | undefined;
    let index = 1;
    const compareReplicas = async (step: string) => {
      const live = await settle(cluster, index);
      const expected = view(local.getSnapshot(), true);
      for (const id of live) expect(view(cluster.replica(id).app.getSnapshot() as never, true), `${c.feature} (${faultModel}) ${id} after ${step}`).toEqual(expected);
    };
    for (const [i, step] of c.script.entries()) {
      const name = `step ${i} ${JSON.stringify(step)}`;
      if ('send' in step) {
        const out = await client.send(step.send);
        index = out.index;
        catchUp();
        local.send(step.send);
        expect(view(out.snapshot, false), `${c.feature} (${faultModel}) client after ${name}`).toEqual(view(local.getSnapshot(), false));
      } else if ('wait' in step) {
        await cluster.sim.clock.sleep(step.wait);
        catchUp();
      } else {
        crashed = await cluster.waitForLeader();
        cluster.crash(crashed);
      }
      await compareReplicas(name);
    }
    if (crashed !== undefined) {
      await cluster.restart(crashed);
      index = Math.max(index, ...cluster.replicaIds.filter((id) => id !== crashed).map((id) => cluster.replica(id).status().appliedIndex));
      await compareReplicas('restart of the crashed leader');
    }
    // Every case ends with a restore: a follower restarts from its storage (snapshot and log)
    // and must hold the same live actors (children, refs, ids) as a replica that never stopped.
    const leader = await cluster.waitForLeader();
    const follower = cluster.replicaIds.find((id) => id !== leader && cluster.sim.isUp(id))!;
    cluster.crash(follower);
    await cluster.restart(follower);
    const live = await settle(cluster, Math.max(...cluster.replicaIds.map((id) => cluster.replica(id).status().appliedIndex)));
    const witness = live.find((id) => id !== follower)!;
    expect(view(cluster.replica(follower).app.getSnapshot() as never, true), `${c.feature} (${faultModel}) ${follower} restored`).toEqual(view(cluster.replica(witness).app.getSnapshot() as never, true));
  } finally {
    await cluster.stop();
  }
}

describe.each(['crash', 'byzantine'] as const)('fidelity with a local XState actor: %s group', (faultModel) => {
  for (const [i, c] of CASES.entries()) {
    it(c.feature, () => run(c, faultModel, 100 + i), 60_000);
  }
});
