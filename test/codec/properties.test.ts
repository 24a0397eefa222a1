/**
 * Property tests of the codec: round trip, canonical form, and decode of hostile bytes
 * (random, and corruptions of valid encodings).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEqual, CodecError, decode, encode, type CodecErrorCode } from '../../src/codec/index.ts';

const RUNS = 1000;

// Keys that stress sorting (UTF-16 vs UTF-8 order differ between U+E000–U+FFFF and astral
// characters) and prototype handling.
const specialKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'a', 'b', 'aa', 'é', '\uE000', '\uFFFF', '😀', '0', '1', '10', 'type');
const key = fc.oneof(specialKey, fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 6 }));

const number = fc.oneof(
  fc.double(), // includes -0, NaN, ±Infinity
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 2 ** 64, -(2 ** 70), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, Number.MAX_VALUE, 0.1),
);
const bigint = fc.oneof(fc.bigInt(), fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n }), fc.constantFrom(0n, -1n, 1n, 255n, 256n, -256n, -257n));
const string = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 40, maxLength: 120 }),
  fc.string({ minLength: 43, maxLength: 130 }), // long enough to reserve a 2-byte length, often needing 1
);

/** An object given as entries, so insertion order and prototype are under our control. */
interface Obj {
  entries: Array<[string, unknown]>;
  nullProto: boolean;
}

function build(o: Obj, order: number[] = o.entries.map((_, i) => i)): Record<string, unknown> {
  const out: Record<string, unknown> = o.nullProto ? Object.create(null) : {};
  for (const i of order) {
    const [k, v] = o.entries[i]!;
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const { value: plain } = fc.letrec<{ value: unknown; leaf: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  leaf: fc.oneof(fc.constant(null), fc.boolean(), number, bigint, string, fc.uint8Array({ maxLength: 40 })),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 6 }),
  object: fc
    .record({
      entries: fc.uniqueArray(fc.tuple(key, fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 6, arbitrary: tie('value') })), {
        maxLength: 6,
        selector: ([k]) => k,
      }),
      nullProto: fc.boolean(),
    })
    .map((o) => build(o as Obj)),
}));

