/**
 * Liveness bugs found in review, each pinned by the scenario that exposed it.
 */
import { describe, expect, it } from 'vitest';
import { RaftCore, DEFAULT_RAFT_CONFIG, type RaftEffect } from '../../actors/crash/index.ts';
import { createLocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

const count = (out: { snapshot: { context: unknown } }) => (out.snapshot.context as { count: number }).count;

describe('review regressions (crash fault model)', () => {
  it('recovers a lost last append in an idle group (the write commits after a short partition)', async () => {
    const cluster = await createLocalCluster({ machine: counter, seed: 5 });
    try {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const [down, other] = cluster.replicaIds.filter((id) => id !== leader) as [string, string];
      cluster.crash(down);
      cluster.partition([leader], [other]); // shorter than check-quorum: the leader stays leader
      const pending = client.send({ type: 'INC' });
      await cluster.sim.clock.sleep(40);
      cluster.heal();
      expect(count(await pending)).toBe(2);
      // A follower restarted while the group is idle catches up too.
      await cluster.restart(down);
      const leaderNow = await cluster.waitForLeader();
      await cluster.waitFor(() => cluster.replica(down).status().appliedIndex === cluster.replica(leaderNow).status().appliedIndex, { timeoutMs: 3_000 });
    } finally {
      await cluster.stop();
    }
  });

  it('splits appends by size so no message exceeds what followers accept', async () => {
    const cluster = await createLocalCluster({ machine: counter, seed: 6, tuning: { maxMessageBytes: 64 * 1024 } });
    try {
      await cluster.createClient().send({ type: 'INC' });
      const big = 'x'.repeat(4000);
      const outs = await Promise.all(Array.from({ length: 40 }, () => cluster.createClient().send({ type: 'ADD', amount: 1, pad: big } as never)));
      expect(Math.max(...outs.map(count))).toBe(41);
      for (const id of cluster.replicaIds) expect(cluster.replica(id).metrics.dropped['too-large'] ?? 0).toBe(0);
    } finally {
      await cluster.stop();
    }
  });

  it('never promotes a learner that has not answered (a one-voter group adding a dead replica keeps working)', () => {
    const core = new RaftCore({
      config: { ...DEFAULT_RAFT_CONFIG, id: 'a' },
      hardState: { term: 0, vote: null, commit: 0 },
      membership: { voters: ['a'], learners: [] },
      snapshot: null,
      entries: [],
      seed: 1,
    });
    for (let t = 0; t < 40 && core.role !== 'leader'; t++) core.tick(t);
    expect(core.role).toBe('leader');
    core.persisted(core.log.lastIndex); // the runtime's report: the leader's first entry is durable
    expect(core.changeMembership({ add: 'b' }, 100)).toBe(null);
    core.persisted(core.log.lastIndex);
    for (let t = 0; t < 100; t++) core.tick(200 + t); // b never answers
    expect(core.membership).toEqual({ voters: ['a'], learners: ['b'] });
    expect(core.role).toBe('leader');
    const before = core.commit;
    core.takeEffects();
    core.propose([{ id: 'x', data: { client: 'c', seq: 1, event: { type: 'INC' } } }], 400);
    // The leader's own write goes on while its appends are out: it counts itself once it is durable.
    expect(core.commit).toBe(before);
    core.persisted(core.log.lastIndex);
    expect(core.commit).toBe(before + 1); // still commits alone
    const applied = core.takeEffects().filter((e): e is Extract<RaftEffect, { type: 'apply' }> => e.type === 'apply');
    expect(applied.flatMap((e) => e.entries).some((e) => e.kind === 'request')).toBe(true);
  });
});
