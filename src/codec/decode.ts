/**
 * Decoding of untrusted bytes (format: see encode.ts). Accepts exactly the canonical
 * encodings, so `encode(decode(b).value)` is `b` whenever decode succeeds; never throws.
 */
import { ByteReader } from './bytes.ts';
import { CodecError, formatPath, quote, resolveLimits, type CodecLimits } from './errors.ts';
import {
  TAG_ARRAY,
  TAG_BIGNINT,
  TAG_BIGUINT,
  TAG_BYTES,
  TAG_FALSE,
  TAG_FLOAT64,
  TAG_NINT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_STRING,
  TAG_TRUE,
  TAG_UINT,
  type Plain,
} from './format.ts';

export type DecodeResult<T = Plain> = { ok: true; value: T } | { ok: false; error: CodecError };

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const isSafeInteger = Number.isSafeInteger;
const defineProperty = Object.defineProperty;
const getPrototypeOf = Object.getPrototypeOf;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

class Decoder extends ByteReader {
  depth = 0;
  maxDepth = 0;
  rootName = '';
  /** Key or index of the item being decoded at each level: the error path. */
  readonly path: Array<string | number> = [];

  start(buf: Uint8Array, maxDepth: number, rootName: string): void {
    this.reset(buf);
    this.depth = 0;
    this.maxDepth = maxDepth;
    this.rootName = rootName;
  }

  currentPath(): string {
    return formatPath(this.rootName, this.path, this.depth);
  }

  value(): Plain {
    const at = this.pos;
    if (at >= this.end) this.fail('truncated', 'unexpected end of input');
    const tag = this.buf[at]!;
    this.pos = at + 1;
    switch (tag) {
      case TAG_NULL:
        return null;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_UINT:
        return this.varint();
      case TAG_NINT: {
        const m = this.varint();
        if (m === MAX_SAFE) this.fail('non-canonical', 'integer below -(2^53 - 1) encoded as an integer', at);
        return -1 - m;
      }
      case TAG_FLOAT64:
        return this.canonicalFloat(at);
      case TAG_BIGUINT:
        return this.bigint(false);
      case TAG_BIGNINT:
        return this.bigint(true);
      case TAG_STRING:
        return this.string();
      case TAG_BYTES:
        return this.bytes();
      case TAG_ARRAY:
        return this.array(at);
      case TAG_OBJECT:
        return this.object(at);
      default:
        return this.fail('bad-tag', `unknown tag 0x${HEX[tag]}`, at);
    }
  }

  canonicalFloat(at: number): number {
    const p = this.pos;
    const x = this.float64();
    if (x !== x) {
      const b = this.buf;
      if (b[p] !== 0x7f || b[p + 1] !== 0xf8 || b[p + 2] !== 0 || b[p + 3] !== 0 || b[p + 4] !== 0 || b[p + 5] !== 0 || b[p + 6] !== 0 || b[p + 7] !== 0) {
        this.fail('non-canonical', 'NaN other than 7ff8000000000000', at);
      }
    } else if (isSafeInteger(x)) {
      // includes -0, which encodes as the integer 0
      this.fail('non-canonical', 'float64 holding a safe integer', at);
    }
    return x;
  }

  bigint(negative: boolean): bigint {
    const len = this.length();
    const buf = this.buf;
    const p = this.pos;
    if (len > 0 && buf[p] === 0) this.fail('non-canonical', 'bigint with a leading zero byte', p);
    let m: bigint;
    if (len <= 6) {
      let n = 0;
      for (let i = 0; i < len; i++) n = n * 256 + buf[p + i]!;
      m = BigInt(n);
    } else {
      let hex = '0x';
      for (let i = 0; i < len; i++) hex += HEX[buf[p + i]!];
      m = BigInt(hex);
    }
    this.pos = p + len;
    return negative ? -1n - m : m;
  }

