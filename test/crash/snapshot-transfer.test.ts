import { describe, expect, it } from 'vitest';
import { SnapshotTransfer } from '../../src/replica/crash/snapshot-transfer.ts';

const meta = (index: number) => ({ index, term: 1, membership: { voters: ['r1', 'r2', 'r3'], learners: [] } });
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

describe('crash: snapshot transfer', () => {
  it('a repeated first chunk of the transfer in progress continues it from the offset reached (does not start over)', () => {
    const leader = new SnapshotTransfer(4, 1 << 20, 100);
    const follower = new SnapshotTransfer(4, 1 << 20, 100);
    const snap = { meta: meta(10), data: bytes(12) };
    const first = leader.offer(2, snap, 0)!;
    expect(follower.receive('r1', first, 0)).toEqual({ fetch: expect.objectContaining({ offset: 4 }) });
    const second = leader.serve({ type: 'snapshotFetch', term: 2, index: 10, offset: 4 }, 10)!;
    expect(follower.receive('r1', second, 10)).toEqual({ fetch: expect.objectContaining({ offset: 8 }) });
    // The leader's core timed out and sent the first chunk again.
    expect(follower.receive('r1', leader.offer(2, snap, 20)!, 20)).toEqual({ fetch: expect.objectContaining({ offset: 8 }) });
    const last = leader.serve({ type: 'snapshotFetch', term: 2, index: 10, offset: 8 }, 30)!;
    const done = follower.receive('r1', last, 30);
    expect(done && 'snapshot' in done && done.snapshot.data).toEqual(snap.data);
  });

  it('the first chunk of another snapshot starts over', () => {
    const follower = new SnapshotTransfer(4, 1 << 20, 100);
    const leader = new SnapshotTransfer(4, 1 << 20, 100);
    follower.receive('r1', leader.offer(2, { meta: meta(10), data: bytes(12) }, 0)!, 0);
    follower.receive('r1', leader.serve({ type: 'snapshotFetch', term: 2, index: 10, offset: 4 }, 0)!, 0);
    expect(follower.receive('r1', leader.offer(2, { meta: meta(20), data: bytes(12) }, 0)!, 0)).toEqual({ fetch: expect.objectContaining({ index: 20, offset: 4 }) });
  });

  it('the leader keeps serving the snapshot it offered while fetches come, and forgets it once they stop', () => {
    const leader = new SnapshotTransfer(4, 1 << 20, 100);
    leader.offer(2, { meta: meta(10), data: bytes(12) }, 0);
    leader.offer(2, { meta: meta(20), data: bytes(12) }, 50); // a newer snapshot taken meanwhile
    expect(leader.serve({ type: 'snapshotFetch', term: 2, index: 10, offset: 4 }, 300)?.offset).toBe(4);
    expect(leader.serve({ type: 'snapshotFetch', term: 2, index: 10, offset: 8 }, 1000)).toBeUndefined();
  });

  it('a newer term or another leader cancels the transfer: no more fetches to the deposed leader', () => {
    for (const [term, leaderId] of [[3, null], [2, 'r2']] as const) {
      const follower = new SnapshotTransfer(4, 1 << 20, 100);
      const leader = new SnapshotTransfer(4, 1 << 20, 100);
      follower.receive('r1', leader.offer(2, { meta: meta(10), data: bytes(12) }, 0)!, 0);
      follower.cancelUnlessFrom(2, 'r1');
      expect(follower.stalled(200)?.to).toBe('r1');
      follower.cancelUnlessFrom(term, leaderId);
      expect(follower.stalled(400)).toBeUndefined();
    }
  });
});
