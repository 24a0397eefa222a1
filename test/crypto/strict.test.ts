import { beforeAll, describe, expect, it } from 'vitest';
import {
  SMALL_ORDER_ENCODINGS,
  checkPublicKey,
  checkStrict,
  concatBytes,
  fromHex,
  generateIdentity,
  getBackend,
  toHex,
  verify,
  type CryptoBackend,
  type CryptoBackendName,
  type Identity,
  type StrictRejection,
} from '../../src/crypto/index.ts';
import {
  BASE,
  IDENTITY,
  L,
  P,
  bytesToNumberLE,
  decodePoint,
  encodePoint,
  isIdentity,
  mod,
  numberToBytesLE,
  pointAdd,
  pointEquals,
  pointNegate,
  scalarMult,
  toAffine,
  type Point,
} from '../../src/crypto/edwards.ts';

const NAMES: readonly CryptoBackendName[] = ['webcrypto', 'tweetnacl'];
const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Independent Ed25519 in BigInt (RFC 8032 §5.1.5-5.1.6), used to build signatures no honest
// signer would produce. Checked against the RFC vectors and the back ends first.

async function sha512(...parts: Uint8Array[]): Promise<Uint8Array> {
  const data = concatBytes(...parts) as Uint8Array<ArrayBuffer>;
  return new Uint8Array(await crypto.subtle.digest('SHA-512', data));
}

async function expandSeed(seed: Uint8Array): Promise<{ a: bigint; prefix: Uint8Array }> {
  const h = await sha512(seed);
  const head = h.slice(0, 32);
  head[0] = head[0]! & 248;
  head[31] = (head[31]! & 127) | 64;
  return { a: bytesToNumberLE(head), prefix: h.slice(32) };
}

async function challenge(R: Uint8Array, A: Uint8Array, message: Uint8Array): Promise<bigint> {
  return mod(bytesToNumberLE(await sha512(R, A, message)), L);
}

function signature(R: Uint8Array, S: bigint): Uint8Array {
  return concatBytes(R, numberToBytesLE(S, 32));
}

async function bigintSign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const { a, prefix } = await expandSeed(seed);
  const A = encodePoint(scalarMult(BASE, a));
  const r = mod(bytesToNumberLE(await sha512(prefix, message)), L);
  const R = encodePoint(scalarMult(BASE, r));
  const h = await challenge(R, A, message);
  return signature(R, mod(r + h * a, L));
}

/** Decode the way a lax verifier does: y taken mod p, a sign bit on x = 0 ignored. */
function laxDecode(bytes: Uint8Array): Point {
  const sign = bytes[31]! >>> 7;
  const yBytes = bytes.slice();
  yBytes[31] = yBytes[31]! & 0x7f;
  const y = mod(bytesToNumberLE(yBytes));
  const canonical = numberToBytesLE(y, 32);
  canonical[31] = canonical[31]! | (sign << 7);
  let decoded = decodePoint(canonical);
  if (!decoded.ok) {
    canonical[31] = canonical[31]! & 0x7f;
    decoded = decodePoint(canonical);
  }
  if (!decoded.ok) throw new Error('laxDecode: not a point');
  return decoded.point;
}

/** Encoding of an arbitrary y (possibly >= p) with the given sign bit. */
function rawEncoding(y: bigint, sign: number): Uint8Array {
  const out = numberToBytesLE(y, 32);
  out[31] = out[31]! | (sign << 7);
  return out;
}

function orderOf(point: Point): number {
  let q = point;
  for (let n = 1; n <= 8; n++) {
    if (isIdentity(q)) return n;
    q = pointAdd(q, point);
  }
  return Infinity;
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >>> 3] = out[bit >>> 3]! ^ (1 << (bit & 7));
  return out;
}

// ---------------------------------------------------------------------------------------------

