/**
 * A Byzantine member's validly signed abuse (issue 12 finding 7): storms of statuses, of view
 * changes quoting many proofs, and of fetchState demands. Each costs the victim bounded work,
 * counted deterministically on the virtual clock (signatures it makes, verifications, state
 * chunks it serves), honest clients keep committing, and the abuse is counted as misbehaviour.
 */
import { describe, expect, it } from 'vitest';
import { createLocalCluster, type FloodOptions, type LocalCluster, type ReplicaMetrics } from '../../src/index.ts';
import { AnswerBudget, bundleAbuse, messageShape } from '../../actors/byzantine/budget.ts';
import type { BftMessage } from '../../actors/byzantine/types.ts';
import { counter } from '../fixtures/machines.ts';

const STATUS_MS = 100;
const tuning = { checkpointEvery: 8, windowSize: 32, requestTimeoutMs: 1_000, viewChangeTimeoutMs: 1_000, statusMs: STATUS_MS };
const VICTIM = 'r2';
const ATTACKER = 'r4';

interface Phase {
  ms: number;
  ops: number;
  signatures: number;
  verifications: number;
  messagesIn: number;
  snapshotsSent: number;
}

/** `n` ADD 1 from 4 clients; the victim's work meanwhile. */
async function phase(cluster: LocalCluster, n: number): Promise<Phase> {
  const m0 = { ...cluster.replica(VICTIM).metrics };
  const t0 = cluster.sim.clock.now();
  const clients = Array.from({ length: 4 }, () => cluster.createClient());
  let next = 0;
  let ops = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (next < n) {
        next++;
        await c.send({ type: 'ADD', amount: 1 });
        ops++;
      }
    }),
  );
  // Let the storm run a while after the load too (the victim's answers to it land here).
  await cluster.sim.clock.sleep(1_000);
  const m1 = cluster.replica(VICTIM).metrics;
  const d = (k: keyof ReplicaMetrics) => (m1[k] as number) - (m0[k] as number);
  return { ms: cluster.sim.clock.now() - t0, ops, signatures: d('signatures'), verifications: d('verifications'), messagesIn: d('messagesIn'), snapshotsSent: d('snapshotsSent') };
}

/** A quiet phase, then the same load while the attacker floods. */
async function storm(flood: Partial<FloodOptions>): Promise<{ quiet: Phase; storm: Phase; misbehaviour: Record<string, number>; committed: boolean }> {
  const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 3, tuning, client: { retryAfterMs: 150, giveUpAfterMs: 20_000 } });
  try {
    const quiet = await phase(cluster, 60);
    await cluster.byzantine(ATTACKER, 'flood', { flood });
    const during = await phase(cluster, 60);
    const digests = new Set(['r1', 'r2', 'r3'].map((id) => `${cluster.replica(id).status().appliedIndex}:${cluster.replica(id).status().digest}`));
    return { quiet, storm: during, misbehaviour: { ...cluster.replica(VICTIM).metrics.misbehaviour }, committed: during.ops === 60 && digests.size === 1 };
  } finally {
    await cluster.stop();
  }
}

/** Status periods in a phase: the budget allows a bounded number of answers per peer and period. */
const periods = (p: Phase) => Math.ceil(p.ms / STATUS_MS) + 1;

describe('Byzantine group: a member flooding with validly signed messages', () => {
  it('a status storm (256 statuses in a bundle, 4 alone per period) costs the victim at most one answer per peer and half period, and is counted', async () => {
    const r = await storm({ kinds: ['status'], statuses: 256, bundles: 4 });
    expect(r.committed).toBe(true);
    // Besides its own traffic (the quiet rate), at most two answers per status period to the attacker.
    const quietRate = r.quiet.signatures / r.quiet.ms;
    expect(r.storm.signatures).toBeLessThanOrEqual(quietRate * r.storm.ms * 1.5 + 2 * periods(r.storm));
    expect(r.misbehaviour['bundle']).toBeGreaterThan(0);
    expect(r.misbehaviour['status flood']).toBeGreaterThan(0);
  }, 120_000);

  it('a view change quoting 1,024 signed proofs is refused by its shape before any quoted signature is verified, and is counted', async () => {
    const r = await storm({ kinds: ['proofs'], proofs: 1024, bundles: 4 });
    expect(r.committed).toBe(true);
    // One verification per bundle received (its sender's signature) and a few quoted votes: none of the flood's proofs.
    expect(r.storm.verifications).toBeLessThanOrEqual(r.storm.messagesIn * 1.2);
    expect(r.misbehaviour['view change']).toBeGreaterThan(0);
  }, 120_000);

  it('a fetchState storm (32 demands per period) is served at most 8 chunks per peer and period, the rest coalesced, and is counted', async () => {
    const r = await storm({ kinds: ['fetch'], fetches: 32 });
    expect(r.committed).toBe(true);
    expect(r.storm.snapshotsSent).toBeGreaterThan(0);
    expect(r.storm.snapshotsSent).toBeLessThanOrEqual(9 * periods(r.storm));
    expect(r.misbehaviour['fetchState flood']).toBeGreaterThan(0);
  }, 120_000);
});

