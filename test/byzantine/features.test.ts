/**
 * Focused tests of the Byzantine group: each names one capability and shows it at work in a
 * seeded local cluster on the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { createLocalCluster, type ByzantineReplica, type LocalCluster, type LocalClusterOptions, type Outcome } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

/** The primary's genesis noop starts the app (and its time) with the group: one applied index before any request. */
const GENESIS = 1;
const tuning = { checkpointEvery: 8, windowSize: 32, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, statusMs: 50 };

async function withCluster(options: Partial<LocalClusterOptions>, body: (cluster: LocalCluster) => Promise<void>): Promise<void> {
  const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 11, tuning, client: { retryAfterMs: 150, giveUpAfterMs: 20_000 }, ...options });
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

const count = (o: { snapshot: { context: unknown } } | { context: unknown }) => ('snapshot' in o ? (o.snapshot.context as { count: number }) : (o.context as { count: number })).count;

/** Sends `n` ADD 1 from `clients` clients concurrently; returns every outcome. */
async function load(cluster: LocalCluster, n: number, clients = 4): Promise<Outcome[]> {
  const outs: Outcome[] = [];
  const cs = Array.from({ length: clients }, () => cluster.createClient());
  let next = 0;
  await Promise.all(
    cs.map(async (c) => {
      while (next < n) {
        next++;
        outs.push(await c.send({ type: 'ADD', amount: 1 }));
      }
    }),
  );
  return outs;
}

function digestsOf(cluster: LocalCluster, ids: string[]): Set<string> {
  return new Set(ids.map((id) => `${cluster.replica(id).status().appliedIndex}:${cluster.replica(id).status().digest}`));
}

describe('Byzantine group: normal case', () => {
  it('orders batches, executes them on every replica, and answers with f+1 matching replies', async () => {
    await withCluster({}, async (cluster) => {
      const outs = await load(cluster, 60, 6);
      expect(outs.every((o) => o.agreed.length >= 2 && o.dissent.length === 0)).toBe(true);
      expect(Math.max(...outs.map(count))).toBe(60);
      // 60 requests, the entry that opened each client's session, the genesis noop
      await cluster.waitFor(() => cluster.replicaIds.every((id) => cluster.replica(id).status().appliedIndex === 66 + GENESIS));
      expect(digestsOf(cluster, cluster.replicaIds).size).toBe(1);
      const s = cluster.replica('r2').status();
      expect(s.phase).toBe('normal');
      expect(s.leader).toBe('r1'); // the primary of view 0
      expect(s.stableSeq).toBeGreaterThan(0); // checkpoints became stable and truncated the log
      expect(cluster.replica('r2').protocol.getSnapshot().value).toBe('normal');
    });
  });

  it('answers linearizable reads from a quorum of matching replies', async () => {
    await withCluster({}, async (cluster) => {
      const writer = cluster.createClient();
      const reader = cluster.createClient();
      for (let i = 1; i <= 5; i++) {
        await writer.send({ type: 'ADD', amount: 1 });
        const r = await reader.readOutcome();
        expect(count(r)).toBe(i);
        expect(r.agreed.length).toBeGreaterThanOrEqual(3);
      }
    });
  });
});

describe('Byzantine group: faulty primaries', () => {
  it('replaces a crashed primary by a view change, and the statechart passes through viewChange', async () => {
    await withCluster({}, async (cluster) => {
      const phases = new Set<string>();
      const protocol = cluster.replica('r2').current as ByzantineReplica;
      const sub = protocol.protocol.subscribe((s) => phases.add(String(s.value)));
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      cluster.crash('r1');
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(2);
      const s = cluster.replica('r2').status();
      expect(s.view).toBeGreaterThanOrEqual(1);
      expect(s.leader).not.toBe('r1');
      expect(phases.has('viewChange')).toBe(true);
      sub.unsubscribe();
    });
  });

  it('catches an equivocating primary, excludes it, and keeps serving with f recomputed', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.byzantine('r1', 'equivocate');
      const outs = await load(cluster, 40);
      expect(Math.max(...outs.map(count))).toBe(40);
      const correct = ['r2', 'r3', 'r4'];
      await cluster.waitFor(() => correct.every((id) => !cluster.replica(id).status().members.includes('r1')), { timeoutMs: 30_000 });
      for (const id of correct) {
        expect(cluster.replica(id).status().excluded).toContain('r1');
        expect(cluster.replica(id).metrics.misbehaviour.equivocation ?? 0).toBeGreaterThanOrEqual(0);
      }
      expect(correct.some((id) => (cluster.replica(id).metrics.misbehaviour.equivocation ?? 0) > 0)).toBe(true);
      // The group of 3 (f = 0) still commits, and its replicas agree.
      const more = await load(cluster, 10);
      expect(Math.max(...more.map(count))).toBe(50);
      await cluster.waitFor(() => correct.every((id) => cluster.replica(id).status().appliedIndex === cluster.replica('r2').status().appliedIndex));
      expect(digestsOf(cluster, correct).size).toBe(1);
    });
  });

  it('votes out a primary that delays every batch just under the request timeout', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.byzantine('r1', 'slow');
      const outs = await load(cluster, 40);
      expect(Math.max(...outs.map(count))).toBe(40);
      // No single request timed out, but the backups saw requests wait too long for their pre-prepare.
      const s = cluster.replica('r2').status();
      expect(s.view).toBeGreaterThanOrEqual(1);
      expect(s.leader).not.toBe('r1');
      const client = cluster.createClient();
      const t0 = cluster.sim.clock.now();
      await client.send({ type: 'INC' });
      expect(cluster.sim.clock.now() - t0).toBeLessThan(100); // fast again under a correct primary
    });
  });
});

