// Every correct replica signs the same checkpoint digest for a boundary, however many committed
// slots past it it executed before the runtime reported the boundary. An admin command in the
// slot after a boundary changes the live configuration (its nonce, a pending change); the
// checkpoint covers the configuration as it stood when the boundary executed.
import { describe, expect, it } from 'vitest';
import type { Batch, BftCore, BftMessage } from '../../actors/byzantine/index.ts';
import { deliver, hashBatch, makeCore, sent, settle, vp } from './review-helpers.ts';

const EVERY = 8; // makeCore's checkpointEvery

function commitSlot(core: BftCore, seq: number, batch: Batch): void {
  const digest = hashBatch(batch);
  core.batchArrived(digest, batch);
  deliver(core, 'r1', { type: 'prePrepare', view: 0, seq, digest });
  for (const from of ['r3', 'r4']) deliver(core, from, { type: 'prepare', view: 0, seq, digest });
  for (const from of ['r1', 'r3', 'r4']) deliver(core, from, { type: 'commit', view: 0, seq, digest });
}

/** The checkpoint digest `core` signs for the boundary once the runtime reports it executed. */
function checkpointDigest(core: BftCore): string {
  core.boundaryExecuted(EVERY, 'app-digest');
  const [vote] = sent(settle(core), 'checkpoint').filter((m) => m.seq === EVERY);
  expect(vote).toBeDefined();
  return vote!.digest;
}

describe('checkpoint digests with an admin command right after the boundary', () => {
  it('a replica that executed the next slot before reporting the boundary signs the same digest as one that did not', () => {
    const admin: BftMessage = { type: 'reconfigure', change: { add: { id: 'r5', key: new Uint8Array(32).fill(5) } }, nonce: 42 };
    const batches: Batch[] = [];
    for (let seq = 1; seq <= EVERY; seq++) batches.push({ time: seq, items: [{ k: 'noop' }] });
    const withCommand: Batch = { time: EVERY + 1, items: [{ k: 'cfg', cmd: vp('admin', admin) }] };

    // r2 reports the boundary before slot 9 commits.
    const early = makeCore('r2');
    batches.forEach((b, i) => commitSlot(early, i + 1, b));
    expect(settle(early).some((e) => e.type === 'execute' && e.seq === EVERY)).toBe(true);
    const earlyDigest = checkpointDigest(early);

    // r2 again (same inputs): slot 9 commits in the same step, so it executes before the runtime reports the boundary.
    const late = makeCore('r2');
    batches.forEach((b, i) => commitSlot(late, i + 1, b));
    commitSlot(late, EVERY + 1, withCommand);
    expect(settle(late).some((e) => e.type === 'execute' && e.seq === EVERY + 1)).toBe(true);
    expect(late.group.adminNonce).toBe(42);
    expect(checkpointDigest(late)).toBe(earlyDigest);
  });
});
