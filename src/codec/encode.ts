/**
 * Canonical encoding of plain data. Signatures cover these bytes and state digests hash
 * them, so equal values must give equal bytes on every runtime, and decode accepts exactly
 * the bytes that encode produces (deterministic CBOR, RFC 8949 §4.2, in spirit; simpler).
 *
 * FORMAT (v1). A value is one tag byte followed by its payload:
 *
 *   tag   value            payload
 *   0x00  null             -
 *   0x01  false            -
 *   0x02  true             -
 *   0x03  integer n >= 0   varint(n)                  n <= 2^53 - 1
 *   0x04  integer n < 0    varint(-1 - n)             n >= -(2^53 - 1)
 *   0x05  other number     8 bytes, IEEE 754 binary64, big-endian
 *   0x06  bigint n >= 0    varint(L), L bytes: n big-endian, no leading 0x00 (0n: L = 0)
 *   0x07  bigint n < 0     as 0x06, of -1 - n
 *   0x08  string           varint(L), L bytes of UTF-8
 *   0x09  bytes            varint(L), L bytes
 *   0x0a  array            varint(count), count values
 *   0x0b  object           varint(count), count × (varint(L), L bytes of UTF-8 key, value)
 *   0x0c–0xff reserved: rejected.
 *
 * varint: unsigned LEB128 (7 bits per byte, least significant group first, high bit set on
 * all but the last byte), at most 8 bytes and at most 2^53 - 1.
 *
 * Canonical form — encode produces it, decode rejects anything else ('non-canonical'):
 * - varints are minimal: the last byte of a multi-byte varint is not 0x00;
 * - a number that is a safe integer (|n| <= 2^53 - 1) uses 0x03/0x04, never 0x05; -0
 *   encodes as the integer 0; every NaN is 7ff8000000000000. Other numbers (fractions,
 *   larger magnitudes, ±Infinity) use 0x05 and decode to exactly the same number;
 * - bigints are a type of their own (1n and 1 differ); magnitudes have no leading zero byte;
 * - strings and keys are well-formed UTF-8 (no overlong forms, surrogates or code points
 *   above U+10FFFF: 'bad-utf8'); a JS string with a lone surrogate is refused on encode;
 * - object keys are strictly ascending in UTF-16 code unit order, i.e. the order of JS `<`
 *   on strings and of the default Array.prototype.sort, identical on every engine
 *   (it differs from UTF-8 byte order only between U+E000–U+FFFF and astral characters);
 *   so duplicate keys are rejected too;
 * - properties whose value is undefined are omitted (as JSON.stringify does); undefined
 *   anywhere else is refused;
 * - one value fills the input: 'trailing-bytes' otherwise.
 *
 * Plain data is null, booleans, numbers, bigints, strings, Uint8Array (any instance,
 * Node's Buffer included; decoded as a Uint8Array), arrays and objects whose prototype is
 * Object.prototype or null (own enumerable string-keyed properties; symbol-keyed ones are
 * skipped by encode, as JSON.stringify does, and refused by checkPlain).
 * Everything else (functions, symbols, Date, Map, Set, class instances, other typed
 * arrays, ArrayBuffer, cycles, nesting deeper than maxDepth, output larger than maxSize)
 * is refused with a CodecError naming the path.
 */
import { ByteWriter } from './bytes.ts';
import { CodecError, formatPath, resolveLimits, type CodecLimits, type ResolvedLimits } from './errors.ts';
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
  TAG_REF,
  TAG_STRING,
  TAG_TRUE,
  TAG_UINT,
} from './format.ts';

const objectPrototype = Object.prototype;
const objectToString = Object.prototype.toString;
const getPrototypeOf = Object.getPrototypeOf;
const keysOf = Object.keys;
const symbolsOf = Object.getOwnPropertySymbols;
const isArray = Array.isArray;
const isSafeInteger = Number.isSafeInteger;

/** Keeps the reused buffer of the shared encoder from pinning a huge encoding in memory. */
const KEEP_CAPACITY = 256 * 1024;

class Encoder {
  w = new ByteWriter(4096);
  maxDepth = 0;
  rootName = '';
  root: unknown = undefined;
  depth = 0;
  /** checkPlain's mode: also refuse symbol-keyed properties. */
  strict = false;
  /** Key or index of the child being encoded at each level: the error path. */
  readonly path: Array<string | number> = [];
  /** Node mode (encodeNode): writes a child container as TAG_REF and the 32 bytes this returns. */
  ref: ((child: object, key: string | number) => Uint8Array) | undefined = undefined;
  /** Node mode: set when a Uint8Array was written (its bytes can change in place). */
  sawBytes = false;

  run(value: unknown, limits: ResolvedLimits, strict: boolean): void {
    if (this.w.buf.length > KEEP_CAPACITY) this.w = new ByteWriter(4096);
    this.strict = strict;
    this.w.reset(limits.maxSize);
    this.maxDepth = limits.maxDepth;
    this.rootName = limits.rootName;
    this.root = value;
    this.depth = 0;
    try {
      this.value(value);
      if (this.w.pos > limits.maxSize) throw this.w.tooLarge();
    } catch (e) {
      // primitives (ByteWriter) throw without a path: add where we are
      if (e instanceof CodecError && e.path === '') throw new CodecError(e.code, this.currentPath(), e.message);
      throw e;
    } finally {
      this.root = undefined;
    }
  }

