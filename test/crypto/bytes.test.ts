import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bytesEqual,
  concatBytes,
  fromBase64Url,
  fromHex,
  idToPublicKey,
  isBytes,
  publicKeyToId,
  toBase64Url,
  toHex,
} from '../../src/crypto/index.ts';

// Reference encoder built on the web-standard btoa, independent of ours.
function referenceBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function thrownMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '(did not throw)';
}

describe('base64url', () => {
  it('matches RFC 4648 test vectors (unpadded)', () => {
    const enc = new TextEncoder();
    const cases: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of cases) {
      expect(toBase64Url(enc.encode(plain))).toBe(encoded);
      expect(fromBase64Url(encoded)).toEqual(enc.encode(plain));
    }
  });

  it('uses the url-safe alphabet', () => {
    expect(toBase64Url(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe('-_-_');
    expect(fromBase64Url('-_-_')).toEqual(new Uint8Array([0xfb, 0xff, 0xbf]));
  });

  it('round-trips and agrees with btoa on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = toBase64Url(bytes);
        expect(text).toBe(referenceBase64Url(bytes));
        expect(fromBase64Url(text)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects padding, foreign characters, impossible lengths and non-canonical tails', () => {
    for (const bad of ['Zg==', 'Zm9v=', 'Zm+v', 'Zm/v', 'Zm9 ', 'Z', 'Zm9vY', 'Zh', 'Zm9', 'é']) {
      expect(() => fromBase64Url(bad)).toThrow();
    }
    // 'Zh' and 'Zm9' carry set bits past the last byte: another string means the same bytes.
    expect(fromBase64Url('Zm8')).toEqual(new TextEncoder().encode('fo'));
    expect(thrownMessage(() => fromBase64Url('Zh'))).toMatch(/non-canonical/);
    expect(thrownMessage(() => fromBase64Url('Zm9vY'))).toMatch(/length/);
  });
});

describe('ids', () => {
  it('round-trips 32-byte public keys through ids', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        const id = publicKeyToId(key);
        expect(id).toHaveLength(43);
        expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(idToPublicKey(id)).toEqual(key);
      }),
      { numRuns: 200 },
    );
  });

  it('distinct keys give distinct ids and every valid id maps back to itself', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(255), (key, i) => {
        const other = key.slice();
        other[i % 32] = other[i % 32]! ^ 1;
        expect(publicKeyToId(other)).not.toBe(publicKeyToId(key));
      }),
    );
  });

  it('idToPublicKey throws a clear error for anything but 32 bytes of base64url', () => {
    const valid = publicKeyToId(new Uint8Array(32).fill(7));
    const bad: unknown[] = [
      '',
      valid.slice(0, 42),
      valid + 'A',
      valid + '=',
      valid.slice(0, 42) + '+',
      valid.slice(0, 42) + '/',
      valid.slice(0, 42) + ' ',
      valid.slice(0, 42) + 'B', // 43rd char carries bits beyond 32 bytes: non-canonical
      toBase64Url(new Uint8Array(31)),
      toBase64Url(new Uint8Array(33)),
      12345,
      null,
      undefined,
      new Uint8Array(32),
    ];
    for (const id of bad) {
      const message = thrownMessage(() => idToPublicKey(id as string));
      expect(message).toMatch(/^idToPublicKey: /);
    }
    expect(thrownMessage(() => idToPublicKey('x'.repeat(10)))).toMatch(/43/);
  });

  it('publicKeyToId refuses keys that are not 32 bytes', () => {
    expect(() => publicKeyToId(new Uint8Array(31))).toThrow();
    expect(() => publicKeyToId([1, 2, 3] as unknown as Uint8Array)).toThrow();
  });
});

describe('hex and byte helpers', () => {
  it('toHex / fromHex', () => {
    expect(toHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe('0001abff');
    expect(fromHex('0001ABff')).toEqual(new Uint8Array([0, 1, 0xab, 0xff]));
    expect(() => fromHex('abc')).toThrow();
    expect(() => fromHex('zz')).toThrow();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromHex(toHex(b))).toEqual(b);
      }),
    );
  });

  it('bytesEqual', () => {
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('concatBytes and isBytes', () => {
    expect(concatBytes(new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3]))).toEqual(
      new Uint8Array([1, 2, 3]),
    );
    expect(isBytes(new Uint8Array(1))).toBe(true);
    expect(isBytes([1])).toBe(false);
    expect(isBytes(new Uint16Array(1))).toBe(false);
    expect(isBytes(new Uint8ClampedArray(1))).toBe(false);
    expect(isBytes(new ArrayBuffer(1))).toBe(false);
    expect(isBytes('ab')).toBe(false);
  });
});