const backends = {} as Record<CryptoBackendName, CryptoBackend>;
let torsion: Point[] = []; // the 8 points of order dividing 8, derived below
let honest: Identity;
let honestSeed: Uint8Array;
const message = enc.encode('the strict rule');

beforeAll(async () => {
  for (const name of NAMES) backends[name] = await getBackend(name);
  honestSeed = new Uint8Array(32).map((_, i) => (i * 13 + 5) & 255);
  honest = await generateIdentity({ seed: honestSeed, backend: 'tweetnacl' });
  // [L]P kills the prime-order part of any point, leaving its torsion component. Collect the
  // multiples of those components until the whole torsion subgroup (cyclic, order 8) is found.
  const found = new Map<string, Point>();
  for (let y = 2n; found.size < 8 && y < 1000n; y++) {
    const decoded = decodePoint(numberToBytesLE(y, 32));
    if (!decoded.ok) continue;
    const t = scalarMult(decoded.point, L);
    let q: Point = IDENTITY;
    for (let i = 0; i < 8; i++) {
      found.set(toHex(encodePoint(q)), q);
      q = pointAdd(q, t);
    }
  }
  torsion = [...found.values()];
});

/** Verify on both back ends; they must agree. Returns the common verdict. */
async function verifyBoth(publicKey: unknown, msg: unknown, sig: unknown): Promise<boolean> {
  const results: boolean[] = [];
  for (const name of NAMES) {
    results.push(
      await verify(publicKey as Uint8Array, msg as Uint8Array, sig as Uint8Array, { backend: name }),
    );
  }
  expect(results[0]).toBe(results[1]);
  return results[0]!;
}

describe('BigInt curve arithmetic (the test oracle)', () => {
  it('base point, group order and public keys agree with the back ends', async () => {
    expect(toHex(encodePoint(BASE))).toBe('5866666666666666666666666666666666666666666666666666666666666666');
    expect(isIdentity(scalarMult(BASE, L))).toBe(true);
    expect(isIdentity(scalarMult(BASE, L - 1n))).toBe(false);
    const { a } = await expandSeed(honestSeed);
    expect(encodePoint(scalarMult(BASE, a))).toEqual(honest.publicKey);
  });

  it('BigInt signing reproduces RFC 8032 test 1 and the back ends', async () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(toHex(await bigintSign(seed, new Uint8Array(0)))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155' +
        '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(await bigintSign(honestSeed, message)).toEqual(await honest.sign(message));
  });

  it('decodePoint is strict and inverse to encodePoint', () => {
    for (let k = 1n; k < 20n; k++) {
      const p = scalarMult(BASE, k * 1234567n);
      const e = encodePoint(p);
      const d = decodePoint(e);
      expect(d.ok).toBe(true);
      if (d.ok) expect(pointEquals(d.point, p)).toBe(true);
    }
    expect(decodePoint(rawEncoding(P, 0))).toEqual({ ok: false, reason: 'non-canonical' });
    expect(decodePoint(rawEncoding(1n, 1))).toEqual({ ok: false, reason: 'non-canonical' });
  });
});

