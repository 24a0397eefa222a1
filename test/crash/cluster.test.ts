import { describe, expect, it } from 'vitest';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';
import { autoLock, counter } from '../fixtures/machines.ts';

/** Live replicas at the same applied index must have equal digests. */
function expectConverged(cluster: LocalCluster): void {
  const statuses = cluster.replicaIds.map((id) => cluster.replica(id).status()).filter((s) => s.up);
  const maxApplied = Math.max(...statuses.map((s) => s.appliedIndex));
  const atMax = statuses.filter((s) => s.appliedIndex === maxApplied);
  expect(atMax.length).toBe(statuses.length);
  expect(new Set(atMax.map((s) => s.digest)).size).toBe(1);
}

describe('crash-fault cluster, end to end', () => {
  it('orders events, answers with the agreed snapshot, and every replica converges', async () => {
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'crash', f: 1, seed: 7 });
    try {
      const client = cluster.createClient();
      let lastIndex = 0;
      for (let i = 1; i <= 20; i++) {
        const out = await client.send({ type: 'INC' });
        expect(out.snapshot.context).toEqual({ count: i });
        expect(out.index).toBeGreaterThan(lastIndex);
        expect(out.agreed).toHaveLength(1);
        expect(out.dissent).toEqual([]);
        lastIndex = out.index;
      }
      expect(await client.read()).toEqual({ value: {}, context: { count: 20 }, status: 'active' });
      await cluster.waitFor(() => cluster.replicaIds.every((id) => cluster.replica(id).status().appliedIndex >= lastIndex));
      expectConverged(cluster);
      expect(cluster.replica('r1').app.getSnapshot().context).toEqual({ count: 20 });
    } finally {
      await cluster.stop();
    }
  });

  it('keeps serving when the leader crashes, and the restarted replica catches up', async () => {
    const cluster = await createLocalCluster({ machine: counter, seed: 11 });
    try {
      const client = cluster.createClient();
      for (let i = 0; i < 5; i++) await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      cluster.crash(leader);
      for (let i = 0; i < 5; i++) await client.send({ type: 'INC' });
      const newLeader = await cluster.waitForLeader();
      expect(newLeader).not.toBe(leader);
      await cluster.restart(leader);
      const out = await client.send({ type: 'INC' });
      expect(out.snapshot.context).toEqual({ count: 11 });
      await cluster.waitFor(() => cluster.replica(leader).status().appliedIndex >= out.index);
      expectConverged(cluster);
    } finally {
      await cluster.stop();
    }
  });

  it('fires `after` transitions at the same log position on every replica', async () => {
    const cluster = await createLocalCluster({ machine: autoLock, seed: 3 });
    try {
      const client = cluster.createClient();
      const taken = await client.send({ type: 'TAKE', who: 'alice' });
      expect(taken.snapshot.value).toBe('held');
      await cluster.sim.clock.sleep(31_000);
      const snap = await client.read();
      expect(snap.value).toBe('free');
      await cluster.waitFor(() => cluster.replicaIds.every((id) => cluster.replica(id).app.getSnapshot().value === 'free'));
      expectConverged(cluster);
    } finally {
      await cluster.stop();
    }
  });

  it('refuses a non-serializable event before sending', async () => {
    const cluster = await createLocalCluster({ machine: counter, seed: 1 });
    try {
      const client = cluster.createClient();
      await expect(client.send({ type: 'ADD', amount: 1, when: new Date() } as never)).rejects.toThrow(/Date/);
      await expect(client.send({ notype: 1 } as never)).rejects.toThrow(TypeError);
      expect((await client.send({ type: 'ADD', amount: 2 })).snapshot.context).toEqual({ count: 2 });
    } finally {
      await cluster.stop();
    }
  });
});
