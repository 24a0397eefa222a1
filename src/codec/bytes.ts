/**
 * ByteWriter / ByteReader: the primitives of the codec (varints, float64, length-prefixed
 * bytes and UTF-8), exported so protocol code can hand-encode hot messages in the same
 * canonical style. Both throw CodecError with an empty path; `encode`/`decode` add the path.
 */
import { CodecError, type CodecErrorCode } from './errors.ts';
import { utf8Read, utf8Write, utf8WriteLong } from './utf8.ts';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Bytes an unsigned LEB128 varint of `n` takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A growable output buffer. Reuse one with `reset()` to avoid reallocating. */
export class ByteWriter {
  buf: Uint8Array<ArrayBuffer>;
  view: DataView;
  pos = 0;
  /** Output larger than this is refused with 'too-large' (checked when growing and by `finish`). */
  limit: number;

  constructor(initialCapacity = 256, limit = Infinity) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
    this.limit = limit;
  }

  reset(limit = this.limit): void {
    this.pos = 0;
    this.limit = limit;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    // Checking what was actually written (not the reservation) keeps the limit exact while
    // bounding memory to about twice the limit before the refusal.
    if (this.pos > this.limit) throw this.tooLarge();
    const cap = Math.max(this.buf.length * 2, this.pos + n);
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  tooLarge(): CodecError {
    return new CodecError('too-large', '', `encoding exceeds maxSize (${this.limit} bytes)`);
  }

  u8(b: number): void {
    if (this.pos >= this.buf.length) this.grow(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned LEB128 of a safe integer >= 0, minimal length (at most 8 bytes). */
  varint(n: number): void {
    if (!(n >= 0 && n <= MAX_SAFE && Math.floor(n) === n)) throw new RangeError(`varint: not a safe unsigned integer: ${n}`);
    this.ensure(8);
    this.pos = writeVarint(this.buf, this.pos, n);
  }

  /** One tag byte followed by a varint: the head of most encoded items. */
  head(tag: number, n: number): void {
    if (!(n >= 0 && n <= MAX_SAFE && Math.floor(n) === n)) throw new RangeError(`varint: not a safe unsigned integer: ${n}`);
    this.ensure(9);
    const buf = this.buf;
    buf[this.pos] = tag;
    this.pos = writeVarint(buf, this.pos + 1, n);
  }

  /** IEEE 754 binary64, big-endian; every NaN as 7ff8000000000000 and -0 as +0. */
  float64(x: number): void {
    this.ensure(8);
    if (x !== x) {
      const buf = this.buf;
      const p = this.pos;
      buf[p] = 0x7f;
      buf[p + 1] = 0xf8;
      buf.fill(0, p + 2, p + 8);
    } else {
      this.view.setFloat64(this.pos, x === 0 ? 0 : x);
    }
    this.pos += 8;
  }

  /** Bytes as they are, without a length. */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Varint length, then the bytes. */
  bytes(b: Uint8Array): void {
    if (b.length > this.limit) throw this.tooLarge();
    this.varint(b.length);
    this.raw(b);
  }

  /** Varint UTF-8 byte length, then UTF-8. Throws CodecError('not-plain') on a lone surrogate. */
  string(s: string): void {
    const n = s.length;
    if (n < 43) {
      // at most 3 bytes per UTF-16 unit, so the length is below 128: one varint byte;
      // and at these lengths encoding by hand beats TextEncoder's per-call overhead
      this.ensure(1 + 3 * n);
      const start = this.pos + 1;
      const end = utf8Write(s, this.buf, start);
      if (end < 0) throw loneSurrogate();
      this.buf[this.pos] = end - start;
      this.pos = end;
      return;
    }
    // UTF-8 is never shorter than the UTF-16 length: refuse before reserving 3n bytes
    if (n > this.limit) throw this.tooLarge();
    const max = 3 * n;
    const reserved = varintSize(max);
    this.ensure(reserved + max);
    const start = this.pos + reserved;
    const end = utf8WriteLong(s, this.buf, start);
    if (end < 0) throw loneSurrogate();
    const len = end - start;
    const size = varintSize(len);
    // the length prefix must be minimal, so move the text back if we reserved too much
    if (size < reserved) this.buf.copyWithin(this.pos + size, start, end);
    writeVarint(this.buf, this.pos, len);
    this.pos += size + len;
  }

  /**
   * Rewrites the varint at `at` (currently `oldN`) as `newN`, moving everything written
   * after it: for counts only known once the items are written.
   */
  replaceVarint(at: number, oldN: number, newN: number): void {
    const oldSize = varintSize(oldN);
    const newSize = varintSize(newN);
    if (newSize !== oldSize) {
      this.ensure(newSize - oldSize);
      this.buf.copyWithin(at + newSize, at + oldSize, this.pos);
      this.pos += newSize - oldSize;
    }
    writeVarint(this.buf, at, newN);
  }

  /** A copy of what was written (backed by a plain ArrayBuffer: fine for crypto.subtle). */
  finish(): Uint8Array<ArrayBuffer> {
    if (this.pos > this.limit) throw this.tooLarge();
    return this.buf.slice(0, this.pos);
  }

  /** A view of what was written, valid until the next write or reset. */
  written(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.pos);
  }
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80; // `&` sees n mod 2^32, whose low 7 bits are n's
    n = n < 0x100000000 ? n >>> 7 : Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

// Floats are read through a scratch array rather than a DataView over the input: creating
// a DataView per message costs more than decoding a small message.
const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readFloat64(buf: Uint8Array, p: number): number {
  const s = scratchBytes;
  if (littleEndian) {
    s[0] = buf[p + 7]!;
    s[1] = buf[p + 6]!;
    s[2] = buf[p + 5]!;
    s[3] = buf[p + 4]!;
    s[4] = buf[p + 3]!;
    s[5] = buf[p + 2]!;
    s[6] = buf[p + 1]!;
    s[7] = buf[p]!;
  } else {
    for (let i = 0; i < 8; i++) s[i] = buf[p + i]!;
  }
  return scratch[0]!;
}

const KEY_CACHE_MAX_LENGTH = 24;
const KEY_CACHE_SLOTS = 2048; // a power of two
const cachedBytes: Array<Uint8Array | undefined> = new Array(KEY_CACHE_SLOTS).fill(undefined);
const cachedStrings: string[] = new Array(KEY_CACHE_SLOTS).fill('');

function cachedUtf8(buf: Uint8Array, start: number, len: number): string | null {
  // A cheap hash of a few bytes; a collision only costs a decode (hostile input can make
  // the cache useless, not wrong: every hit is checked byte by byte).
  const mix = len ^ (buf[start]! << 8) ^ (buf[start + len - 1]! << 16) ^ (buf[start + (len >> 1)]! << 24);
  const h = Math.imul(mix, 0x9e3779b1) >>> 21; // top 11 bits: KEY_CACHE_SLOTS = 2^11
  const known = cachedBytes[h];
  if (known !== undefined && known.length === len) {
    let i = 0;
    while (i < len && known[i] === buf[start + i]) i++;
    if (i === len) return cachedStrings[h]!;
  }
  const s = utf8Read(buf, start, start + len);
  if (s === null) return null;
  cachedBytes[h] = buf.slice(start, start + len);
  cachedStrings[h] = s;
  return s;
}

function loneSurrogate(): CodecError {
  return new CodecError('not-plain', '', 'string contains a lone surrogate (not representable in UTF-8)');
}

/**
 * Reads what ByteWriter writes, accepting only canonical forms: minimal varints, strict
 * UTF-8, lengths within the buffer (checked before allocating anything).
 */
export class ByteReader {
  buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = Math.min(end, buf.length);
  }

  /** Points the reader at new input, so one reader can serve many messages. */
  reset(buf: Uint8Array, start = 0, end = buf.length): void {
    this.buf = buf;
    this.pos = start;
    this.end = Math.min(end, buf.length);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(code: CodecErrorCode, what: string, at = this.pos): never {
    throw new CodecError(code, '', `${what} at byte ${at}`);
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('truncated', 'unexpected end of input');
    return this.buf[this.pos++]!;
  }

  /** Unsigned LEB128, minimal, at most 2^53 - 1. */
  varint(): number {
    const buf = this.buf;
    const start = this.pos;
    const end = this.end;
    if (start >= end) this.fail('truncated', 'unexpected end of input');
    let b = buf[start]!;
    if (b < 0x80) {
      this.pos = start + 1;
      return b;
    }
    let n = b & 0x7f;
    let scale = 128;
    let pos = start + 1;
    for (;;) {
      if (pos >= end) this.fail('truncated', 'varint runs past the end', start);
      b = buf[pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 49) this.fail('non-canonical', 'varint longer than 8 bytes', start);
    }
    if (b === 0) this.fail('non-canonical', 'varint not minimal', start);
    if (n > MAX_SAFE) this.fail('non-canonical', 'varint above 2^53 - 1', start);
    this.pos = pos;
    return n;
  }

  /** A varint that counts bytes still to come: checked against the input's end. */
  length(): number {
    const at = this.pos;
    const n = this.varint();
    if (n > this.end - this.pos) this.fail('truncated', `length ${n} runs past the end`, at);
    return n;
  }

  /** Big-endian binary64, as stored (no canonical check: see `decode` for that). */
  float64(): number {
    if (this.end - this.pos < 8) this.fail('truncated', 'float64 runs past the end');
    const x = readFloat64(this.buf, this.pos);
    this.pos += 8;
    return x;
  }

  /** `n` bytes, copied (the input buffer may be reused by its owner). */
  raw(n: number): Uint8Array<ArrayBuffer> {
    if (n > this.end - this.pos) this.fail('truncated', `${n} bytes run past the end`);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Varint length, then the bytes. */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.raw(this.length());
  }

  /** Varint length, then strict UTF-8. */
  string(): string {
    const len = this.length();
    const start = this.pos;
    const s = utf8Read(this.buf, start, start + len);
    if (s === null) this.fail('bad-utf8', 'malformed UTF-8', start);
    this.pos = start + len;
    return s;
  }

  /**
   * As `string`, through a cache of recently seen short strings: object keys repeat from
   * message to message, and a cached string (already used as a property key, so already
   * internalized by the engine) makes both the decoding and the property store cheaper.
   */
  key(): string {
    const len = this.length();
    const start = this.pos;
    const s = len <= KEY_CACHE_MAX_LENGTH && len > 0 ? cachedUtf8(this.buf, start, len) : utf8Read(this.buf, start, start + len);
    if (s === null) this.fail('bad-utf8', 'malformed UTF-8', start);
    this.pos = start + len;
    return s;
  }

  /** Refuses anything after the last item. */
  expectEnd(): void {
    if (this.pos !== this.end) this.fail('trailing-bytes', `${this.end - this.pos} bytes after the value`);
  }
}
