/**
 * A replica that restarts without its state (a wiped or replaced disk) recovers from a quorum
 * before it votes or acknowledges anything (issue 12, finding 5). The group's creation, where
 * every replica starts empty, and replicas added later still work.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RAFT_CONFIG, RaftCore, decideRecovery, type RaftMessage } from '../../actors/crash/index.ts';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

const count = (out: { snapshot: { context: unknown } }) => (out.snapshot.context as { count: number }).count;

async function withCluster(seed: number, fn: (cluster: LocalCluster) => Promise<void>): Promise<void> {
  const cluster = await createLocalCluster({ machine: counter, seed });
  try {
    await fn(cluster);
  } finally {
    await cluster.stop();
  }
}

/** Every live replica at the same applied index has the same digest. */
function expectEqualDigests(cluster: LocalCluster): void {
  const byIndex = new Map<number, Set<string>>();
  for (const id of cluster.replicaIds) {
    const s = cluster.replica(id).status();
    if (!s.up) continue;
    if (!byIndex.has(s.appliedIndex)) byIndex.set(s.appliedIndex, new Set());
    byIndex.get(s.appliedIndex)!.add(s.digest);
  }
  for (const [index, digests] of byIndex) expect(digests.size, `digests at index ${index}`).toBe(1);
}

describe('crash model: a replica that lost its state (finding 5)', () => {
  it('keeps an acknowledged write when the replica that helped commit it is wiped and the only other holder is cut off', async () => {
    for (const seed of [1, 2, 3]) {
      await withCluster(seed, async (cluster) => {
        const client = cluster.createClient();
        for (let i = 0; i < 3; i++) await client.send({ type: 'INC' });
        // Make r1 the leader, cut r3 off, and commit a write with r1 and r2 only.
        if (cluster.leader() !== 'r1') await cluster.transferLeadership('r1');
        cluster.isolate('r3');
        const acked = await client.send({ type: 'ADD', amount: 100 });
        expect(count(acked)).toBe(103);
        // r2 loses its disk and comes back empty; then r1 is cut off and r3 comes back.
        cluster.crash('r2');
        await cluster.restart('r2', { wipe: true });
        await cluster.sim.clock.sleep(50);
        cluster.heal();
        cluster.isolate('r1');
        await cluster.sim.clock.sleep(2_000);
        // r2 cannot recover without a quorum that includes the leader of the latest term: it neither votes nor acknowledges.
        expect(cluster.replica('r2').status().phase).toBe('recovering');
        expect(cluster.leader()).toBeUndefined();
        // Once r1 is back, r2 recovers and the write is still there, at the same index everywhere.
        cluster.heal();
        const after = await cluster.createClient().send({ type: 'ADD', amount: 0 });
        expect(count(after)).toBe(103);
        await cluster.waitFor(() => cluster.replicaIds.every((id) => cluster.replica(id).status().appliedIndex >= after.index), { timeoutMs: 5_000 });
        expect(cluster.replica('r2').status().phase).not.toBe('recovering');
        expectEqualDigests(cluster);
      });
    }
  });

  it('recovers a wiped replica while the group keeps serving, and does not vote or acknowledge before it knows the leader', async () => {
    await withCluster(11, async (cluster) => {
      const client = cluster.createClient();
      for (let i = 0; i < 5; i++) await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const victim = cluster.replicaIds.find((id) => id !== leader)!;
      cluster.crash(victim);
      await cluster.restart(victim, { wipe: true });
      expect(cluster.replica(victim).status().phase).toBe('recovering');
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(6);
      await cluster.waitFor(() => cluster.replica(victim).status().appliedIndex >= out.index, { timeoutMs: 5_000 });
      expect(cluster.replica(victim).status().phase).toBe('follower');
      expectEqualDigests(cluster);
      // What recovery learned is durable: a plain restart (storage kept) does not recover again.
      cluster.crash(victim);
      await cluster.restart(victim);
      expect(cluster.replica(victim).status().phase).not.toBe('recovering');
    });
  });

  it('an idle group finishes the recovery even when an acknowledgement from the wiped replica\'s former self arrives after it asked', async () => {
    // Seeds where that stale acknowledgement restored the leader's record of the replica's log: it never sent the entries again.
    for (const seed of [3, 5]) {
      await withCluster(seed, async (cluster) => {
        await cluster.waitForLeader();
        const client = cluster.createClient();
        for (let i = 0; i < 200; i++) await client.send({ type: 'INC' });
        const leader = cluster.leader()!;
        const victim = cluster.replicaIds.find((id) => id !== leader)!;
        cluster.crash(victim);
        await cluster.restart(victim, { wipe: true });
        await cluster.waitFor(() => cluster.replica(victim).status().phase === 'follower' && cluster.replica(victim).status().appliedIndex >= 201, { timeoutMs: 3_000, stepMs: 1 });
        expectEqualDigests(cluster);
      });
    }
  });

  it('a replica added later joins through the log, and recovers like any other member when its disk is lost', async () => {
    await withCluster(12, async (cluster) => {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const added = await cluster.addReplica();
      await cluster.waitFor(() => cluster.replica(cluster.leader() ?? 'r1').status().members.includes(added), { timeoutMs: 5_000 });
      await client.send({ type: 'INC' });
      cluster.crash(added);
      await cluster.restart(added, { wipe: true });
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(3);
      await cluster.waitFor(() => cluster.replica(added).status().appliedIndex >= out.index && cluster.replica(added).status().phase === 'follower', { timeoutMs: 5_000 });
      expectEqualDigests(cluster);
    });
  });

  it('wiping the leader: the group elects another and the old leader recovers from it', async () => {
    await withCluster(13, async (cluster) => {
      const client = cluster.createClient();
      for (let i = 0; i < 4; i++) await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      cluster.crash(leader);
      await cluster.restart(leader, { wipe: true });
      const out = await client.send({ type: 'INC' });
      expect(count(out)).toBe(5);
      await cluster.waitFor(() => cluster.replica(leader).status().appliedIndex >= out.index, { timeoutMs: 5_000 });
      expectEqualDigests(cluster);
    });
  });
});

