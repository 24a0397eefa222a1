/** Byzantine state transfer: chunks fit the message limit whatever `stateChunkBytes` says. */
import { describe, expect, it } from 'vitest';
import { indexKey } from '../../src/storage/index.ts';
import { harness } from './review-helpers.ts';

describe('Byzantine state transfer chunks', () => {
  it('a state chunk is capped to half of maxMessageBytes (128 KiB limit, 256 KiB stateChunkBytes): every chunk is sent', async () => {
    const maxMessageBytes = 128 * 1024;
    const h = await harness('r1', { tuning: { maxMessageBytes, stateChunkBytes: 256 * 1024 } });
    await h.start();
    const snapshot = new Uint8Array(300 * 1024).fill(7);
    await h.storage.set(indexKey('bft/snapshot/', 8), snapshot);
    const chunks: number[] = [];
    for (let offset = 0; offset < snapshot.length; ) {
      h.sent.length = 0;
      await h.inject('r2', [{ type: 'fetchState', seq: 8, digest: 'X', offset }]);
      await h.clock.runFor(1_000);
      const chunk = h.sent.flatMap((s) => s.messages ?? []).find((m) => m.type === 'stateChunk');
      expect(chunk, `a chunk from offset ${offset}`).toBeDefined();
      const data = (chunk as { data: Uint8Array }).data;
      expect(data.length).toBeGreaterThan(0);
      chunks.push(data.length);
      offset += data.length;
    }
    expect(Math.max(...chunks)).toBeLessThanOrEqual(maxMessageBytes / 2);
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(snapshot.length);
    expect(h.replica.failure).toBeUndefined();
    await h.replica.stop();
  });
});
