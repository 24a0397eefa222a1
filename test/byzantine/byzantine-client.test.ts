/**
 * A Byzantine client against the Byzantine group (issue 12, finding 2): one client sends
 * different events for the same seq to different replicas. Its conflicting requests must not
 * cost the group its primary, honest clients keep committing, and correct replicas agree.
 */
import { describe, expect, it } from 'vitest';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';
import { byzantineClient, splitHalves, type Equivocation } from '../fixtures/nemesis/byzantine-client.ts';

const tuning = { checkpointEvery: 8, windowSize: 32, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, statusMs: 50 };

async function withCluster(seed: number, body: (cluster: LocalCluster) => Promise<void>): Promise<void> {
  const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed, tuning, client: { retryAfterMs: 150, giveUpAfterMs: 20_000 } });
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

const add = (amount: number) => () => ({ type: 'ADD', amount });
const maxView = (cluster: LocalCluster) => Math.max(...cluster.replicaIds.map((id) => cluster.replica(id).status().view ?? 0));

/** The equivocating client sends its one request (never retrying), then an honest client writes `ops` times; returns how long each write took. */
async function honestAfterEquivocation(cluster: LocalCluster, pick: Equivocation, ops: number): Promise<number[]> {
  const liar = byzantineClient(cluster, 'evil', pick, { retryAfterMs: 1_000_000, giveUpAfterMs: 1_000_000 });
  void liar.send({ type: 'ADD', amount: 0 });
  await cluster.sim.clock.sleep(5);
  const honest = cluster.createClient();
  const took: number[] = [];
  for (let i = 0; i < ops; i++) {
    const t0 = cluster.sim.clock.now();
    await honest.send({ type: 'ADD', amount: 1 });
    took.push(cluster.sim.clock.now() - t0);
  }
  return took;
}

async function expectConverged(cluster: LocalCluster): Promise<void> {
  const ids = cluster.replicaIds;
  const index = Math.max(...ids.map((id) => cluster.replica(id).status().appliedIndex));
  await cluster.waitFor(() => ids.every((id) => cluster.replica(id).status().appliedIndex === index), { timeoutMs: 10_000 });
  expect(new Set(ids.map((id) => cluster.replica(id).status().digest)).size).toBe(1);
}

describe('Byzantine group: an equivocating client', () => {
  it('a client that sends one seq as event A to r1, r2 and as event B to r3, r4 costs no view change: honest writes commit promptly, correct replicas agree', async () => {
    await withCluster(7, async (cluster) => {
      const took = await honestAfterEquivocation(cluster, splitHalves(cluster.replicaIds, add(1000), add(2000)), 20);
      expect(Math.max(...took)).toBeLessThan(1_000);
      expect(maxView(cluster)).toBe(0);
      await expectConverged(cluster);
      // One of the two versions was ordered, once.
      const count = (cluster.replica('r1').app.getSnapshot().context as { count: number }).count;
      expect([1020, 2020]).toContain(count);
    });
  });

  it('when only the primary holds its version (A to r1, B to r2-r4), its batch cannot be vouched for: one view change, after which the next primary orders the honest writes', async () => {
    await withCluster(8, async (cluster) => {
      const took = await honestAfterEquivocation(cluster, (to, _seq, e) => ({ ...e, amount: to === 'r1' ? 1000 : 2000 }), 20);
      expect(took.reduce((a, b) => a + b, 0)).toBeLessThan(4_000);
      expect(maxView(cluster)).toBeLessThanOrEqual(1);
      await expectConverged(cluster);
      expect([20, 2020]).toContain((cluster.replica("r1").app.getSnapshot().context as { count: number }).count);
    });
  });

  it('a client that sends every replica its own version of one seq costs at most one view change: the versions are dropped, honest writes go on', async () => {
    await withCluster(9, async (cluster) => {
      const took = await honestAfterEquivocation(cluster, (to, _seq, e) => ({ ...e, amount: 1000 * Number(to.slice(1)) }), 20);
      expect(took.reduce((a, b) => a + b, 0)).toBeLessThan(3_000);
      expect(maxView(cluster)).toBeLessThanOrEqual(1);
      await expectConverged(cluster);
      const view = maxView(cluster);
      await load(cluster);
      expect(maxView(cluster)).toBe(view);
    });
  });

  it('a client that keeps equivocating against whoever is primary, seq after seq and retrying, costs a bounded number of view changes: honest writes go on', async () => {
    await withCluster(10, async (cluster) => {
      // The worst split: the primary alone gets its version, so no batch of the client's can be vouched for.
      const liar = byzantineClient(cluster, 'evil', (to, seq, e) => ({ ...e, v: to === cluster.leader() ? seq : -seq }), { retryAfterMs: 150, giveUpAfterMs: 1_000 });
      let stop = false;
      const attacks = (async () => {
        while (!stop) await liar.send({ type: 'ADD', amount: 0 });
      })();
      const honest = cluster.createClient();
      const t0 = cluster.sim.clock.now();
      for (let i = 0; i < 30; i++) {
        await honest.send({ type: 'ADD', amount: 1 });
        await cluster.sim.clock.sleep(200);
      }
      stop = true;
      liar.close();
      await attacks;
      // 30 writes and 6 s of think time under attack (dozens of the liar's seqs): about one view change per
      // forget interval (5 s here), not one per seq (10 views without suspicion).
      expect(cluster.sim.clock.now() - t0).toBeLessThan(8_000);
      expect(maxView(cluster)).toBeLessThanOrEqual(3);
      await expectConverged(cluster);
      expect((cluster.replica('r1').app.getSnapshot().context as { count: number }).count).toBe(30);
    });
  });
});

async function load(cluster: LocalCluster): Promise<void> {
  const c = cluster.createClient();
  for (let i = 0; i < 10; i++) await c.send({ type: 'ADD', amount: 1 });
}
