// SHA-256 twice: the WebCrypto digest (async, native) and a pure-JS one (sync), because pure
// protocol statecharts cannot await and still need digests of batches and requests.

const K = /* @__PURE__ */ new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const IV = /* @__PURE__ */ new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// Scratch space reused by every call: JS is single-threaded and sha256Sync never yields, so
// sharing is safe, and it keeps the hot loop free of allocation. Int32Array rather than
// Uint32Array: V8 keeps int32 values as small integers, while uint32 values >= 2^31 become
// heap numbers (measured ~25% slower).
const W = new Int32Array(64);
const H = new Int32Array(8);
const TAIL = new Uint8Array(128);

/** Compress the 64-byte blocks of bytes[offset, end) into H; state stays in locals meanwhile. */
function compressBlocks(bytes: Uint8Array, offset: number, end: number): void {
  let h0 = H[0]!, h1 = H[1]!, h2 = H[2]!, h3 = H[3]!, h4 = H[4]!, h5 = H[5]!, h6 = H[6]!, h7 = H[7]!;
  for (let off = offset; off < end; off += 64) {
    for (let t = 0; t < 16; t++) {
      const j = off + 4 * t;
      W[t] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const w15 = W[t - 15]!;
      const w2 = W[t - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t]! + W[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + S0 + maj) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  H[0] = h0; H[1] = h1; H[2] = h2; H[3] = h3; H[4] = h4; H[5] = h5; H[6] = h6; H[7] = h7;
}

/** SHA-256 in pure JS, synchronous. Use `sha256` when you can await: it is native. */
export function sha256Sync(data: Uint8Array): Uint8Array {
  // Node and Deno expose a native hash without a static `node:` import; it wins on larger inputs
  // (state digests), while the pure-JS path is faster for small ones and is what browsers use.
  if (nativeHash !== undefined && data.length >= NATIVE_MIN_BYTES) {
    return new Uint8Array(nativeHash('sha256').update(data).digest());
  }
  return sha256SyncPure(data);
}

const NATIVE_MIN_BYTES = 512;

type NativeHash = (algorithm: string) => { update(d: Uint8Array): { digest(): Uint8Array } };

const nativeHash: NativeHash | undefined = (() => {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.('node:crypto') as { createHash?: NativeHash } | undefined;
    return typeof mod?.createHash === 'function' ? mod.createHash : undefined;
  } catch {
    return undefined;
  }
})();

/** The pure-JS SHA-256 (exported for tests that compare it with the native path). */
export function sha256SyncPure(data: Uint8Array): Uint8Array {
  H.set(IV);
  const n = data.length;
  const full = n - (n % 64);
  compressBlocks(data, 0, full);

  // Padding: 0x80, zeros, then the bit length as a 64-bit big-endian integer; one or two blocks.
  const rest = n - full;
  TAIL.fill(0);
  for (let i = 0; i < rest; i++) TAIL[i] = data[full + i]!;
  TAIL[rest] = 0x80;
  const tailLen = rest < 56 ? 64 : 128;
  // n * 8 can exceed 2^32; split it without losing bits (exact for n < 2^53 / 8).
  const hi = Math.floor(n / 0x20000000);
  const lo = (n << 3) >>> 0;
  TAIL[tailLen - 8] = hi >>> 24;
  TAIL[tailLen - 7] = hi >>> 16;
  TAIL[tailLen - 6] = hi >>> 8;
  TAIL[tailLen - 5] = hi;
  TAIL[tailLen - 4] = lo >>> 24;
  TAIL[tailLen - 3] = lo >>> 16;
  TAIL[tailLen - 2] = lo >>> 8;
  TAIL[tailLen - 1] = lo;
  compressBlocks(TAIL, 0, tailLen);

  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = H[i]!;
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = v >>> 16;
    out[4 * i + 2] = v >>> 8;
    out[4 * i + 3] = v;
  }
  return out;
}

/**
 * SHA-256 through crypto.subtle.digest (native). Falls back to sha256Sync where there is no
 * crypto.subtle (browser pages served over plain http are not a secure context).
 */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  if (globalThis.crypto?.subtle === undefined) return sha256Sync(data);
  const digest = await globalThis.crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return new Uint8Array(digest);
}
