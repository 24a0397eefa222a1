// Edwards25519 point arithmetic in BigInt. Slow (milliseconds per scalar multiplication) and
// not constant time: it only ever touches public data (public keys, test vectors), once per
// key, to decide the strict verification rule. Signing and verification stay in the back ends.

/** Field prime p = 2^255 - 19. */
export const P = 2n ** 255n - 19n;
/** Prime order of the base point, L = 2^252 + 27742317777372353535851937790883648493. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

export function mod(a: bigint, m: bigint = P): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

export function pow(base: bigint, exponent: bigint, m: bigint = P): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

export function invert(a: bigint): bigint {
  return pow(a, P - 2n);
}

/** Curve constant d = -121665/121666. */
export const D = mod(-121665n * invert(121666n));
/** A square root of -1 mod p. */
export const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/** Extended homogeneous coordinates: x = X/Z, y = Y/Z, x*y = T/Z. */
export interface Point {
  readonly X: bigint;
  readonly Y: bigint;
  readonly Z: bigint;
  readonly T: bigint;
}

export const IDENTITY: Point = { X: 0n, Y: 1n, Z: 1n, T: 0n };

export function fromAffine(x: bigint, y: bigint): Point {
  return { X: mod(x), Y: mod(y), Z: 1n, T: mod(x * y) };
}

export function toAffine(p: Point): { x: bigint; y: bigint } {
  const zi = invert(p.Z);
  return { x: mod(p.X * zi), y: mod(p.Y * zi) };
}

// RFC 8032 §5.1.4 addition for a = -1; complete, so it is also correct for doubling.
export function pointAdd(p: Point, q: Point): Point {
  const a = mod((p.Y - p.X) * (q.Y - q.X));
  const b = mod((p.Y + p.X) * (q.Y + q.X));
  const c = mod(2n * D * p.T * q.T);
  const d = mod(2n * p.Z * q.Z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { X: mod(e * f), Y: mod(g * h), Z: mod(f * g), T: mod(e * h) };
}

// RFC 8032 §5.1.4 doubling.
export function pointDouble(p: Point): Point {
  const a = mod(p.X * p.X);
  const b = mod(p.Y * p.Y);
  const c = mod(2n * p.Z * p.Z);
  const h = a + b;
  const s = p.X + p.Y;
  const e = h - mod(s * s);
  const g = a - b;
  const f = c + g;
  return { X: mod(e * f), Y: mod(g * h), Z: mod(f * g), T: mod(e * h) };
}

export function pointNegate(p: Point): Point {
  return { X: mod(-p.X), Y: p.Y, Z: p.Z, T: mod(-p.T) };
}

/** [n]P by double-and-add, n >= 0 (public scalars only). */
export function scalarMult(p: Point, n: bigint): Point {
  if (n < 0n) throw new RangeError('scalarMult: negative scalar');
  let result = IDENTITY;
  let addend = p;
  let k = n;
  while (k > 0n) {
    if (k & 1n) result = pointAdd(result, addend);
    addend = pointDouble(addend);
    k >>= 1n;
  }
  return result;
}

export function pointEquals(p: Point, q: Point): boolean {
  // Cross-multiply instead of normalising: X1/Z1 == X2/Z2 and Y1/Z1 == Y2/Z2.
  return mod(p.X * q.Z) === mod(q.X * p.Z) && mod(p.Y * q.Z) === mod(q.Y * p.Z);
}

export function isIdentity(p: Point): boolean {
  return mod(p.X) === 0n && mod(p.Y) === mod(p.Z);
}

/** The base point B (y = 4/5, x even). */
export const BASE: Point = /* @__PURE__ */ (() => {
  const y = mod(4n * invert(5n));
  const x = recoverX(y, 0);
  if (x === null) throw new Error('edwards: base point does not decode');
  return fromAffine(x, y);
})();

export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

export function numberToBytesLE(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let k = n;
  for (let i = 0; i < length; i++) {
    out[i] = Number(k & 255n);
    k >>= 8n;
  }
  if (k !== 0n) throw new RangeError('numberToBytesLE: number does not fit');
  return out;
}

/**
 * x from y and the sign bit (RFC 8032 §5.1.3 steps 2-4), or null when there is no such point:
 * x^2 = (y^2 - 1) / (d y^2 + 1) has no root, or x = 0 while the sign bit asks for an odd x.
 * The second case is the "x would be 0 but the sign bit is set" non-canonical encoding; the
 * caller tells the two apart with `recoverXSquare`.
 */
function recoverX(y: bigint, sign: number): bigint | null {
  const x = recoverXSquare(y);
  if (x === null) return null;
  if (x === 0n && sign === 1) return null;
  return Number(x & 1n) === sign ? x : P - x;
}

/** A square root x of (y^2 - 1) / (d y^2 + 1), or null if none exists. */
function recoverXSquare(y: bigint): bigint | null {
  const yy = mod(y * y);
  const u = mod(yy - 1n);
  const v = mod(D * yy + 1n);
  const v3 = mod(v * v * v);
  const v7 = mod(v3 * v3 * v);
  let x = mod(u * v3 * pow(mod(u * v7), (P - 5n) / 8n));
  const vxx = mod(v * x * x);
  if (vxx === u) return x;
  if (vxx === mod(-u)) {
    x = mod(x * SQRT_M1);
    return x;
  }
  return null;
}

export type DecodeResult =
  | { readonly ok: true; readonly point: Point }
  | { readonly ok: false; readonly reason: 'non-canonical' | 'not-on-curve' };

/** RFC 8032 §5.1.3 decoding, strict: y must be < p and x = 0 must carry sign bit 0. */
export function decodePoint(bytes: Uint8Array): DecodeResult {
  if (bytes.length !== 32) return { ok: false, reason: 'not-on-curve' };
  const sign = bytes[31]! >>> 7;
  const copy = bytes.slice();
  copy[31] = copy[31]! & 0x7f;
  const y = bytesToNumberLE(copy);
  if (y >= P) return { ok: false, reason: 'non-canonical' };
  const x = recoverXSquare(y);
  if (x === null) return { ok: false, reason: 'not-on-curve' };
  if (x === 0n && sign === 1) return { ok: false, reason: 'non-canonical' };
  const xs = Number(x & 1n) === sign ? x : P - x;
  return { ok: true, point: fromAffine(xs, y) };
}

/** Canonical 32-byte encoding: y little-endian, top bit = x mod 2. */
export function encodePoint(p: Point): Uint8Array {
  const { x, y } = toAffine(p);
  const out = numberToBytesLE(y, 32);
  out[31] = out[31]! | (Number(x & 1n) << 7);
  return out;
}
