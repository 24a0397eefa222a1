// Small byte helpers shared across the project. Web-standard only (no Buffer), so the same
// code runs in Node, Deno and browsers.

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// 255 marks "not a base64url character".
const B64URL_DECODE = /* @__PURE__ */ (() => {
  const table = new Uint8Array(128).fill(255);
  for (let i = 0; i < B64URL_ALPHABET.length; i++) table[B64URL_ALPHABET.charCodeAt(i)] = i;
  return table;
})();

const HEX = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * True for a Uint8Array from this realm or another (iframe, worker, vm context): `instanceof`
 * alone misses the latter, and input crosses realms in browsers.
 */
export function isBytes(value: unknown): value is Uint8Array {
  return (
    value instanceof Uint8Array ||
    (ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]')
  );
}

/** base64url (RFC 4648 §5) without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      B64URL_ALPHABET[v >>> 18]! +
      B64URL_ALPHABET[(v >>> 12) & 63]! +
      B64URL_ALPHABET[(v >>> 6) & 63]! +
      B64URL_ALPHABET[v & 63]!;
  }
  const rest = n - i;
  if (rest === 1) {
    const v = bytes[i]!;
    out += B64URL_ALPHABET[v >>> 2]! + B64URL_ALPHABET[(v & 3) << 4]!;
  } else if (rest === 2) {
    const v = (bytes[i]! << 8) | bytes[i + 1]!;
    out += B64URL_ALPHABET[v >>> 10]! + B64URL_ALPHABET[(v >>> 4) & 63]! + B64URL_ALPHABET[(v & 15) << 2]!;
  }
  return out;
}

/**
 * Strict base64url decoding: unpadded, alphabet `A-Z a-z 0-9 - _` only, and the unused low
 * bits of the last character must be zero. Strictness makes the encoding one-to-one, so two
 * different strings never decode to the same bytes (ids can be compared as strings).
 */
export function fromBase64Url(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('fromBase64Url: expected a string');
  const n = text.length;
  if (n % 4 === 1) throw new Error(`fromBase64Url: invalid length ${n}`);
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  let o = 0;
  let i = 0;
  const at = (k: number): number => {
    const c = text.charCodeAt(k);
    const v = c < 128 ? B64URL_DECODE[c]! : 255;
    if (v === 255) throw new Error(`fromBase64Url: invalid character at position ${k}`);
    return v;
  };
  for (; i + 3 < n; i += 4) {
    const v = (at(i) << 18) | (at(i + 1) << 12) | (at(i + 2) << 6) | at(i + 3);
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  const rest = n - i;
  if (rest === 2) {
    const a = at(i);
    const b = at(i + 1);
    if (b & 15) throw new Error('fromBase64Url: non-canonical trailing bits');
    out[o++] = (a << 2) | (b >>> 4);
  } else if (rest === 3) {
    const a = at(i);
    const b = at(i + 1);
    const c = at(i + 2);
    if (c & 3) throw new Error('fromBase64Url: non-canonical trailing bits');
    out[o++] = (a << 2) | (b >>> 4);
    out[o++] = ((b & 15) << 4) | (c >>> 2);
  }
  return out;
}

/** Lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]!;
  return out;
}

/** Lower- or upper-case hex to bytes; throws on odd length or a non-hex character. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error('fromHex: expected an even-length hex string');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Byte equality. Runs over the whole length without an early exit, so it is also usable
 * where timing could matter (it is not a guarantee against a JIT, but costs nothing).
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Concatenate byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The bytes as a "binary string" (one char per byte). Internal cache key: cheaper to build
 * than hex or base64 and still a valid Map key.
 */
export function bytesKey(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** A replica's id: the Ed25519 public key as unpadded base64url (43 characters). */
export function publicKeyToId(publicKey: Uint8Array): string {
  if (!isBytes(publicKey) || publicKey.length !== 32) {
    throw new Error('publicKeyToId: expected a 32-byte Uint8Array public key');
  }
  return toBase64Url(publicKey);
}

/** Inverse of publicKeyToId; throws for anything that is not 32 bytes of base64url. */
export function idToPublicKey(id: string): Uint8Array {
  if (typeof id !== 'string') throw new Error('idToPublicKey: id must be a string');
  if (id.length !== 43) {
    throw new Error(`idToPublicKey: id must be 43 base64url characters (32 bytes), got ${id.length}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(id);
  } catch (err) {
    throw new Error(`idToPublicKey: not a base64url id (${(err as Error).message})`);
  }
  // 43 chars always decode to 32 bytes; kept as a guard against future edits.
  if (bytes.length !== 32) throw new Error('idToPublicKey: id does not encode 32 bytes');
  return bytes;
}