describe('crash model: recovery rules (actors/crash/recovery.ts)', () => {
  const reply = (over: Partial<Extract<RaftMessage, { type: 'recoverReply' }>> = {}): Extract<RaftMessage, { type: 'recoverReply' }> => ({
    type: 'recoverReply',
    term: 0,
    nonce: 7,
    leader: false,
    recovering: false,
    empty: true,
    lastIndex: 0,
    lastTerm: 0,
    membership: { voters: ['a', 'b', 'c', 'd', 'e'], learners: [] },
    ...over,
  });
  const five = ['a', 'b', 'c', 'd', 'e'];

  it('genesis: f+1 other members that hold nothing and are not recovering, or every other member holding nothing', () => {
    expect(decideRecovery('a', new Map([['b', reply()], ['c', reply()]]), five)).toBeNull();
    expect(decideRecovery('a', new Map([['b', reply()], ['c', reply()], ['d', reply()]]), five)).toEqual({ kind: 'genesis' });
    // Recovering members' "empty" proves nothing unless every member says so (all start together).
    const recovering = reply({ recovering: true });
    expect(decideRecovery('a', new Map([['b', recovering], ['c', recovering], ['d', recovering]]), five)).toBeNull();
    expect(decideRecovery('a', new Map([['b', recovering], ['c', recovering], ['d', recovering], ['e', recovering]]), five)).toEqual({ kind: 'genesis' });
    // A replica that holds anything rules genesis out.
    expect(decideRecovery('a', new Map([['b', reply()], ['c', reply()], ['d', reply()], ['e', reply({ empty: false, term: 1, lastIndex: 1, lastTerm: 1 })]]), five)).toBeNull();
    // A lone replica has nobody to ask.
    expect(decideRecovery('a', new Map(), ['a'])).toEqual({ kind: 'genesis' });
  });

  it('leader rule: f+1 answers including the leader of the highest term among them', () => {
    const held = (term: number, leader = false) => reply({ empty: false, term, leader, lastIndex: 9, lastTerm: term });
    expect(decideRecovery('a', new Map([['b', held(3, true)], ['c', held(3)]]), five)).toBeNull(); // 2 < f+1 = 3
    expect(decideRecovery('a', new Map([['b', held(3, true)], ['c', held(3)], ['d', held(4)]]), five)).toBeNull(); // no leader of term 4 yet
    expect(decideRecovery('a', new Map([['b', held(3, true)], ['c', held(3)], ['d', held(3)]]), five)).toEqual({ kind: 'leader', leader: 'b', term: 3, index: 9, lastTerm: 3 });
    expect(decideRecovery('a', new Map([['b', held(3, true)], ['c', held(3)], ['d', reply({ recovering: true })]]), five)).toBeNull();
  });

  it('neither votes nor grants pre-votes nor acknowledges appends before recovering, and persists what it learned first', () => {
    const core = new RaftCore({
      config: { ...DEFAULT_RAFT_CONFIG, id: 'a' },
      hardState: { term: 0, vote: null, commit: 0 },
      membership: { voters: ['a', 'b', 'c'], learners: [] },
      snapshot: null,
      entries: [],
      seed: 3,
      recovery: { stage: 'query', peers: ['a', 'b', 'c'], initialMembers: ['a', 'b', 'c'] },
    });
    const asks = core.takeEffects().filter((e) => e.type === 'send' && e.message.type === 'recover');
    expect(asks.map((e) => e.type === 'send' && e.to).sort()).toEqual(['b', 'c']);
    const nonce = asks[0]!.type === 'send' && asks[0]!.message.type === 'recover' ? asks[0]!.message.nonce : -1;
    core.receive('b', { type: 'vote', term: 5, pre: true, lastIndex: 0, lastTerm: 0, transfer: false });
    core.receive('b', { type: 'vote', term: 5, pre: false, lastIndex: 0, lastTerm: 0, transfer: false });
    core.receive('c', { type: 'append', term: 4, prevIndex: 0, prevTerm: 0, entries: [{ index: 1, term: 4, time: 0, kind: 'noop', data: null }], commit: 1 });
    for (let t = 0; t < 100; t++) core.tick(t);
    expect(core.takeEffects().filter((e) => e.type !== 'send' || e.message.type !== 'recover')).toEqual([]);
    expect(core.role).toBe('follower');
    expect(core.term).toBe(0);
    // b leads term 4 with entries up to 2; c follows: recovered from a quorum, catch up to (2, 4).
    const three = { voters: ['a', 'b', 'c'], learners: [] };
    core.receive('b', reply({ nonce, empty: false, term: 4, leader: true, lastIndex: 2, lastTerm: 4, membership: three }));
    expect(core.recovery?.stage).toBe('query'); // the leader alone is not f+1 = 2 others
    core.receive('c', reply({ nonce, empty: false, term: 4, lastIndex: 1, lastTerm: 3, membership: three }));
    expect(core.recovery?.stage).toBe('catchUp');
    const learned = core.takeEffects();
    expect(learned[0]).toMatchObject({ type: 'persist', hardState: { term: 4, vote: 'b' }, recovery: { leaderTerm: 4, index: 2, term: 4 } });
    // Still no vote while catching up.
    core.receive('c', { type: 'vote', term: 5, pre: false, lastIndex: 9, lastTerm: 5, transfer: false });
    expect(core.takeEffects()).toEqual([]);
    core.receive('b', {
      type: 'append',
      term: 4,
      prevIndex: 0,
      prevTerm: 0,
      entries: [
        { index: 1, term: 3, time: 0, kind: 'noop', data: null },
        { index: 2, term: 4, time: 0, kind: 'noop', data: null },
      ],
      commit: 2,
    });
    expect(core.recovery).toBeNull();
    expect(core.takeEffects().some((e) => e.type === 'persist' && e.recovery === null)).toBe(true);
  });

  it('catching up, asks the leader again when its heartbeat shows it believes we hold entries we lost', () => {
    const core = new RaftCore({
      config: { ...DEFAULT_RAFT_CONFIG, id: 'a' },
      hardState: { term: 4, vote: 'b', commit: 0 },
      membership: { voters: ['a', 'b', 'c'], learners: [] },
      snapshot: null,
      entries: [],
      seed: 3,
      recovery: { stage: 'catchUp', target: { leaderTerm: 4, index: 9, term: 4 } },
    });
    core.takeEffects();
    core.receive('b', { type: 'heartbeat', term: 4, commit: 9, readRound: 0 });
    expect(core.takeEffects().filter((e) => e.type === 'send').map((e) => e.type === 'send' && [e.to, e.message.type])).toEqual([
      ['b', 'recover'],
      ['b', 'heartbeatReply'],
    ]);
  });
});