  currentPath(): string {
    return formatPath(this.rootName, this.path, this.depth);
  }

  value(v: unknown): void {
    const w = this.w;
    switch (typeof v) {
      case 'string':
        w.u8(TAG_STRING);
        w.string(v);
        return;
      case 'number':
        if (isSafeInteger(v)) {
          if (v >= 0) w.head(TAG_UINT, v); // -0 lands here and writes 0
          else w.head(TAG_NINT, -1 - v);
        } else {
          w.u8(TAG_FLOAT64);
          w.float64(v);
        }
        return;
      case 'boolean':
        w.u8(v ? TAG_TRUE : TAG_FALSE);
        return;
      case 'object':
        if (v === null) w.u8(TAG_NULL);
        else if (this.ref !== undefined && this.depth > 0 && !ArrayBuffer.isView(v)) this.child(v);
        else if (isArray(v)) this.array(v);
        else if (v instanceof Uint8Array) this.bytes(v);
        else this.object(v);
        return;
      case 'bigint':
        this.bigint(v);
        return;
      default:
        throw this.notPlain(v);
    }
  }

  child(v: object): void {
    const hash = this.ref!(v, this.path[this.depth - 1]!);
    this.w.u8(TAG_REF);
    this.w.raw(hash);
  }

  bytes(b: Uint8Array): void {
    this.sawBytes = true;
    this.w.u8(TAG_BYTES);
    this.w.bytes(b);
  }

  array(a: unknown[]): void {
    this.enter(a);
    const n = a.length;
    this.w.head(TAG_ARRAY, n);
    const d = this.depth - 1;
    const path = this.path;
    for (let i = 0; i < n; i++) {
      path[d] = i;
      this.value(a[i]); // a hole reads as undefined and is refused there
    }
    this.depth--;
  }

  object(o: object): void {
    const proto: unknown = getPrototypeOf(o);
    if (proto !== objectPrototype && proto !== null && !isForeignObjectPrototype(o, proto)) {
      // a Uint8Array from another realm (iframe, vm context) fails instanceof
      if (ArrayBuffer.isView(o) && objectToString.call(o) === '[object Uint8Array]') {
        this.bytes(new Uint8Array(o.buffer, o.byteOffset, o.byteLength));
        return;
      }
      throw this.notPlain(o);
    }
    // encode skips symbol keys as JSON.stringify does (looking for them costs more than
    // encoding a small object); checkPlain, off the hot path, refuses them
    if (this.strict && symbolsOf(o).length !== 0) throw this.fail('not-plain', 'object has symbol-keyed properties, which are not plain data');
    this.enter(o);
    const keys = keysOf(o);
    const n = keys.length;
    if (n <= 16) insertionSort(keys);
    else keys.sort(); // default order: UTF-16 code units, as `<`
    const w = this.w;
    const at = w.pos + 1;
    w.head(TAG_OBJECT, n);
    const d = this.depth - 1;
    const path = this.path;
    const record = o as Record<string, unknown>;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      path[d] = k; // before reading: a getter may throw
      const v = record[k];
      if (v === undefined) continue; // omitted, as JSON.stringify does
      count++;
      w.string(k);
      this.value(v);
    }
    if (count !== n) w.replaceVarint(at, n, count);
    this.depth--;
  }

  bigint(v: bigint): void {
    const w = this.w;
    const tag = v < 0n ? TAG_BIGNINT : TAG_BIGUINT;
    const m = v < 0n ? -1n - v : v;
    if (m === 0n) {
      w.head(tag, 0);
      return;
    }
    let hex = m.toString(16);
    if (hex.length & 1) hex = '0' + hex;
    const len = hex.length >>> 1;
    if (len > w.limit) throw w.tooLarge();
    w.head(tag, len);
    w.ensure(len);
    const buf = w.buf;
    let p = w.pos;
    for (let i = 0; i < hex.length; i += 2) buf[p++] = (hexDigit(hex.charCodeAt(i)) << 4) | hexDigit(hex.charCodeAt(i + 1));
    w.pos = p;
  }

  enter(container: object): void {
    if (this.depth >= this.maxDepth) throw this.tooDeep(container);
    this.depth++;
  }

  fail(code: 'not-plain' | 'cycle' | 'too-deep', detail: string, pathLength = this.depth): CodecError {
    return new CodecError(code, formatPath(this.rootName, this.path, pathLength), detail);
  }

  notPlain(v: unknown): CodecError {
    if (v === undefined) {
      return this.fail('not-plain', 'undefined is not plain data (it is allowed only as an object property value, which is then omitted)');
    }
    const hint = typeof v === 'object' && v !== null && ArrayBuffer.isView(v) ? ' (of typed arrays, only Uint8Array is)' : '';
    return this.fail('not-plain', `${describe(v)} is not plain data${hint}`);
  }

  /**
   * Cycles are not tracked on the way down (that would cost a Set operation per container);
   * a cycle always ends here, at the depth limit, where we look for a repeated ancestor.
   */
  tooDeep(container: object): CodecError {
    const chain: unknown[] = [];
    try {
      let x: unknown = this.root;
      for (let i = 0; i < this.depth; i++) {
        chain.push(x);
        x = (x as Record<string | number, unknown>)[this.path[i]!];
      }
      chain.push(container);
    } catch {
      // a getter or proxy trap threw while retracing: report the depth alone
    }
    for (let j = 1; j < chain.length; j++) {
      for (let i = 0; i < j; i++) {
        if (chain[i] === chain[j]) {
          return this.fail('cycle', `cyclic reference (back to ${formatPath(this.rootName, this.path, i)})`, j);
        }
      }
    }
    return this.fail('too-deep', `nesting deeper than maxDepth (${this.maxDepth})`);
  }
}