  array(at: number): Plain[] {
    const n = this.varint();
    // every item takes at least one byte: refuse a huge count before looping or allocating
    if (n > this.end - this.pos) this.fail('truncated', `array of ${n} items runs past the end`, at);
    const d = this.depth;
    if (d >= this.maxDepth) this.fail('too-deep', `nesting deeper than maxDepth (${this.maxDepth})`, at);
    this.depth = d + 1;
    const path = this.path;
    const out: Plain[] = [];
    for (let i = 0; i < n; i++) {
      path[d] = i;
      out.push(this.value());
    }
    this.depth = d;
    return out;
  }

  object(at: number): Record<string, Plain> {
    const n = this.varint();
    // every entry takes at least two bytes (key length, value tag)
    if (n * 2 > this.end - this.pos) this.fail('truncated', `object of ${n} entries runs past the end`, at);
    const d = this.depth;
    if (d >= this.maxDepth) this.fail('too-deep', `nesting deeper than maxDepth (${this.maxDepth})`, at);
    const path = this.path;
    const out: Record<string, Plain> = {};
    let prev = '';
    for (let i = 0; i < n; i++) {
      const keyAt = this.pos;
      this.depth = d; // a bad key is reported at the object's path
      const key = this.key();
      if (i > 0 && !(prev < key)) {
        this.fail('non-canonical', prev === key ? `duplicate key ${quote(key)}` : `key ${quote(key)} out of order`, keyAt);
      }
      this.depth = d + 1;
      path[d] = key;
      const v = this.value();
      // a plain assignment of '__proto__' would set the prototype instead of a property
      if (key === '__proto__') defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
      else out[key] = v;
      prev = key;
    }
    this.depth = d;
    return out;
  }
}

const EMPTY = new Uint8Array(0);
const decoder = new Decoder(EMPTY);

function isUint8Array(x: unknown): x is Uint8Array {
  // the second test admits a Uint8Array from another realm (iframe, vm context)
  return x instanceof Uint8Array || (ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]');
}

function failure(code: CodecError['code'], path: string, detail: string): DecodeResult {
  return { ok: false, error: new CodecError(code, path, detail) };
}

/**
 * Decodes one canonical value filling all of `bytes`. Never throws on any input: errors
 * come back as `{ ok: false, error }`. (Invalid `limits` are a caller bug: RangeError.)
 */
export function decode(bytes: Uint8Array, limits?: CodecLimits): DecodeResult {
  const { maxSize, maxDepth, rootName } = resolveLimits(limits);
  let d: Decoder | undefined;
  try {
    if (!isUint8Array(bytes)) {
      const kind = bytes === null ? 'null' : typeof bytes === 'object' ? Object.prototype.toString.call(bytes).slice(8, -1) : typeof bytes;
      return failure('not-plain', rootName, `decode expects a Uint8Array, got ${kind}`);
    }
    // before looking at a single byte
    if (bytes.length > maxSize) return failure('too-large', rootName, `${bytes.length} bytes exceed maxSize (${maxSize} bytes)`);
    // A subclass (Node's Buffer) would make slice() return views of it, not Uint8Array
    // copies; a fresh view also leaves any overridden accessors of the input behind.
    const buf = getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // From here on no outside code runs, so this one decoder is never in use twice at once.
    d = decoder;
    d.start(buf, maxDepth, rootName);
    const value = d.value();
    d.expectEnd();
    return { ok: true, value };
  } catch (e) {
    if (e instanceof CodecError) {
      return { ok: false, error: e.path === '' ? new CodecError(e.code, d ? d.currentPath() : rootName, e.message) : e };
    }
    // Not expected (maxDepth keeps recursion shallow), but hostile input must never escape as an exception.
    const path = d ? d.currentPath() : rootName;
    if (e instanceof RangeError) return failure('too-deep', path, 'input exhausted a runtime limit');
    return failure('bad-tag', path, 'undecodable input');
  } finally {
    if (d) d.start(EMPTY, 0, ''); // do not keep the caller's buffer alive
  }
}