/** What decode should give back: -0 as 0, undefined properties gone, ordinary objects. */
function normalize(v: unknown): unknown {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) Object.defineProperty(out, k, { value: normalize(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

/** Decoded objects are ordinary: Object.prototype, own enumerable data properties only. */
function ordinaryObjects(v: unknown): boolean {
  if (Array.isArray(v)) return Object.getPrototypeOf(v) === Array.prototype && v.every(ordinaryObjects);
  if (v instanceof Uint8Array) return v.constructor === Uint8Array;
  if (typeof v !== 'object' || v === null) return true;
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.keys(v).every((k) => ordinaryObjects((v as Record<string, unknown>)[k]));
}

/** A deep copy with every object's keys inserted in a different (seeded) order. */
function reorder(v: unknown, seed: { s: number }): unknown {
  if (Array.isArray(v)) return v.map((x) => reorder(x, seed));
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i > 0; i--) {
      seed.s = (Math.imul(seed.s, 1103515245) + 12345) >>> 0;
      const j = seed.s % (i + 1);
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    const out: Record<string, unknown> = seed.s & 1 ? {} : Object.create(null);
    for (const k of keys) {
      Object.defineProperty(out, k, { value: reorder((v as Record<string, unknown>)[k], seed), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

/**
 * Encodings built straight from the format's grammar, each item canonical or not in one of
 * the ways the format forbids (padded varints, integers as floats, other NaNs, leading zero
 * bytes, malformed UTF-8, unsorted or duplicate keys, unknown tags), together with whether
 * it is canonical, worked out independently of the codec (UTF-8 validity by the platform's
 * strict TextDecoder). Random corruption rarely lands on these forms; this hits them all.
 */
interface Raw {
  b: number[];
  ok: boolean;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Bytes = (s: string) => Array.from(new TextEncoder().encode(s));

function varintBytes(n: number, pad: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  for (let i = 0; i < pad; i++) {
    out[out.length - 1]! |= 0x80;
    out.push(i === pad - 1 ? 0 : 0x80);
  }
  return out;
}

const pad = fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) });
const varint = (n: number, p: number): Raw => ({ b: varintBytes(n, p), ok: p === 0 && varintBytes(n, 0).length <= 8 && n <= MAX_SAFE });

const float64Bytes = (x: number) => Array.from(new Uint8Array(new Float64Array([x]).buffer)).reverse(); // assumes a little-endian host: checked below
const canonicalFloat = (bytes: number[]) => {
  const x = new DataView(new Uint8Array(bytes).buffer).getFloat64(0);
  if (Number.isNaN(x)) return bytes.join() === '127,248,0,0,0,0,0,0';
  return !Number.isSafeInteger(x);
};

/** UTF-8 text, valid or not: a string's encoding, random bytes, or a known bad sequence. */
const badSequence = fc.constantFrom<number[]>(
  [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xed, 0xa0, 0x80], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xff],
  // valid, at the edges:
  [0xef, 0xbb, 0xbf], [0xf4, 0x8f, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80], [0xc2, 0x80], [0xf0, 0x90, 0x80, 0x80],
);
const text = fc.oneof(key, string);
const textBytes = fc.oneof(
  { weight: 3, arbitrary: text.map(utf8Bytes) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }) },
  // around the bad sequence, text that sends the decoder down its short or long path
  { weight: 2, arbitrary: fc.tuple(text, badSequence, text).map(([a, bad, b]) => [...utf8Bytes(a), ...bad, ...utf8Bytes(b)]) },
);
const validUtf8 = (bytes: number[]) => {
  try {
    strictUtf8.decode(new Uint8Array(bytes));
    return true;
  } catch {
    return false;
  }
};
const lengthPrefixed = (payload: number[], p: number): Raw => {
  const len = varint(payload.length, p);
  return { b: [...len.b, ...payload], ok: len.ok };
};

const { raw } = fc.letrec<{ raw: Raw; scalar: Raw; array: Raw; object: Raw }>((tie) => ({
  raw: fc.oneof({ depthSize: 'small' }, tie('scalar'), tie('array'), tie('object')),
  scalar: fc.oneof(
    fc.constantFrom<Raw>({ b: [0x00], ok: true }, { b: [0x01], ok: true }, { b: [0x02], ok: true }),
    fc.tuple(fc.oneof(fc.nat(300), fc.maxSafeNat(), fc.constantFrom(MAX_SAFE, MAX_SAFE + 1, 2 ** 55)), pad).map(([n, p]) => {
      const v = varint(n, p);
      return { b: [0x03, ...v.b], ok: v.ok };
    }),
    fc.tuple(fc.oneof(fc.nat(300), fc.maxSafeNat(), fc.constantFrom(MAX_SAFE - 1, MAX_SAFE)), pad).map(([m, p]) => {
      const v = varint(m, p);
      return { b: [0x04, ...v.b], ok: v.ok && m <= MAX_SAFE - 1 };
    }),
    fc
      .oneof(
        fc.double().map(float64Bytes),
        fc.integer().map(float64Bytes),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 8, maxLength: 8 }),
        fc.constantFrom<number[]>([0x7f, 0xf8, 0, 0, 0, 0, 0, 1], [0xff, 0xf8, 0, 0, 0, 0, 0, 0], [0x80, 0, 0, 0, 0, 0, 0, 0]),
      )
      .map((bytes) => ({ b: [0x05, ...bytes], ok: canonicalFloat(bytes) })),
    fc.tuple(fc.constantFrom(0x06, 0x07), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 10 }), pad).map(([tag, mag, p]) => {
      const r = lengthPrefixed(mag, p);
      return { b: [tag, ...r.b], ok: r.ok && (mag.length === 0 || mag[0] !== 0) };
    }),
    fc.tuple(textBytes, pad).map(([text, p]) => {
      const r = lengthPrefixed(text, p);
      return { b: [0x08, ...r.b], ok: r.ok && validUtf8(text) };
    }),
    fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }), pad).map(([bytes, p]) => {
      const r = lengthPrefixed(bytes, p);
      return { b: [0x09, ...r.b], ok: r.ok };
    }),
    fc.integer({ min: 0x0c, max: 0xff }).map((tag) => ({ b: [tag], ok: false })),
  ),
  array: fc.tuple(fc.array(tie('raw'), { maxLength: 4 }), pad).map(([items, p]) => {
    const count = varint(items.length, p);
    return { b: [0x0a, ...count.b, ...items.flatMap((x) => x.b)], ok: count.ok && items.every((x) => x.ok) };
  }),
  object: fc
    .tuple(fc.array(fc.tuple(textBytes, pad, tie('raw')), { maxLength: 4 }), fc.constantFrom('sorted', 'as generated', 'duplicate first'), pad)
    .map(([entries, order, p]) => {
      const keyText = (bytes: number[]) => (validUtf8(bytes) ? strictUtf8.decode(new Uint8Array(bytes)) : null);
      let list = entries;
      if (order === 'sorted' && entries.every(([k]) => keyText(k) !== null)) {
        list = [...entries].sort(([a], [b]) => (keyText(a)! < keyText(b)! ? -1 : keyText(a)! > keyText(b)! ? 1 : 0));
      } else if (order === 'duplicate first' && entries.length > 0) {
        list = [entries[0]!, ...entries];
      }
      const count = varint(list.length, p);
      let ok = count.ok;
      let prev: string | null = null;
      const b = [0x0b, ...count.b];
      for (const [k, kp, v] of list) {
        const text = keyText(k);
        const len = varint(k.length, kp);
        ok &&= len.ok && v.ok && text !== null && (prev === null || prev < text);
        prev = text;
        b.push(...len.b, ...k, ...v.b);
      }
      return { b, ok };
    }),
}));