/** In place, by `<` (UTF-16 code units); for the small arrays of keys most objects have, far cheaper than Array.prototype.sort. */
function insertionSort(keys: string[]): void {
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
}

function isForeignObjectPrototype(o: object, proto: unknown): boolean {
  // Object.prototype of another realm: a null-prototype object whose constructor is `Object`
  if (getPrototypeOf(proto) !== null || objectToString.call(o) !== '[object Object]') return false;
  const ctor = (proto as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name === 'Object';
}

function describe(v: unknown): string {
  if (typeof v === 'function') return v.name ? `function ${v.name}` : 'function';
  if (typeof v !== 'object' || v === null) return typeof v;
  try {
    const tag = (objectToString.call(v) as string).slice(8, -1);
    if (tag !== 'Object') return tag; // Date, Map, Set, ArrayBuffer, Int16Array, …
    const ctor = (getPrototypeOf(v) as { constructor?: unknown } | null)?.constructor;
    if (typeof ctor === 'function' && ctor.name && ctor.name !== 'Object') return `${ctor.name} instance`;
    return 'object with a custom prototype';
  } catch {
    return 'object'; // a proxy trap threw
  }
}

function safeString(x: unknown): string {
  try {
    return String(x);
  } catch {
    return 'an exception';
  }
}

function hexDigit(c: number): number {
  return c < 0x3a ? c - 0x30 : c - 0x57; // '0'-'9', 'a'-'f' (toString(16) is lower case)
}

// Encoders are reused (their buffers especially); a nested call (a getter that itself
// encodes, or encodeNode's children) takes another from the pool.
const idle: Encoder[] = [new Encoder()];

function acquire(): Encoder {
  return idle.pop() ?? new Encoder();
}

function release(e: Encoder): void {
  e.ref = undefined;
  if (idle.length < 64) idle.push(e);
}

/** Canonical bytes of `value`. Throws CodecError if it is not plain data or breaks a limit. */
export function encode(value: unknown, limits?: CodecLimits): Uint8Array<ArrayBuffer> {
  const resolved = resolveLimits(limits);
  const e = acquire();
  try {
    e.run(value, resolved, false);
    return e.w.finish();
  } finally {
    release(e);
  }
}

/**
 * Null if `value` is plain data within the limits, else the error `encode` would throw.
 * Never throws (invalid limits aside: RangeError): an exception from a getter or proxy
 * becomes a 'not-plain' error.
 * It runs the encoder itself, discarding the bytes, so the two agree; it is stricter in one
 * way: it refuses symbol-keyed properties, which encode skips (they would be lost in transit).
 */
export function checkPlain(value: unknown, limits?: CodecLimits): CodecError | null {
  const resolved = resolveLimits(limits);
  const e = acquire();
  try {
    e.run(value, resolved, true);
    return null;
  } catch (err) {
    if (err instanceof CodecError) return err;
    return new CodecError('not-plain', e.currentPath(), `reading the value threw: ${safeString(err)}`);
  } finally {
    release(e);
  }
}

/** True when both values have the same canonical encoding. Throws as `encode` does. */
export function canonicalEqual(a: unknown, b: unknown, limits?: CodecLimits): boolean {
  const x = encode(a, limits);
  const y = encode(b, limits);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Node mode, for hash trees over plain data: the canonical encoding of `container` (an array
 * or plain object) with each child array or object written as TAG_REF followed by the 32 bytes
 * `ref(child, key)` returns (typically the child's own tree hash). TAG_REF never occurs in an
 * encoding, so a node's bytes cannot be mistaken for a value's. `sink` receives the bytes
 * (a view, valid only during the call) and whether a Uint8Array was among the values.
 * Throws CodecError as `encode` does, with paths relative to `container` (root name '').
 */
export function encodeNode<T>(
  container: object,
  maxSize: number,
  ref: (child: object, key: string | number) => Uint8Array,
  sink: (bytes: Uint8Array, sawBytes: boolean) => T,
): T {
  const resolved = resolveLimits({ maxSize, maxDepth: 1, rootName: '' });
  const e = acquire();
  try {
    e.ref = ref;
    e.sawBytes = false;
    e.run(container, resolved, false);
    return sink(e.w.written(), e.sawBytes);
  } finally {
    release(e);
  }
}
