/**
 * Input no correct member sends (issue 12, finding 9): a member-signed message with an absurd
 * term, a snapshot that does not decode or restore, a log entry whose data is not a request.
 * Each is refused and counted; the replica keeps running and the group keeps committing.
 */
import { describe, expect, it } from 'vitest';
import type { RaftCore } from '../../actors/crash/index.ts';
import { encode } from '../../src/codec/index.ts';
import { generateIdentity } from '../../src/crypto/index.ts';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';
import type { NodeEnv } from '../../src/sim/index.ts';
import { seal } from '../../src/wire/index.ts';
import { counter } from '../fixtures/machines.ts';

const count = (out: { snapshot: { context: unknown } }) => (out.snapshot.context as { count: number }).count;

/** Sends protocol messages signed with member `as`'s key (the cluster derives it from the seed), from a node of the simulation. */
async function forger(cluster: LocalCluster, as: string): Promise<(to: string, body: unknown) => Promise<void>> {
  const identity = await cluster.sim.clock.run(() => generateIdentity({ seed: cluster.sim.random.fork(`identity:${as}`).bytes(32) }));
  let env: NodeEnv | undefined;
  await cluster.sim.addNode(`forger-${as}`, (e) => {
    env = e;
  });
  return (to, body) => cluster.sim.clock.run(async () => env!.send(to, await seal({ from: as, to, kind: 'protocol', body }, identity)));
}

async function withCluster(seed: number, fn: (cluster: LocalCluster) => Promise<void>): Promise<void> {
  const cluster = await createLocalCluster({ machine: counter, seed, client: { giveUpAfterMs: 5_000 } });
  try {
    await fn(cluster);
  } finally {
    await cluster.stop();
  }
}

const coreOf = (cluster: LocalCluster, id: string) => (cluster.replica(id).protocol.getSnapshot().context as { core: RaftCore }).core;

describe('crash model: hostile input from a member (finding 9)', () => {
  it('refuses a heartbeat with term 2^53-1 (and one jumping absurdly far ahead): the group keeps committing', async () => {
    await withCluster(21, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const followers = cluster.replicaIds.filter((id) => id !== leader);
      const send = await forger(cluster, leader);
      const term = coreOf(cluster, leader).term;
      for (const to of followers) {
        await send(to, { type: 'heartbeat', term: Number.MAX_SAFE_INTEGER, commit: 0, readRound: 0 });
        await send(to, { type: 'heartbeat', term: term + 2 ** 30, commit: 0, readRound: 0 });
      }
      await cluster.sim.clock.sleep(1_000);
      expect(count(await client.send({ type: 'INC' }))).toBe(2);
      for (const to of followers) {
        expect(coreOf(cluster, to).term).toBeLessThan(term + 100);
        expect(cluster.replica(to).metrics.misbehaviour['absurd-term']).toBe(2);
      }
    });
  });

  it('refuses a snapshot that does not decode or does not restore, and keeps running', async () => {
    await withCluster(22, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const victim = cluster.replicaIds.find((id) => id !== leader)!;
      const send = await forger(cluster, leader);
      const { term, membership } = coreOf(cluster, leader);
      const meta = { index: 1_000, term, membership: { voters: [...membership.voters], learners: [...membership.learners] } };
      await send(victim, { type: 'snapshot', term, meta, data: new Uint8Array([0xff, 0x01, 0x02]) });
      await send(victim, { type: 'snapshot', term, meta, data: encode({ time: 0, app: new Uint8Array([1, 2, 3]) }) });
      await cluster.sim.clock.sleep(200);
      expect(cluster.replica(victim).current?.failure).toBeUndefined();
      expect(cluster.replica(victim).status().running).toBe(true);
      expect(cluster.replica(victim).metrics.misbehaviour['bad-snapshot']).toBe(2);
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(2);
      await cluster.waitFor(() => cluster.replica(victim).status().appliedIndex >= out.index, { timeoutMs: 3_000 });
    });
  });

  it('refuses an appended entry whose data is not a request (a number), and keeps running', async () => {
    await withCluster(23, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const victim = cluster.replicaIds.find((id) => id !== leader)!;
      const send = await forger(cluster, leader);
      const core = coreOf(cluster, victim);
      const last = core.log.lastIndex;
      const entry = { index: last + 1, term: core.term, time: core.lastTime, kind: 'request', data: 42 };
      await send(victim, { type: 'append', term: core.term, prevIndex: last, prevTerm: core.log.lastTerm, entries: [entry], commit: last + 1 });
      await cluster.sim.clock.sleep(200);
      expect(cluster.replica(victim).current?.failure).toBeUndefined();
      expect(cluster.replica(victim).metrics.dropped.malformed).toBe(1);
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(2);
      await cluster.waitFor(() => cluster.replica(victim).status().appliedIndex >= out.index, { timeoutMs: 3_000 });
    });
  });

  it('refuses an appended request without a valid session (none, negative, or session 0 with an app event), and keeps applying', async () => {
    await withCluster(24, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const victim = cluster.replicaIds.find((id) => id !== leader)!;
      const send = await forger(cluster, leader);
      const bad = [
        { client: 'x', seq: 1, event: { type: 'INC' } },
        { client: 'x', session: -1, seq: 1, event: { type: 'INC' } },
        { client: 'x', session: 1.5, seq: 1, event: { type: 'INC' } },
        { client: 'x', session: 0, seq: 1, event: { type: 'INC' } },
        { client: 'x', session: 0, seq: 1, event: { type: 'statechorus.session', resume: -3 } },
      ];
      for (const data of bad) {
        const core = coreOf(cluster, victim);
        const last = core.log.lastIndex;
        const entry = { index: last + 1, term: core.term, time: core.lastTime, kind: 'request', data };
        await send(victim, { type: 'append', term: core.term, prevIndex: last, prevTerm: core.log.lastTerm, entries: [entry], commit: last + 1 });
        await cluster.sim.clock.sleep(100);
      }
      expect(cluster.replica(victim).current?.failure).toBeUndefined();
      expect(cluster.replica(victim).status().running).toBe(true);
      expect(cluster.replica(victim).metrics.dropped.malformed).toBe(bad.length);
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(2);
      await cluster.waitFor(() => cluster.replica(victim).status().appliedIndex >= out.index, { timeoutMs: 3_000 });
    });
  });
});