describe('Byzantine group: faulty backups', () => {
  it('outvotes a replica that executes wrongly, names it in dissent, and excludes it by its checkpoint digest', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.byzantine('r3', 'wrong-result');
      const client = cluster.createClient();
      const outs: Outcome[] = [];
      for (let i = 0; i < 24; i++) outs.push(await client.send({ type: 'ADD', amount: 1 }));
      // Every accepted result is the correct one: the liar never finds a second voice.
      outs.forEach((o, i) => expect(count(o)).toBe(i + 1));
      const named = outs.some((o) => o.dissent.some((d) => d.replica === 'r3')) || client.dissentLog.some((d) => d.replica === 'r3');
      expect(named).toBe(true);
      expect(client.dissentLog.every((d) => d.replica === 'r3')).toBe(true);
      const correct = ['r1', 'r2', 'r4'];
      await cluster.waitFor(() => correct.every((id) => cluster.replica(id).status().excluded.includes('r3')), { timeoutMs: 30_000 });
      await cluster.waitFor(() => correct.every((id) => !cluster.replica(id).status().members.includes('r3')), { timeoutMs: 30_000 });
      expect(count(await client.send({ type: 'ADD', amount: 1 }))).toBe(25);
    });
  });

  it('completes an exclusion in an idle group: the primary fills the way to the checkpoint boundary', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.byzantine('r3', 'wrong-result');
      const client = cluster.createClient();
      // Requests until the liar is caught, then none: nothing else moves the log to the boundary.
      for (let i = 0; i < 40 && !cluster.replica('r1').status().excluded.includes('r3'); i++) await client.send({ type: 'ADD', amount: 1 });
      const correct = ['r1', 'r2', 'r4'];
      const caughtAt = cluster.replica('r1').status().appliedIndex;
      expect(cluster.replica('r1').status().excluded).toContain('r3');
      await cluster.waitFor(() => correct.every((id) => !cluster.replica(id).status().members.includes('r3')), { timeoutMs: 5_000 });
      // Noops only: the count is what was acknowledged.
      const last = cluster.replica('r1').status().appliedIndex;
      expect(last).toBeGreaterThanOrEqual(caughtAt);
      await cluster.waitFor(() => correct.every((id) => cluster.replica(id).status().appliedIndex === last));
      expect(digestsOf(cluster, correct).size).toBe(1);
    });
  });

  it('drops forged and corruptly signed messages, counts them, and keeps serving', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.byzantine('r2', 'forge');
      await cluster.byzantine('r3', 'correct');
      await load(cluster, 12);
      const forged = ['r1', 'r3', 'r4'].reduce((n, id) => n + (cluster.replica(id).metrics.dropped['bad-signature'] ?? 0), 0);
      expect(forged).toBeGreaterThan(0);
      await cluster.byzantine('r2', 'corrupt-signatures');
      const before = cluster.replica('r1').metrics.dropped['bad-signature'] ?? 0;
      const outs = await load(cluster, 12);
      expect(Math.max(...outs.map(count))).toBe(24);
      expect(cluster.replica('r1').metrics.dropped['bad-signature'] ?? 0).toBeGreaterThan(before);
    });
  });

  it('ignores replayed old messages and twins sharing one identity', async () => {
    for (const behaviour of ['replay', 'twin'] as const) {
      await withCluster({ seed: 21 }, async (cluster) => {
        await cluster.byzantine('r4', behaviour);
        const outs = await load(cluster, 30);
        expect(Math.max(...outs.map(count))).toBe(30);
        const correct = ['r1', 'r2', 'r3'];
        await cluster.waitFor(() => correct.every((id) => cluster.replica(id).status().appliedIndex === 34 + GENESIS)); // 30 requests, 4 sessions opened, the genesis noop
        expect(digestsOf(cluster, correct).size).toBe(1);
      });
    }
  });
});

