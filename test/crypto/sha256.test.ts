import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256, sha256Sync, toHex } from '../../src/crypto/index.ts';

const enc = new TextEncoder();

// FIPS 180-2 examples and the NIST "one million 'a'" vector.
const VECTORS: [Uint8Array, string][] = [
  [enc.encode(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  [enc.encode('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  [
    enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  ],
  [new Uint8Array(1_000_000).fill(0x61), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
];

describe('sha256', () => {
  it('sha256Sync matches known vectors', () => {
    for (const [input, hex] of VECTORS) expect(toHex(sha256Sync(input))).toBe(hex);
  });

  it('sha256 (subtle) matches known vectors', async () => {
    for (const [input, hex] of VECTORS) expect(toHex(await sha256(input))).toBe(hex);
  });

  it('agree on a 1 MiB pseudo-random input', async () => {
    const big = new Uint8Array(1 << 20);
    let x = 0x12345678;
    for (let i = 0; i < big.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      big[i] = x & 255;
    }
    const digest = sha256Sync(big);
    expect(digest).toHaveLength(32);
    expect(digest).toEqual(await sha256(big));
  });

  it('agree on every length around the padding boundaries', async () => {
    const lengths = [0, 1, 55, 56, 57, 63, 64, 65, 111, 119, 120, 127, 128, 129, 191, 192, 193];
    for (const n of lengths) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
      expect(toHex(sha256Sync(data))).toBe(toHex(await sha256(data)));
    }
  });

  it('agree on random inputs (fast-check), padding-edge lengths included', async () => {
    const edge = fc.constantFrom(55, 56, 63, 64, 65, 119, 120, 127, 128, 129);
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      edge.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    );
    await fc.assert(
      fc.asyncProperty(input, async (data) => {
        expect(sha256Sync(data)).toEqual(await sha256(data));
      }),
      { numRuns: 300 },
    );
  });

  it('does not depend on the offset of a view or on earlier calls', () => {
    const backing = new Uint8Array(200).map((_, i) => i);
    const view = backing.subarray(7, 7 + 100);
    expect(sha256Sync(view)).toEqual(sha256Sync(view.slice()));
    const first = sha256Sync(enc.encode('abc'));
    sha256Sync(new Uint8Array(1000).fill(9));
    expect(sha256Sync(enc.encode('abc'))).toEqual(first);
    // The result is a fresh array, not shared scratch space.
    first[0] = 0;
    expect(toHex(sha256Sync(enc.encode('abc')))).toBe(VECTORS[1]![1]);
  });
});

describe('sha256Sync native and pure paths', () => {
  it('agree on inputs around the native threshold and beyond', async () => {
    const { sha256SyncPure } = await import('../../src/crypto/index.ts');
    for (const n of [0, 55, 64, 511, 512, 513, 4096, 100_000]) {
      const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 255);
      expect(toHex(sha256SyncPure(data))).toBe(toHex(sha256Sync(data)));
      expect(toHex(sha256Sync(data))).toBe(toHex(await sha256(data)));
    }
  });
});