describe('small-order points', () => {
  it('SMALL_ORDER_ENCODINGS is exactly the derived torsion subgroup', () => {
    expect(torsion).toHaveLength(8);
    const derived = torsion.map((t) => toHex(encodePoint(t))).sort();
    expect(derived).toEqual([...SMALL_ORDER_ENCODINGS].sort());
    const orders = torsion.map(orderOf).sort();
    expect(orders).toEqual([1, 2, 4, 4, 8, 8, 8, 8]);
    for (const t of torsion) expect(isIdentity(scalarMult(t, 8n))).toBe(true);
    // And the listed encodings decode to points of order dividing 8 on their own.
    for (const hex of SMALL_ORDER_ENCODINGS) {
      const d = decodePoint(fromHex(hex));
      expect(d.ok).toBe(true);
      if (d.ok) expect(isIdentity(scalarMult(d.point, 8n))).toBe(true);
    }
  });

  it('has exactly 6 non-canonical encodings, all rejected as key and as R', () => {
    const variants = new Set<string>();
    for (const t of torsion) {
      const { x, y } = toAffine(t);
      if (x === 0n) variants.add(toHex(rawEncoding(y, 1))); // x = 0 with the sign bit set
      if (y + P < 2n ** 255n) {
        variants.add(toHex(rawEncoding(y + P, 0)));
        variants.add(toHex(rawEncoding(y + P, 1)));
      }
    }
    expect(variants.size).toBe(6);
    for (const hex of variants) {
      const bytes = fromHex(hex);
      expect(checkPublicKey(bytes)).toBe('non-canonical-key');
      expect(checkStrict(bytes, signature(honest.publicKey, 1n))).toBe('non-canonical-key');
      expect(checkStrict(honest.publicKey, signature(bytes, 1n))).toBe('non-canonical-r');
      // They really are encodings of small-order points to a lax decoder.
      expect(isIdentity(scalarMult(laxDecode(bytes), 8n))).toBe(true);
    }
  });
});

