/**
 * The request pool across view changes (issue 12, finding 2): a request a replica holds is
 * forgotten a fixed time after it was first received, however many views change meanwhile
 * (before, each new view restarted its clock, so a request nobody could order kept the group
 * changing views forever).
 */
import { describe, expect, it } from 'vitest';
import { BftCore } from '../../actors/byzantine/core.ts';
import type { BftMessage } from '../../actors/byzantine/types.ts';
import { encode } from '../../src/codec/index.ts';
import { sha256Sync, toHex } from '../../src/crypto/index.ts';
import { deliver, GENESIS, group, hashBatch, sent, settle, vp } from './review-helpers.ts';

const emptyViewChange = (view: number): BftMessage => ({ type: 'viewChange', view, stable: { seq: 0, digest: 'genesis', cert: [] }, prepared: [], proofs: [] });

function backup(id: string): BftCore {
  return new BftCore({
    config: {
      id, checkpointEvery: 8, windowSize: 32, maxBatch: 64, requestTimeoutTicks: 50, viewChangeTimeoutTicks: 50, statusTicks: 1000, forgetRequestTicks: 120, maxClockSkewMs: 30_000,
      hashBatch, hashCheckpoint: (c) => toHex(sha256Sync(encode({ seq: c.seq, app: c.appDigest, config: c.config } as never))),
    },
    group, hard: { view: 0, changing: false }, stable: GENESIS, slots: [], alreadyApplied: () => false,
  });
}

/** Ticks until the core starts a view change (or `max` ticks pass); returns the ticks taken. */
function tickUntilViewChange(core: BftCore, max: number): number {
  for (let i = 1; i <= max; i++) {
    core.tick(i);
    if (core.changing) return i;
  }
  return max;
}

/** The primary of `view` installs it with the view changes of the other three. */
function installView(core: BftCore, view: number, primary: string): void {
  const others = ['r1', 'r2', 'r3', 'r4'].filter((id) => id !== core.id).slice(0, 2);
  const [own] = sent(settle(core), 'viewChange');
  const vcs = [...others.map((id) => vp(id, emptyViewChange(view))), vp(core.id, own ?? emptyViewChange(view))];
  deliver(core, primary, { type: 'newView', view, viewChanges: vcs, prePrepares: [] });
  settle(core);
  expect(core.view).toBe(view);
  expect(core.changing).toBe(false);
}

describe('request pool: forgetting is not restarted by view changes', () => {
  it('a request no primary orders costs view changes only until it is forgotten, counted from its receipt', () => {
    const r4 = backup('r4');
    r4.request({ k: 'req', client: 'c1', session: 1, seq: 1, event: { type: 'INC' } });
    // Nobody orders it: the request timer changes the view, twice.
    expect(tickUntilViewChange(r4, 60)).toBeLessThanOrEqual(51);
    installView(r4, 1, 'r2');
    expect(tickUntilViewChange(r4, 60)).toBeLessThanOrEqual(51);
    installView(r4, 2, 'r3');
    // 120 ticks after it arrived it is forgotten: no third view change.
    expect(tickUntilViewChange(r4, 200)).toBe(200);
    expect(r4.view).toBe(2);
  });
});
