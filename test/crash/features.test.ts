import { describe, expect, it } from 'vitest';
import { encode } from '../../src/codec/index.ts';
import { generateIdentity } from '../../src/crypto/index.ts';
import { createLocalCluster, createReplica, memoryStorage, type LocalCluster } from '../../src/index.ts';
import type { InspectionEvent } from 'xstate';
import { seal } from '../../src/wire/index.ts';
import { counter } from '../fixtures/machines.ts';

async function withCluster(seed: number, fn: (c: LocalCluster) => Promise<void>, tuning = {}): Promise<void> {
  const cluster = await createLocalCluster({ machine: counter, seed, tuning });
  try {
    await fn(cluster);
  } finally {
    await cluster.stop();
  }
}

/** Every live replica applied `index` and all agree on the state digest. */
async function converged(cluster: LocalCluster, index: number): Promise<void> {
  const live = () => cluster.replicaIds.filter((id) => cluster.sim.isUp(id));
  await cluster.waitFor(() => live().every((id) => cluster.replica(id).status().appliedIndex >= index));
  await cluster.waitFor(() => new Set(live().map((id) => cluster.replica(id).status().digest)).size === 1);
}

const count = (out: { snapshot: { context: unknown } }) => (out.snapshot.context as { count: number }).count;

describe('crash-fault features', () => {
  it('applies a write exactly once when the leader crashes in the middle of it', async () => {
    await withCluster(21, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const inFlight = client.send({ type: 'ADD', amount: 10 });
      await cluster.sim.clock.sleep(1); // the request reaches the leader, which starts replicating it
      cluster.crash(leader);
      const out = await inFlight;
      expect(count(out)).toBe(11);
      await cluster.restart(leader);
      const next = await client.send({ type: 'INC' });
      expect(count(next)).toBe(12);
      await converged(cluster, next.index);
      expect(cluster.replica(leader).app.getSnapshot().context).toEqual({ count: 12 });
    });
  });

  it('brings a replica that missed the compacted log back by snapshot installation', async () => {
    await withCluster(
      22,
      async (cluster) => {
        const client = cluster.createClient();
        await client.send({ type: 'INC' });
        const leader = await cluster.waitForLeader();
        const lagging = cluster.replicaIds.find((id) => id !== leader)!;
        cluster.crash(lagging);
        let out;
        for (let i = 0; i < 60; i++) out = await client.send({ type: 'INC' });
        expect(cluster.replica(leader).status().snapshotIndex).toBeGreaterThan(0);
        await cluster.restart(lagging);
        await converged(cluster, out!.index);
        expect(cluster.replica(lagging).metrics.snapshotsInstalled).toBeGreaterThan(0);
        expect(cluster.replica(lagging).app.getSnapshot().context).toEqual({ count: 61 });
      },
      { snapshotEvery: 20, keepEntries: 0 },
    );
  });

  it('adds and removes replicas while the group keeps serving', async () => {
    await withCluster(23, async (cluster) => {
      const client = cluster.createClient();
      let done = false;
      let served = 0;
      const load = (async () => {
        while (!done) {
          await client.send({ type: 'INC' });
          served++;
        }
      })();
      await cluster.sim.clock.sleep(200);
      const added = await cluster.addReplica();
      await cluster.waitFor(() => cluster.replica(cluster.leader()!).status().members.includes(added));
      const servedBeforeRemove = served;
      const leader = cluster.leader()!;
      const victim = cluster.replicaIds.find((id) => id !== leader && id !== added)!;
      await cluster.removeReplica(victim);
      await cluster.sim.clock.sleep(200);
      done = true;
      await load;
      expect(served).toBeGreaterThan(servedBeforeRemove);
      const status = cluster.replica(cluster.leader()!).status();
      expect(status.members).toContain(added);
      expect(status.members).not.toContain(victim);
      expect(status.members).toHaveLength(3);
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(served + 1);
      await converged(cluster, out.index);
      expect(cluster.replica(added).app.getSnapshot().context).toEqual({ count: served + 1 });
    });
  });

  it('transfers leadership on request', async () => {
    await withCluster(24, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const target = cluster.replicaIds.find((id) => id !== leader)!;
      await cluster.transferLeadership(target);
      expect(cluster.leader()).toBe(target);
      expect(count(await client.send({ type: 'INC' }))).toBe(2);
    });
  });

  it('answers linearizable reads without growing the log', async () => {
    await withCluster(25, async (cluster) => {
      const client = cluster.createClient();
      const out = await client.send({ type: 'ADD', amount: 5 });
      const leader = await cluster.waitForLeader();
      const before = cluster.replica(leader).status().commitIndex;
      for (let i = 0; i < 10; i++) {
        const r = await client.readOutcome();
        expect(r.snapshot.context).toEqual({ count: 5 });
        expect(r.index).toBeGreaterThanOrEqual(out.index);
      }
      expect(cluster.replica(leader).status().commitIndex).toBe(before);
    });
  });

  it('a partitioned leader steps down, and a replica back from a partition does not unseat a healthy leader', async () => {
    await withCluster(26, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      cluster.isolate(leader);
      await cluster.waitFor(() => cluster.replica(leader).status().phase !== 'leader', { timeoutMs: 2_000 }); // check-quorum
      cluster.heal();
      await client.send({ type: 'INC' });
      const healthy = await cluster.waitForLeader();
      const term = cluster.replica(healthy).status().term;
      const follower = cluster.replicaIds.find((id) => id !== healthy)!;
      cluster.isolate(follower);
      await cluster.sim.clock.sleep(3_000); // long enough for it to time out repeatedly
      cluster.heal();
      await cluster.sim.clock.sleep(1_000);
      expect(cluster.leader()).toBe(healthy); // pre-vote: its campaigns never raised the term
      expect(cluster.replica(healthy).status().term).toBe(term);
    });
  });

  it('excludes a silent replica when the policy is on, and re-admits it once caught up', async () => {
    await withCluster(
      27,
      async (cluster) => {
        const client = cluster.createClient();
        await client.send({ type: 'INC' });
        const leader = await cluster.waitForLeader();
        const silent = cluster.replicaIds.find((id) => id !== leader)!;
        cluster.crash(silent);
        await cluster.waitFor(() => cluster.replica(leader).status().excluded.includes(silent), { timeoutMs: 5_000 });
        expect(cluster.replica(leader).status().members).toHaveLength(2);
        // Two voters left: both must be up for progress, and they are.
        const out = await client.send({ type: 'INC' });
        await cluster.restart(silent);
        await cluster.waitFor(() => cluster.replica(cluster.leader()!).status().members.includes(silent), { timeoutMs: 5_000 });
        await converged(cluster, out.index);
      },
      { removeSilentAfterMs: 1_000 },
    );
  });

  it('drops and counts bad input, and keeps serving', async () => {
    await withCluster(28, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const target = await cluster.waitForLeader();
      const stranger = await generateIdentity({ seed: new Uint8Array(32).fill(9) });
      const other = cluster.replicaIds.find((id) => id !== target)!;
      await cluster.sim.addNode('mallory', async (env) => {
        const send = (bytes: Uint8Array) => env.send(target, bytes);
        send(new Uint8Array([0xff, 0x00, 0x13])); // garbage
        send(new Uint8Array(17 * 1024 * 1024)); // oversized
        send(encode({ p: encode({ nonsense: true }) })); // well-formed bytes, not an envelope
        // A protocol message claiming to come from a member, signed with another key.
        send(await seal({ from: other, to: target, kind: 'protocol', body: { type: 'timeoutNow', term: 99 } }, stranger));
        // A protocol message from a sender that is not a member.
        send(await seal({ from: 'mallory', to: target, kind: 'protocol', body: { type: 'timeoutNow', term: 99 } }, stranger));
        // Addressed to someone else.
        send(await seal({ from: 'mallory', to: other, kind: 'request', body: { seq: 1, event: { type: 'INC' } } }));
        // Claims to be another client on this link.
        send(await seal({ from: 'c1', to: target, kind: 'request', body: { seq: 99, event: { type: 'INC' } } }));
        // A request whose event is not plain data (a nested function cannot even be encoded, so: bad shape).
        send(await seal({ from: 'mallory', to: target, kind: 'request', body: { seq: 1, event: { notype: 1 } } }));
      });
      await cluster.sim.clock.sleep(50);
      const dropped = cluster.replica(target).metrics.dropped;
      expect(dropped).toEqual({
        'too-large': 1,
        undecodable: 1,
        malformed: 1,
        'bad-signature': 1,
        'unknown-sender': 1,
        'wrong-recipient': 1,
        'spoofed-sender': 1,
        'bad-event': 1,
      });
      expect(cluster.leader()).toBe(target);
      expect(count(await client.send({ type: 'INC' }))).toBe(2);
    });
  });

  it('exposes the voted state as an XState-compatible actor ref', async () => {
    await withCluster(29, async (cluster) => {
      const client = cluster.createClient();
      const seen: unknown[] = [];
      const sub = client.actor.subscribe((s) => seen.push(s.context));
      await client.send({ type: 'INC' });
      await client.send({ type: 'INC' });
      expect(client.actor.getSnapshot()?.context).toEqual({ count: 2 });
      expect(seen).toEqual([{ count: 1 }, { count: 2 }]);
      sub.unsubscribe();
      await client.send({ type: 'INC' });
      expect(seen).toHaveLength(2);
    });
  });

  it('feeds XState inspection events from protocol and application actors, per replica', async () => {
    const seen = new Map<string, Set<string>>();
    const cluster = await createLocalCluster({
      machine: counter,
      seed: 31,
      inspect: (replica, event) => {
        if (event.type !== '@xstate.snapshot') return;
        const value = JSON.stringify((event.snapshot as { value?: unknown }).value);
        if (!seen.has(replica)) seen.set(replica, new Set());
        seen.get(replica)!.add(value);
      },
    });
    try {
      await cluster.createClient().send({ type: 'INC' });
      const leader = cluster.leader()!;
      // the protocol statechart's phases show up as snapshot values
      expect([...seen.get(leader)!]).toContain('"leader"');
      expect([...seen.get(leader)!]).toContain('{}'); // the counter application's own snapshots
      expect(seen.size).toBe(3);
    } finally {
      await cluster.stop();
    }
  });

  it('takes an inspection observer, as @statelyai/inspect gives one', async () => {
    const identity = await generateIdentity();
    const types = new Set<string>();
    const replica = createReplica({
      machine: counter,
      identity,
      group: { faultModel: 'crash', members: [{ id: 'solo', publicKey: identity.publicKey }] },
      transport: { send: () => {}, onMessage: () => {} },
      storage: memoryStorage(),
      inspect: { next: (event: InspectionEvent) => void types.add(event.type) },
    });
    await replica.start();
    try {
      expect(types).toContain('@xstate.actor');
      expect(types).toContain('@xstate.snapshot');
    } finally {
      await replica.stop();
    }
  });

  it("runs on wall-clock time with clock: 'real'", async () => {
    const cluster = await createLocalCluster({ machine: counter, seed: 32, clock: 'real' });
    try {
      const client = cluster.createClient();
      const outs = await Promise.all([client.send({ type: 'INC' }), cluster.createClient().send({ type: 'INC' })]);
      expect(outs.map(count).sort()).toEqual([1, 2]);
      expect((await client.read()).context).toEqual({ count: 2 });
    } finally {
      await cluster.stop();
    }
  });

  it('gives clear errors for wrong API arguments', async () => {
    await expect(createLocalCluster({ machine: {} as never })).rejects.toThrow(/XState machine/);
    await expect(createLocalCluster({ machine: counter, f: -1 })).rejects.toThrow(/`f`/);
    await expect(createLocalCluster({ machine: counter, faultModel: 'paxos' as never })).rejects.toThrow(/faultModel/);
    await withCluster(30, async (cluster) => {
      expect(() => cluster.replica('r9')).toThrow(/no replica r9/);
      expect(() => cluster.crash('nope')).toThrow(RangeError);
    });
  });
});