const CODES: CodecErrorCode[] = ['not-plain', 'cycle', 'too-deep', 'too-large', 'truncated', 'bad-tag', 'non-canonical', 'trailing-bytes', 'bad-utf8'];

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** decode must not throw; on success the input must be exactly the canonical encoding. */
function checkDecode(bytes: Uint8Array): void {
  const r = decode(bytes);
  if (r.ok) {
    expect(equalBytes(encode(r.value), bytes)).toBe(true);
  } else {
    expect(r.error).toBeInstanceOf(CodecError);
    expect(CODES).toContain(r.error.code);
  }
}

describe('codec properties', () => {
  it('round trips plain values', () => {
    fc.assert(
      fc.property(plain, (v) => {
        const r = decode(encode(v));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        // toEqual, not toStrictEqual: the latter compares `.constructor`, which a key named
        // 'constructor' shadows; prototypes are checked separately
        expect(r.value).toEqual(normalize(v));
        expect(ordinaryObjects(r.value)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('gives the same bytes whatever the key insertion order', () => {
    fc.assert(
      fc.property(plain, fc.integer(), (v, s) => {
        const shuffled = reorder(v, { s });
        expect(equalBytes(encode(shuffled), encode(v))).toBe(true);
        expect(canonicalEqual(shuffled, v)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('re-encodes decoded values to the very same bytes', () => {
    fc.assert(
      fc.property(plain, (v) => {
        const bytes = encode(v);
        const r = decode(bytes);
        expect(r.ok).toBe(true);
        if (r.ok) expect(equalBytes(encode(r.value), bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('canonicalEqual agrees with structural equality of normalized values', () => {
    fc.assert(
      fc.property(plain, plain, (a, b) => {
        const same = canonicalEqual(a, b);
        expect(same).toBe(canonicalEqual(b, a));
        if (same) expect(normalize(a)).toEqual(normalize(b));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on random bytes, and accepts only canonical ones', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), checkDecode), { numRuns: RUNS });
    // small tags make random input reach deeper into the decoder
    const smallBytes = fc.array(fc.integer({ min: 0, max: 13 }), { maxLength: 48 }).map((xs) => new Uint8Array(xs));
    fc.assert(fc.property(smallBytes, checkDecode), { numRuns: RUNS });
  });

  it('accepts exactly the canonical encodings built from the grammar', () => {
    expect(float64Bytes(1.5)).toEqual([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]); // the generator's byte order
    let canonical = 0;
    fc.assert(
      fc.property(raw, ({ b, ok }) => {
        const bytes = new Uint8Array(b);
        const r = decode(bytes);
        expect(r.ok).toBe(ok);
        if (r.ok) {
          canonical++;
          expect(equalBytes(encode(r.value), bytes)).toBe(true);
        } else {
          expect(CODES).toContain(r.error.code);
        }
      }),
      { numRuns: RUNS },
    );
    // both kinds must be well represented for the property to mean something
    expect(canonical).toBeGreaterThan(RUNS / 5);
    expect(canonical).toBeLessThan(RUNS - RUNS / 5);
  });

  it('never throws on corrupted encodings, and accepts only canonical ones', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(plain, fc.array(mutation, { minLength: 1, maxLength: 3 }), (v, mutations) => {
        let bytes = encode(v);
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % (bytes.length + (m.kind === 'insert' ? 1 : 0));
          const list = Array.from(bytes);
          if (m.kind === 'flip' && list.length > 0) list[at] = list[at]! ^ (1 << m.bit);
          else if (m.kind === 'set' && list.length > 0) list[at] = m.byte;
          else if (m.kind === 'truncate') list.length = at;
          else if (m.kind === 'insert') list.splice(at, 0, m.byte);
          else if (m.kind === 'delete') list.splice(at, 1);
          bytes = new Uint8Array(list);
        }
        checkDecode(bytes);
      }),
      { numRuns: RUNS },
    );
  });
});
