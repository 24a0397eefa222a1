/** A signed bundle whose batches need several envelopes repeats its messages in each: the core takes them once. */
import { describe, expect, it } from 'vitest';
import { harness } from './review-helpers.ts';

describe('Byzantine bundles split over several envelopes', () => {
  it('six envelopes of one signed bundle hand its status to the core once: no "status flood" against a correct replica', async () => {
    const h = await harness('r1');
    await h.start();
    await h.clock.runFor(10);
    const status = { type: 'status', view: 0, executed: 0, stable: 0, changing: false };
    // The same signed messages, each envelope with other attachments (batches split by size).
    for (let i = 0; i < 6; i++) await h.inject('r2', [status], [new Uint8Array([i])]);
    await h.clock.runFor(10);
    expect(h.replica.metrics.misbehaviour).toEqual({});
    expect(h.replica.failure).toBeUndefined();
    // A distinct bundle still counts: six different statuses in one instant are a flood.
    for (let i = 0; i < 6; i++) await h.inject('r2', [{ ...status, executed: i }]);
    await h.clock.runFor(10);
    expect(Object.keys(h.replica.metrics.misbehaviour).length).toBeGreaterThan(0);
    await h.replica.stop();
  });
});
