// An idle group costs a few messages a second, not tens (issue 16, target 6), and still
// replaces a failed leader and repairs a replica that missed writes.
import { describe, expect, it } from 'vitest';
import { createLocalCluster, type FaultModel, type LocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

/** Messages each replica sends over `ms` of virtual time. */
async function sentOver(cluster: LocalCluster<typeof counter>, ms: number): Promise<Map<string, number>> {
  const sent = new Map<string, number>(cluster.replicaIds.map((id) => [id, 0]));
  const trace = cluster.sim.trace;
  const record = trace.record.bind(trace);
  trace.record = (time, kind, from, to, payload) => {
    if (kind === 'send' && from !== undefined && sent.has(from)) sent.set(from, sent.get(from)! + 1);
    record(time, kind, from, to, payload);
  };
  try {
    await cluster.sim.clock.sleep(ms);
  } finally {
    trace.record = record;
  }
  return sent;
}

describe('idle group', () => {
  for (const faultModel of ['crash', 'byzantine'] as FaultModel[]) {
    it(`${faultModel}: an idle replica sends at most 5 messages a second, and a write afterwards commits as usual`, async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 11 });
      try {
        const client = cluster.createClient();
        await client.send({ type: 'INC' });
        await cluster.sim.clock.sleep(3_000);
        const term = cluster.replica(cluster.replicaIds[0]!).status().term;
        const sent = await sentOver(cluster, 10_000);
        for (const [id, n] of sent) expect(n / 10, `${id} sent ${n} messages in 10 s`).toBeLessThanOrEqual(5);
        // no election or view change while idle
        expect(cluster.replicaIds.map((id) => cluster.replica(id).status().term)).toEqual(cluster.replicaIds.map(() => term));
        const out = await client.send({ type: 'INC' });
        expect(out.snapshot.context).toEqual({ count: 2 });
      } finally {
        await cluster.stop();
      }
    });
  }

  it('crash: a leader that fails while the group is idle is replaced within a few idle heartbeat periods', async () => {
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'crash', f: 1, seed: 12 });
    try {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      await cluster.sim.clock.sleep(3_000);
      const old = cluster.leader()!;
      const crashedAt = cluster.sim.clock.now();
      cluster.crash(old);
      // A follower campaigns 3 idle periods (1.5 s) and an election timeout (0.15-0.3 s) after the
      // last heartbeat, which came up to one idle period (0.5 s) before the crash.
      await cluster.waitFor(() => cluster.leader() !== undefined && cluster.leader() !== old, { timeoutMs: 4_000 });
      expect(cluster.sim.clock.now() - crashedAt).toBeGreaterThan(1_000);
      expect((await client.send({ type: 'INC' })).snapshot.context).toEqual({ count: 2 });
    } finally {
      await cluster.stop();
    }
  });

  it('byzantine: a replica that missed writes catches up after them, though the others had gone quiet', async () => {
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 13 });
    try {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      await cluster.sim.clock.sleep(5_000); // statuses at their longest spacing
      const [r1, r2, r3, r4] = cluster.replicaIds as [string, string, string, string];
      cluster.sim.network.partition([r4], [r1, r2, r3]);
      for (let i = 0; i < 3; i++) await client.send({ type: 'INC' });
      cluster.sim.network.heal();
      const target = cluster.replica(r1).status().appliedIndex;
      await cluster.waitFor(() => cluster.replica(r4).status().appliedIndex >= target, { timeoutMs: 10_000 });
      expect(cluster.replica(r4).status().digest).toBe(cluster.replica(r1).status().digest);
    } finally {
      await cluster.stop();
    }
  });
});