describe('Byzantine budgets: shape limits and answer budgets (actors/byzantine/budget.ts)', () => {
  const l = { signers: 4, windowSize: 32 };
  const proof = { p: new Uint8Array(1), s: new Uint8Array(64) } as never;
  const status: BftMessage = { type: 'status', view: 0, executed: 0, stable: 0, changing: false };
  const vc = (prepared: Array<{ seq: number; prePrepare: number; prepares: number[] }>, proofs: number): BftMessage =>
    ({ type: 'viewChange', view: 1, stable: { seq: 0, digest: 'genesis', cert: [] }, prepared: prepared.map((c) => ({ ...c, view: 0, digest: 'd' })), proofs: Array.from({ length: proofs }, () => proof) });

  it('refuses, before any signature, bundles and proof-carrying messages larger than the protocol ever sends', () => {
    expect(bundleAbuse([status], l)).toBeNull();
    expect(bundleAbuse([status, status], l)).toBe('bundle: more than one status');
    expect(bundleAbuse(Array.from({ length: 8 * 32 + 17 }, (_, i) => ({ type: 'prepare', view: 0, seq: i + 1, digest: 'd' })), l)).toMatch(/^bundle: 273 messages/);
    // A prepared certificate: the primary's pre-prepare and at most one prepare per other signer.
    expect(messageShape(vc([{ seq: 1, prePrepare: 0, prepares: [1, 2] }], 3), l)).toBeNull();
    expect(messageShape(vc([{ seq: 1, prePrepare: 0, prepares: [1, 2, 3, 4] }], 5), l)).toMatch(/^view change: seq 1 certificate of 5 proofs/);
    expect(messageShape(vc([{ seq: 1, prePrepare: 0, prepares: [1] }], 3), l)).toBe('view change: a proof nobody refers to');
    expect(messageShape(vc(Array.from({ length: 33 }, (_, i) => ({ seq: i + 1, prePrepare: 0, prepares: [1] })), 2), l)).toMatch(/^view change: 33 prepared slots/);
    expect(messageShape({ type: 'entries', slots: [{ seq: 1, view: 0, digest: 'd', commits: [0, 1, 2, 3, 4] }], proofs: Array.from({ length: 5 }, () => proof) }, l)).toMatch(/^entries: seq 1 certificate of 5/);
    expect(messageShape({ type: 'newView', view: 1, viewChanges: Array.from({ length: 5 }, () => proof), prePrepares: [] }, l)).toMatch(/^new view: 5 view changes/);
  });

  it('refuses execution evidence quoting more commits than there are signers, before verifying any of them', () => {
    const accuse = (n: number): BftMessage => ({ type: 'accuse', accused: 'r2', evidence: { kind: 'execution', seq: 1, bad: proof, cert: Array.from({ length: n }, () => proof) } });
    expect(messageShape(accuse(3), l)).toBeNull();
    expect(messageShape(accuse(4), l)).toBeNull();
    expect(messageShape(accuse(4096), l)).toBe('evidence: certificate of 4096 proofs');
    expect(bundleAbuse([accuse(5)], l)).toBe('evidence: certificate of 5 proofs');
  });

  it('answers a peer at most once per interval and kind, and reports a demand rate above the limit once per interval', () => {
    const b = new AnswerBudget(5, 4);
    expect([0, 1, 4, 5, 9, 10].map((t) => b.allow('r4', 'status', t))).toEqual([true, false, false, true, false, true]);
    expect(b.allow('r3', 'status', 1)).toBe(true);
    expect(b.allow('r4', 'newView', 1)).toBe(true);
    expect(Array.from({ length: 8 }, () => b.demand('r4', 'status', 20))).toEqual([false, false, false, false, true, false, false, false]);
    expect(b.demand('r4', 'status', 25)).toBe(false);
  });
});
