// The strict verification rule. It runs in front of every back end so that all replicas
// accept exactly the same set of signatures, whatever library verifies underneath: tweetnacl,
// OpenSSL (Node), BoringSSL (Chromium), NSS, ... differ on edge cases (tweetnacl accepts
// S >= L, libraries disagree on small-order and non-canonical points, some verify
// cofactored). With this rule in front only signatures every cofactorless RFC 8032
// verifier agrees on reach the back end.

import { bytesKey, isBytes, fromHex } from './bytes.ts';
import { L, decodePoint, isIdentity, scalarMult } from './edwards.ts';

export type StrictRejection =
  | 'bad-length'
  | 'non-canonical-s'
  | 'non-canonical-key'
  | 'non-canonical-r'
  | 'small-order-key'
  | 'small-order-r'
  | 'invalid-key-point'
  /** The key is on the curve but has a small-order component ([L]A is not the identity). */
  | 'mixed-order-key';

/**
 * Canonical encodings of the 8 points whose order divides 8 (the torsion subgroup).
 * Checked against BigInt point arithmetic in test/crypto/strict.test.ts.
 */
export const SMALL_ORDER_ENCODINGS: readonly string[] = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2: (0, -1)
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4: (±sqrt(-1), 0)
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
];

// The two encodings with a canonical y whose x is 0 but whose sign bit is set (y = 1 and
// y = p - 1). Non-canonical, and both would otherwise decode to small-order points.
const ZERO_X_WITH_SIGN: readonly string[] = [
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

const SMALL_ORDER_BYTES = SMALL_ORDER_ENCODINGS.map(fromHex);
const ZERO_X_WITH_SIGN_BYTES = ZERO_X_WITH_SIGN.map(fromHex);

/** L little-endian, for the S < L comparison. */
const L_BYTES = /* @__PURE__ */ (() => {
  const out = new Uint8Array(32);
  let k = L;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(k & 255n);
    k >>= 8n;
  }
  return out;
})();

/** S (signature bytes 32..63, little-endian) < L. */
function sIsCanonical(signature: Uint8Array): boolean {
  // Fast path: L = 2^252 + small, so a top byte below 0x10 means S < 2^252 < L.
  const top = signature[63]!;
  if (top < 0x10) return true;
  if (top > 0x10) return false;
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = L_BYTES[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/** The 255-bit y of the encoding at `offset` is >= p = 2^255 - 19. */
function yNotCanonical(bytes: Uint8Array, offset: number): boolean {
  if ((bytes[offset + 31]! & 0x7f) !== 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (bytes[offset + i] !== 0xff) return false;
  return bytes[offset]! >= 0xed;
}

function matchesAny(bytes: Uint8Array, offset: number, list: readonly Uint8Array[]): boolean {
  outer: for (const candidate of list) {
    if (bytes[offset] !== candidate[0]) continue; // cheap first-byte filter
    for (let i = 1; i < 32; i++) if (bytes[offset + i] !== candidate[i]) continue outer;
    return true;
  }
  return false;
}

// Verdicts per public key. Decoding and the subgroup check cost a few milliseconds of BigInt
// work, but a replica sees the same handful of keys over and over, so each key pays once.
// Bounded (least recently used goes first) so a stream of fresh keys cannot grow it without
// limit; such a stream still costs the BigInt work per key, so drop messages from unknown
// senders before verifying them.
const KEY_CACHE_LIMIT = 1024;
const keyCache = new Map<string, StrictRejection | null>();

function computeKeyVerdict(publicKey: Uint8Array): StrictRejection | null {
  const decoded = decodePoint(publicKey);
  if (!decoded.ok) return decoded.reason === 'non-canonical' ? 'non-canonical-key' : 'invalid-key-point';
  if (matchesAny(publicKey, 0, SMALL_ORDER_BYTES)) return 'small-order-key';
  // A key with a torsion component verifies differently under cofactored and cofactorless
  // equations; both of today's back ends are cofactorless, but browsers' WebCrypto need not
  // be. Rejecting such keys makes the accepted set the same under either equation.
  if (!isIdentity(scalarMult(decoded.point, L))) return 'mixed-order-key';
  return null;
}

/**
 * The strict rule for a public key alone (cached): a 32-byte canonical encoding of a point on
 * the curve in the prime-order subgroup, not of small order. Null means acceptable.
 */
export function checkPublicKey(publicKey: Uint8Array): StrictRejection | null {
  if (!isBytes(publicKey) || publicKey.length !== 32) return 'bad-length';
  const key = bytesKey(publicKey);
  const cached = keyCache.get(key);
  if (cached !== undefined) {
    // Re-insert to mark as recently used (Map keeps insertion order).
    keyCache.delete(key);
    keyCache.set(key, cached);
    return cached;
  }
  const verdict = computeKeyVerdict(publicKey);
  if (keyCache.size >= KEY_CACHE_LIMIT) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  keyCache.set(key, verdict);
  return verdict;
}

/**
 * The strict rule alone, synchronous. Returns why (publicKey, signature) must be rejected, or
 * null when the pair may go to a back end.
 *
 * R (signature bytes 0..31) is only checked for a canonical encoding and against the small-
 * order encodings; it is not decompressed. That is sound: both back ends verify cofactorless
 * by computing [S]B - [h]A, encoding the result canonically and comparing the bytes with R. An
 * R that does not decode to a point can never equal a canonical encoding of a point, so every
 * such signature fails in both back ends alike.
 */
export function checkStrict(publicKey: Uint8Array, signature: Uint8Array): StrictRejection | null {
  if (!isBytes(publicKey) || !isBytes(signature) || publicKey.length !== 32 || signature.length !== 64) {
    return 'bad-length';
  }
  if (!sIsCanonical(signature)) return 'non-canonical-s';
  const keyVerdict = checkPublicKey(publicKey);
  if (keyVerdict !== null) return keyVerdict;
  if (yNotCanonical(signature, 0) || matchesAny(signature, 0, ZERO_X_WITH_SIGN_BYTES)) return 'non-canonical-r';
  if (matchesAny(signature, 0, SMALL_ORDER_BYTES)) return 'small-order-r';
  return null;
}