describe('strict rule: edge cases rejected alike by both back ends', () => {
  it('accepts an honest signature (checkStrict null, verify true on both)', async () => {
    const sig = await honest.sign(message);
    expect(checkStrict(honest.publicKey, sig)).toBe(null);
    expect(checkPublicKey(honest.publicKey)).toBe(null);
    expect(await verifyBoth(honest.publicKey, message, sig)).toBe(true);
  });

  it('non-canonical S: S + L (tweetnacl alone would accept it), S = L, S = 2^256 - 1', async () => {
    const sig = await honest.sign(message);
    const R = sig.slice(0, 32);
    const S = bytesToNumberLE(sig.slice(32));
    const malleated = signature(R, S + L);
    // This is why the rule exists: tweetnacl does not check S < L.
    expect(await backends.tweetnacl.verifyRaw(honest.publicKey, message, malleated)).toBe(true);
    for (const bad of [malleated, signature(R, L), signature(R, 2n ** 256n - 1n), signature(R, L + 1n)]) {
      expect(checkStrict(honest.publicKey, bad)).toBe('non-canonical-s');
      expect(await verifyBoth(honest.publicKey, message, bad)).toBe(false);
    }
    // L - 1 is canonical: the S check passes and the back ends decide (false here).
    expect(checkStrict(honest.publicKey, signature(R, L - 1n))).toBe(null);
    expect(await verifyBoth(honest.publicKey, message, signature(R, L - 1n))).toBe(false);
  });

  it('small-order public keys (all 8 and the 6 non-canonical variants) with forged signatures', async () => {
    const byHex = new Map<string, Uint8Array>(SMALL_ORDER_ENCODINGS.map((hex) => [hex, fromHex(hex)]));
    for (const t of torsion) {
      const { x, y } = toAffine(t);
      const variants = x === 0n ? [rawEncoding(y, 1)] : [];
      if (y + P < 2n ** 255n) variants.push(rawEncoding(y + P, 0), rawEncoding(y + P, 1));
      for (const v of variants) byHex.set(toHex(v), v);
    }
    const keys = [...byHex.values()];
    expect(keys).toHaveLength(14);
    const smallR = SMALL_ORDER_ENCODINGS.map(fromHex);
    for (const A of keys) {
      // Forge: with S = 0 a cofactorless verifier checks -[h]A == R. A has order <= 8, so for
      // some message one of the 8 small-order R matches. No secret needed.
      const point = laxDecode(A);
      let forged: { msg: Uint8Array; sig: Uint8Array } | undefined;
      for (let i = 0; forged === undefined && i < 200; i++) {
        const msg = enc.encode(`forged ${i}`);
        for (const R of smallR) {
          const h = await challenge(R, A, msg);
          if (toHex(encodePoint(pointNegate(scalarMult(point, h)))) === toHex(R)) {
            forged = { msg, sig: signature(R, 0n) };
            break;
          }
        }
      }
      expect(forged).toBeTruthy();
      const { msg, sig } = forged!;
      // tweetnacl, unguarded, accepts the forgery.
      expect(await backends.tweetnacl.verifyRaw(A, msg, sig)).toBe(true);
      const reason = checkStrict(A, sig);
      expect(['small-order-key', 'non-canonical-key']).toContain(reason);
      expect(await verifyBoth(A, msg, sig)).toBe(false);
      expect(await verifyBoth(A, message, signature(smallR[0]!, 0n))).toBe(false);
    }
  });

  it('small-order R: a cofactorless-valid signature with R = identity is rejected', async () => {
    const { a } = await expandSeed(honestSeed);
    const R = fromHex(SMALL_ORDER_ENCODINGS[0]!); // the identity
    const h = await challenge(R, honest.publicKey, message);
    const sig = signature(R, mod(h * a, L)); // [S]B - [h]A = identity = R
    expect(await backends.tweetnacl.verifyRaw(honest.publicKey, message, sig)).toBe(true);
    expect(checkStrict(honest.publicKey, sig)).toBe('small-order-r');
    expect(await verifyBoth(honest.publicKey, message, sig)).toBe(false);
    for (const hex of SMALL_ORDER_ENCODINGS) {
      const other = signature(fromHex(hex), 12345n);
      expect(checkStrict(honest.publicKey, other)).toBe('small-order-r');
      expect(await verifyBoth(honest.publicKey, message, other)).toBe(false);
    }
  });

  it('non-canonical R and key encodings (y >= p) of ordinary points', async () => {
    let count = 0;
    for (let k = 0n; k < 19n; k++) {
      const canonical = numberToBytesLE(k, 32);
      const d = decodePoint(canonical);
      if (!d.ok || isIdentity(scalarMult(d.point, 8n))) continue; // small-order ones done above
      for (const sign of [0, 1]) {
        const nonCanonical = rawEncoding(k + P, sign);
        expect(checkPublicKey(nonCanonical)).toBe('non-canonical-key');
        const sig = await honest.sign(message);
        const withR = concatBytes(nonCanonical, sig.slice(32));
        expect(checkStrict(honest.publicKey, withR)).toBe('non-canonical-r');
        expect(await verifyBoth(honest.publicKey, message, withR)).toBe(false);
        expect(await verifyBoth(nonCanonical, message, sig)).toBe(false);
        count++;
      }
    }
    expect(count).toBeGreaterThan(0);
    // The largest encodings: y = 2^255 - 1 with either sign.
    const top = rawEncoding(2n ** 255n - 1n, 1);
    expect(checkPublicKey(top)).toBe('non-canonical-key');
    expect(checkStrict(honest.publicKey, signature(top, 1n))).toBe('non-canonical-r');
  });

  it('a public key that is not on the curve', async () => {
    let y = 2n;
    while (decodePoint(numberToBytesLE(y, 32)).ok) y++;
    const bad = numberToBytesLE(y, 32);
    expect(checkPublicKey(bad)).toBe('invalid-key-point');
    const sig = await honest.sign(message);
    expect(await verifyBoth(bad, message, sig)).toBe(false);
  });

  it('mixed-order keys (honest key + torsion point) with cofactorless-valid signatures', async () => {
    const { a } = await expandSeed(honestSeed);
    const Apoint = scalarMult(BASE, a);
    for (const T of torsion.filter((t) => !isIdentity(t))) {
      const mixed = pointAdd(Apoint, T);
      const A = encodePoint(mixed);
      expect(checkPublicKey(A)).toBe('mixed-order-key');
      // Want [S]B - [h](A + T) == R. Take R = [r]B + T' with T' in the torsion group; that
      // holds with S = r + h a when T' = -[h]T, which some T' satisfies for ~1 in 8 tries.
      let forged: Uint8Array | undefined;
      for (let r = 1000n; forged === undefined && r < 1100n; r++) {
        const rB = scalarMult(BASE, r);
        for (const T2 of torsion) {
          const R = encodePoint(pointAdd(rB, T2));
          const h = await challenge(R, A, message);
          if (pointEquals(T2, pointNegate(scalarMult(T, h)))) {
            forged = signature(R, mod(r + h * a, L));
            break;
          }
        }
      }
      expect(forged).toBeTruthy();
      // Both raw back ends accept it (cofactorless math holds) ...
      expect(await backends.tweetnacl.verifyRaw(A, message, forged!)).toBe(true);
      // ... the strict rule does not.
      expect(checkStrict(A, forged!)).toBe('mixed-order-key');
      expect(await verifyBoth(A, message, forged!)).toBe(false);
    }
  });

  it('every single-bit mutation of a signature fails on both back ends', async () => {
    // One signature, every bit position (tweetnacl is slow, ~100 verifications/s on a busy
    // machine; random flips on random signatures are covered by the fast-check property).
    const sig = await honest.sign(message);
    for (let bit = 0; bit < 512; bit++) {
      expect(await verifyBoth(honest.publicKey, message, flipBit(sig, bit))).toBe(false);
    }
  });

  it('wrong message and wrong key', async () => {
    const other = await generateIdentity({ seed: new Uint8Array(32).fill(99) });
    const sig = await honest.sign(message);
    expect(await verifyBoth(honest.publicKey, enc.encode('the strict rule!'), sig)).toBe(false);
    expect(await verifyBoth(honest.publicKey, new Uint8Array(0), sig)).toBe(false);
    expect(await verifyBoth(other.publicKey, message, sig)).toBe(false);
    for (let bit = 0; bit < 256; bit += 17) {
      expect(await verifyBoth(flipBit(honest.publicKey, bit), message, sig)).toBe(false);
    }
  });

  it('wrong lengths and non-Uint8Array input resolve false (never throw)', async () => {
    const sig = await honest.sign(message);
    const pk = honest.publicKey;
    const cases: [unknown, unknown, unknown][] = [
      [pk.slice(0, 31), message, sig],
      [concatBytes(pk, new Uint8Array(1)), message, sig],
      [pk, message, sig.slice(0, 63)],
      [pk, message, concatBytes(sig, new Uint8Array(1))],
      [new Uint8Array(0), message, new Uint8Array(0)],
      [Array.from(pk), message, sig],
      [pk, Array.from(message), sig],
      [pk, message, Array.from(sig)],
      [pk.buffer, message, sig],
      [pk, message, new Uint16Array(32)],
      [new DataView(pk.buffer), message, sig],
      [pk, 'the strict rule', sig],
      [undefined, message, sig],
      [pk, null, sig],
      [pk, message, undefined],
      [{ length: 32 }, message, { length: 64 }],
      [42, 42, 42],
    ];
    for (const [a, m, s] of cases) {
      expect(await verifyBoth(a, m, s)).toBe(false);
    }
    expect(checkStrict(pk.slice(0, 31), sig)).toBe('bad-length');
    expect(checkStrict(pk, sig.slice(1))).toBe('bad-length');
    expect(checkStrict(null as unknown as Uint8Array, sig)).toBe('bad-length');
    // The honest signature still verifies when passed as a subarray view.
    const padded = concatBytes(new Uint8Array(3), sig, new Uint8Array(5));
    expect(await verifyBoth(pk, message, padded.subarray(3, 67))).toBe(true);
  });

  it('returns the same reason every time (key verdicts are cached)', () => {
    const small = fromHex(SMALL_ORDER_ENCODINGS[4]!);
    const reasons = new Set<StrictRejection | null>();
    for (let i = 0; i < 5; i++) reasons.add(checkPublicKey(small));
    expect([...reasons]).toEqual(['small-order-key']);
  });
});
