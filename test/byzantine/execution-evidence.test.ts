/**
 * Wrong execution is exposed by the vote that outvotes it (issue 12, finding 8): each commit
 * carries the sender's app digest after the last batch it executed, so a replica that executes
 * wrongly signs a digest that contradicts a quorum within a batch or two, and is excluded in a
 * run far shorter than a checkpoint interval.
 */
import { describe, expect, it } from 'vitest';
import { checkEvidence } from '../../actors/byzantine/evidence.ts';
import { createLocalCluster, type LocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';
import { group, vp } from './review-helpers.ts';

// A checkpoint interval longer than the whole run: only execution digests can expose the liar.
const tuning = { checkpointEvery: 64, windowSize: 256, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, statusMs: 50 };

async function withCluster(seed: number, body: (cluster: LocalCluster) => Promise<void>): Promise<void> {
  const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed, tuning, client: { retryAfterMs: 150, giveUpAfterMs: 20_000 } });
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

async function shortRunWithLiar(cluster: LocalCluster, liar: string): Promise<void> {
  await cluster.byzantine(liar, 'wrong-result');
  const client = cluster.createClient();
  const correct = cluster.replicaIds.filter((id) => id !== liar);
  let excludedAfter: number | undefined;
  for (let i = 1; i <= 10; i++) {
    const out = await client.send({ type: 'ADD', amount: 1 });
    expect((out.snapshot.context as { count: number }).count).toBe(i);
    if (excludedAfter === undefined && correct.every((id) => cluster.replica(id).status().excluded.includes(liar))) excludedAfter = i;
  }
  // Far fewer sequence numbers than a checkpoint interval, yet the liar was found out at once.
  expect(excludedAfter).toBeDefined();
  expect(excludedAfter!).toBeLessThanOrEqual(4);
  expect(correct.every((id) => (cluster.replica(id).metrics.misbehaviour['execution digest contradicts a quorum'] ?? 0) + (cluster.replica(id).status().excluded.includes(liar) ? 1 : 0) > 0)).toBe(true);
  // The removal takes effect at the next boundary (the primary fills the way there): the liar no longer votes.
  await cluster.waitFor(() => correct.every((id) => !cluster.replica(id).status().members.includes(liar)), { timeoutMs: 10_000 });
  const out = await client.send({ type: 'ADD', amount: 1 });
  expect((out.snapshot.context as { count: number }).count).toBe(11);
  expect(out.agreed).not.toContain(liar);
}

describe('Byzantine group: wrong execution is evidence within a batch or two', () => {
  it('a backup that executes wrongly is excluded in a run shorter than one checkpoint interval', async () => {
    await withCluster(21, (cluster) => shortRunWithLiar(cluster, 'r3'));
  });

  it('a primary that executes wrongly is excluded in a run shorter than one checkpoint interval, and the group goes on under the next primary', async () => {
    await withCluster(22, (cluster) => shortRunWithLiar(cluster, 'r1'));
  });

  it('the evidence is checkable by anyone: a quorum of agreeing signed digests against one contradicting signed digest, from members', () => {
    const commit = (from: string, digest: string) => vp(from, { type: 'commit', view: 0, seq: 3, digest: 'b3', exec: { seq: 2, digest } });
    const bad = commit('r3', 'wrong');
    const cert = ['r1', 'r2', 'r4'].map((id) => commit(id, 'right'));
    expect(checkEvidence('r3', { kind: 'execution', seq: 2, bad, cert }, group)).toBeNull();
    // Not a quorum; the accused's own proof counted for the others; the others disagreeing among themselves; another seq.
    expect(checkEvidence('r3', { kind: 'execution', seq: 2, bad, cert: cert.slice(0, 2) }, group)).not.toBeNull();
    expect(checkEvidence('r3', { kind: 'execution', seq: 2, bad, cert: [...cert.slice(0, 2), commit('r3', 'right')] }, group)).not.toBeNull();
    expect(checkEvidence('r3', { kind: 'execution', seq: 2, bad, cert: [...cert.slice(0, 2), commit('r4', 'other')] }, group)).not.toBeNull();
    expect(checkEvidence('r3', { kind: 'execution', seq: 1, bad, cert }, group)).not.toBeNull();
    expect(checkEvidence('r1', { kind: 'execution', seq: 2, bad, cert }, group)).not.toBeNull();
  });
});