describe('Byzantine group: reconfiguration and state transfer', () => {
  it('adds a replica that catches up by state transfer and then counts in quorums', async () => {
    await withCluster({}, async (cluster) => {
      await load(cluster, 40);
      const id = await cluster.addReplica();
      expect(id).toBe('r5');
      await load(cluster, 20); // the change takes effect at a checkpoint boundary
      await cluster.waitFor(() => cluster.replica('r1').status().members.includes('r5') && cluster.replica('r5').status().phase === 'normal', { timeoutMs: 30_000 });
      expect(cluster.replica('r5').metrics.snapshotsInstalled).toBeGreaterThan(0);
      // n = 5, f = 1: a quorum is 4, so with r2 down every commit needs r5.
      cluster.crash('r2');
      const out = await cluster.createClient().send({ type: 'ADD', amount: 1 });
      expect(count(out)).toBe(61);
      await cluster.waitFor(() => cluster.replica('r5').status().appliedIndex === cluster.replica('r1').status().appliedIndex);
      expect(cluster.replica('r5').status().digest).toBe(cluster.replica('r1').status().digest);
    });
  });

  it('a replica cut off while another was added catches up across the change and the group of five commits', async () => {
    await withCluster({}, async (cluster) => {
      await load(cluster, 3);
      cluster.isolate('r4');
      await cluster.addReplica();
      // The add takes effect at a checkpoint signed by r1–r3 only; r5 prepares requests its
      // clients never sent it (they do not know it yet) on the word of f+1 other backups.
      await load(cluster, 30);
      await cluster.waitFor(() => cluster.replica('r1').status().members.includes('r5'), { timeoutMs: 30_000 });
      cluster.heal();
      // With n = 5 a quorum is 4: every commit now needs r4 or r5 back in step.
      const out = await cluster.createClient().send({ type: 'ADD', amount: 1 });
      expect(count(out)).toBe(34);
      await cluster.waitFor(() => ['r4', 'r5'].every((id) => cluster.replica(id).status().appliedIndex === cluster.replica('r1').status().appliedIndex), { timeoutMs: 30_000 });
      expect(cluster.replica('r4').status().digest).toBe(cluster.replica('r1').status().digest);
      cluster.crash('r2');
      expect(count(await cluster.createClient().send({ type: 'ADD', amount: 1 }))).toBe(35);
    });
  });

  it('removes a replica by an admin-signed command', async () => {
    await withCluster({}, async (cluster) => {
      await load(cluster, 8);
      await Promise.all([cluster.removeReplica('r4'), load(cluster, 16)]);
      expect(cluster.replica('r1').status().members).toEqual(['r1', 'r2', 'r3']);
      const out = await cluster.createClient().send({ type: 'ADD', amount: 1 });
      expect(count(out)).toBe(25);
    });
  });

  it('a restarted replica that missed stable checkpoints catches up by state transfer', async () => {
    await withCluster({}, async (cluster) => {
      cluster.crash('r3');
      await load(cluster, 40);
      await cluster.restart('r3');
      await load(cluster, 4);
      await cluster.waitFor(() => cluster.replica('r3').status().appliedIndex === 52 + GENESIS, { timeoutMs: 20_000 }); // 44 requests, 8 sessions opened, the genesis noop
      expect(cluster.replica('r3').metrics.snapshotsInstalled).toBeGreaterThan(0);
      expect(cluster.replica('r3').status().digest).toBe(cluster.replica('r1').status().digest);
    });
  });
});

describe('Byzantine group: beyond f faults (the bound, shown)', () => {
  it('with f+1 silent replicas the group cannot commit (liveness needs 2f+1 correct)', async () => {
    await withCluster({ client: { retryAfterMs: 100, giveUpAfterMs: 3_000 } }, async (cluster) => {
      await cluster.byzantine('r3', 'silent');
      await cluster.byzantine('r4', 'silent');
      await expect(cluster.createClient().send({ type: 'INC' })).rejects.toThrow(/no agreement/);
    });
  });

  it('with f+1 colluding wrong replicas a client can accept a wrong result (safety needs at most f faulty)', async () => {
    await withCluster({ seed: 5 }, async (cluster) => {
      await cluster.byzantine('r3', 'wrong-result');
      await cluster.byzantine('r4', 'wrong-result');
      const client = cluster.createClient();
      let wrong = 0;
      for (let i = 1; i <= 20; i++) if (count(await client.send({ type: 'ADD', amount: 1 })) !== i) wrong++;
      // r3 and r4 skip every event alike, so their replies match each other: f+1 of them outvote the truth.
      expect(wrong).toBeGreaterThan(0);
    });
  });
});
