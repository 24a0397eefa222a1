/**
 * Bad input reaching a Byzantine replica is dropped and counted, never thrown into the
 * protocol: garbage, oversized frames, unknown or forged senders, malformed bundles, nested
 * proofs with bad signatures, attached bytes that are not batches. The group keeps serving.
 */
import { describe, expect, it } from 'vitest';
import { createLocalCluster, encode, generateIdentity, sha256Sync } from '../../src/index.ts';
import { toHex } from '../../src/crypto/index.ts';
import type { NodeEnv } from '../../src/sim/index.ts';
import { seal } from '../../src/wire/index.ts';
import { counter } from '../fixtures/machines.ts';

describe('Byzantine replica ingress', () => {
  it('drops and counts every kind of bad input, and keeps serving', async () => {
    const seed = 3;
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed, tuning: { maxMessageBytes: 64 * 1024 } });
    try {
      let env: NodeEnv | undefined;
      await cluster.sim.addNode('evil', (e) => {
        env = e;
      });
      const send = (bytes: Uint8Array) => cluster.sim.clock.run(() => env!.send('r2', bytes));
      // The local cluster derives identities from the seed: r3's key lets us sign as a (faulty) member.
      const r3 = await generateIdentity({ seed: cluster.sim.random.fork('identity:r3').bytes(32) });
      const stranger = await generateIdentity();
      const vote = { type: 'prepare', view: 0, seq: 1, digest: 'x' };

      await send(new Uint8Array([1, 2, 3, 250, 251]));
      await send(new Uint8Array(65 * 1024));
      await send(await seal({ from: 'evil', to: 'r2', kind: 'protocol', body: [vote] }, stranger));
      await send(await seal({ from: 'r1', to: 'r2', kind: 'protocol', body: [vote] }, stranger));
      await send(await seal({ from: 'r3', to: 'r2', kind: 'protocol', body: { not: 'a bundle' } }, r3));
      await send(await seal({ from: 'r3', to: 'r2', kind: 'protocol', body: [{ type: 'prepare', view: -1, seq: 0, digest: '' }] }, r3));
      await send(await seal({ from: 'r3', to: 'r2', kind: 'protocol', body: [{ type: 'relay', proof: { p: encode({ f: 'r1' }), s: new Uint8Array(64) } }] }, r3));
      const notABatch = encode({ not: 'a batch' });
      await send(await seal({ from: 'r3', to: 'r2', kind: 'protocol', body: [{ type: 'prePrepare', view: 0, seq: 1, digest: toHex(sha256Sync(notABatch)) }] }, r3, [notABatch]));
      await send(await seal({ from: 'r3', to: 'r2', kind: 'protocol', body: [vote] }, r3, [encode({ time: 0, items: [] })]));
      await send(await seal({ from: 'r1', to: 'r2', kind: 'request', body: { seq: 1, event: { type: 'INC' } } }));
      await send(await seal({ from: 'evil', to: 'r2', kind: 'request', body: { seq: 'one' } }));
      await cluster.sim.clock.sleep(50);

      const m = cluster.replica('r2').metrics;
      expect(m.dropped).toMatchObject({
        undecodable: 1,
        'too-large': 1,
        'unknown-sender': 1,
        'bad-signature': 1,
        malformed: 3,
        'bad-proof': 1,
        'bad-batch': 1,
        'unreferenced-batch': 1,
        'spoofed-sender': 1,
      });
      expect(cluster.replica('r2').current?.failure).toBeUndefined();
      const out = await cluster.createClient().send({ type: 'INC' });
      expect((out.snapshot.context as { count: number }).count).toBe(1);
    } finally {
      await cluster.stop();
    }
  });

  it('refuses wrong API arguments with clear errors', async () => {
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 1 });
    try {
      await expect(cluster.byzantine('r9', 'silent')).rejects.toThrow(/no replica r9/);
      await expect(cluster.byzantine('r1', 'lie' as never)).rejects.toThrow(/unknown behaviour/);
      await expect(cluster.createClient().send({ type: 'INC', when: new Date() } as never)).rejects.toThrow(/plain/);
    } finally {
      await cluster.stop();
    }
    const crash = await createLocalCluster({ machine: counter, faultModel: 'crash', f: 1, seed: 1 });
    try {
      await expect(crash.byzantine('r1', 'silent')).rejects.toThrow(/faultModel 'byzantine'/);
    } finally {
      await crash.stop();
    }
  });
});
