/** decode of hostile and non-canonical input: always a typed error, never an exception. */
import { describe, expect, it } from 'vitest';
import { CodecError, decode, encode, type CodecErrorCode, type DecodeResult } from '../../src/codec/index.ts';

const unhex = (s: string) => new Uint8Array((s.replace(/\s+/g, '').match(/../g) ?? []).map((x) => parseInt(x, 16)));
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');

/** The error of a failed decode (fails the test if decode succeeded). */
function errorOf(r: DecodeResult): CodecError {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error('expected a decode error');
  expect(r.error).toBeInstanceOf(CodecError);
  return r.error;
}

function rejects(input: Uint8Array | string, code: CodecErrorCode): CodecError {
  const error = errorOf(decode(typeof input === 'string' ? unhex(input) : input));
  expect(error.code).toBe(code);
  return error;
}

function accepts(input: string): unknown {
  const r = decode(unhex(input));
  expect(r.ok).toBe(true);
  return r.ok ? r.value : undefined;
}

/** LEB128 of a possibly large number, as hex. */
function varint(n: number): string {
  let out = '';
  while (n >= 0x80) {
    out += ((n % 128) | 0x80).toString(16).padStart(2, '0');
    n = Math.floor(n / 128);
  }
  return out + n.toString(16).padStart(2, '0');
}

describe('decode: input type and size', () => {
  it('returns an error for anything but a Uint8Array', () => {
    const inputs: unknown[] = [undefined, null, 'abc', 42, {}, [0], new ArrayBuffer(1), new Int8Array(1), new Uint8ClampedArray(1), new DataView(new ArrayBuffer(1))];
    for (const input of inputs) {
      const error = errorOf(decode(input as Uint8Array));
      expect(error.code).toBe('not-plain');
      expect(error.message).toMatch(/expects a Uint8Array/);
    }
  });

  it('accepts a Uint8Array subclass and returns plain Uint8Arrays', () => {
    class Bytes extends Uint8Array {}
    const src = encode({ b: new Uint8Array([1, 2]) });
    const input = new Bytes(src.length);
    input.set(src);
    const r = decode(input);
    expect(r.ok).toBe(true);
    if (r.ok) expect((r.value as { b: Uint8Array }).b.constructor === Uint8Array).toBe(true);
  });

  it('reads a view at an offset and does not alias the input', () => {
    const inner = encode(new Uint8Array([7, 8, 9]));
    const outer = new Uint8Array(inner.length + 10);
    outer.set(inner, 5);
    const view = outer.subarray(5, 5 + inner.length);
    const r = decode(view);
    expect(r.ok).toBe(true);
    outer.fill(0);
    if (r.ok) expect(r.value).toEqual(new Uint8Array([7, 8, 9]));
  });

  it('rejects empty input as truncated', () => {
    rejects(new Uint8Array(0), 'truncated');
  });

  it('enforces maxSize before parsing', () => {
    const big = new Uint8Array(2 * 1024 * 1024); // a valid prefix would not matter: size comes first
    const t0 = performance.now();
    const error = rejects(big, 'too-large');
    expect(performance.now() - t0).toBeLessThan(50);
    expect(error.message).toMatch(/maxSize/);
    const four = encode('abc');
    expect(decode(four, { maxSize: 5 }).ok).toBe(true);
    expect(decode(four, { maxSize: 4 }).ok).toBe(false);
    expect(errorOf(decode(four, { maxSize: 4 })).code).toBe('too-large');
  });

  it('throws RangeError for nonsensical limits (a caller bug, not input)', () => {
    expect(() => decode(unhex('00'), { maxSize: -1 })).toThrow(RangeError);
    expect(() => decode(unhex('00'), { maxDepth: 1.5 })).toThrow(RangeError);
    expect(() => decode(unhex('00'), { maxDepth: 1e6 })).toThrow(RangeError);
  });
});

describe('decode: nesting', () => {
  it('refuses deep nesting from hostile bytes without overflowing the stack', () => {
    const arrays = new Uint8Array(200_000).map((_, i) => (i % 2 === 0 ? 0x0a : 0x01));
    expect(rejects(arrays, 'too-deep').message).toMatch(/maxDepth \(64\)/);
    const objects = new Uint8Array(300_000).map((_, i) => [0x0b, 0x01, 0x00][i % 3]!); // {"": {"": …}}
    rejects(objects, 'too-deep');
  });

  it('allows exactly maxDepth levels', () => {
    const nested = (levels: number) => unhex('0a01'.repeat(levels) + '00');
    expect(decode(nested(64)).ok).toBe(true);
    rejects(nested(65), 'too-deep');
    expect(decode(nested(1000), { maxDepth: 1000 }).ok).toBe(true);
    expect(errorOf(decode(nested(1001), { maxDepth: 1000 })).code).toBe('too-deep');
    expect(decode(unhex('0a00'), { maxDepth: 0 }).ok).toBe(false);
    expect(decode(unhex('03 05'), { maxDepth: 0 }).ok).toBe(true);
  });
});

describe('decode: lengths and counts', () => {
  it('refuses huge declared lengths as truncated, without allocating', () => {
    const huge = varint(2 ** 40);
    for (const tag of ['06', '07', '08', '09', '0a', '0b']) {
      const t0 = performance.now();
      expect(rejects(tag + huge + '00000000', 'truncated').message).toMatch(/past the end/);
      expect(performance.now() - t0).toBeLessThan(50);
    }
  });

  it('refuses counts that cannot fit in the remaining bytes', () => {
    rejects('0a03 00 00', 'truncated'); // 3 items, 2 bytes
    rejects('0b02 0161 00 01', 'truncated'); // 2 entries, 4 bytes: not 2 bytes per entry
    rejects('0803 6162', 'truncated');
    rejects('0902 01', 'truncated');
  });

  it('refuses truncated items', () => {
    for (const input of ['03', '0380', '05 3ff00000', '0b01', '0b0101', '0b010161', '0a01', '0601']) rejects(input, 'truncated');
  });
});

describe('decode: canonical form', () => {
  it('requires minimal varints', () => {
    rejects('03 8000', 'non-canonical');
    rejects('03 ff00', 'non-canonical');
    rejects('08 8000', 'non-canonical'); // a length, too
    rejects('0a 8100 00', 'non-canonical');
    expect(accepts('03 8001')).toBe(128);
  });

  it('refuses varints longer than 8 bytes or above 2^53 - 1', () => {
    rejects('03 ffffffffffffffff01', 'non-canonical');
    rejects('03 80808080808080 10', 'non-canonical'); // 2^53
    expect(accepts('03 ffffffffffffff0f')).toBe(Number.MAX_SAFE_INTEGER);
    rejects('04 ffffffffffffff0f', 'non-canonical'); // -2^53
  });

  it('refuses float64 where an integer belongs, and non-canonical NaN', () => {
    rejects('05 3ff0000000000000', 'non-canonical'); // 1.0
    rejects('05 0000000000000000', 'non-canonical'); // 0.0
    rejects('05 8000000000000000', 'non-canonical'); // -0.0
    rejects('05 433fffffffffffff', 'non-canonical'); // 2^53 - 1
    rejects('05 7ff8000000000001', 'non-canonical');
    rejects('05 fff8000000000000', 'non-canonical');
    rejects('05 7ff0000000000001', 'non-canonical');
    expect(accepts('05 4340000000000000')).toBe(2 ** 53);
    expect(Number.isNaN(accepts('05 7ff8000000000000'))).toBe(true);
  });

  it('refuses bigints with a leading zero byte', () => {
    rejects('06 0100', 'non-canonical');
    rejects('07 020001', 'non-canonical');
    expect(accepts('06 00')).toBe(0n);
    expect(accepts('07 00')).toBe(-1n);
    expect(accepts('06 080100000000000000')).toBe(2n ** 56n);
    expect(accepts('07 0a01000000000000000000')).toBe(-(2n ** 72n) - 1n);
  });

  it('refuses unsorted and duplicate keys', () => {
    expect(accepts('0b02 0161 00 0162 00')).toEqual({ a: null, b: null });
    expect(rejects('0b02 0162 00 0161 00', 'non-canonical').message).toMatch(/out of order/);
    expect(rejects('0b02 0161 00 0161 00', 'non-canonical').message).toMatch(/duplicate/);
    rejects('0b02 0161 00 00 00', 'non-canonical'); // "" after "a"
    // UTF-8 byte order would put U+E000 (ee 80 80) before U+1F600 (f0 9f 98 80); UTF-16 order is the rule
    rejects('0b02 03ee8080 00 04f09f9880 00', 'non-canonical');
    expect(Object.keys(accepts('0b02 04f09f9880 00 03ee8080 00') as object)).toEqual(['😀', '\uE000']);
  });

  it('refuses unknown tags and trailing bytes', () => {
    for (const tag of ['0c', '0d', '10', '7f', '80', 'ff']) rejects(tag, 'bad-tag');
    rejects('00 00', 'trailing-bytes');
    rejects('0a00 ff', 'trailing-bytes');
  });
});

describe('decode: UTF-8', () => {
  const bad = ['80', 'bf', 'c0 80', 'c1 bf', 'c2', 'c2 41', 'e0 80 80', 'e0 9f bf', 'ed a0 80', 'ed bf bf', 'e2 82', 'f0 80 80 80', 'f0 8f bf bf', 'f4 90 80 80', 'f5 80 80 80', 'f8 88 80 80 80', 'fe', 'ff'];
  const good: Array<[string, string]> = [
    ['7f', '\u007f'],
    ['c2 80', '\u0080'],
    ['df bf', '\u07ff'],
    ['e0 a0 80', '\u0800'],
    ['ed 9f bf', '\ud7ff'],
    ['ee 80 80', '\ue000'],
    ['ef bf bf', '\uffff'],
    ['f0 90 80 80', '\u{10000}'],
    ['f4 8f bf bf', '\u{10FFFF}'],
    ['ef bb bf', '\uFEFF'],
  ];
  const str = (h: string) => {
    const bytes = unhex(h);
    return '08' + varint(bytes.length) + h.replace(/\s+/g, '');
  };
  const pad = ascii('x'.repeat(70)); // long strings take the TextDecoder path

  it('refuses malformed UTF-8 in strings, short and long', () => {
    for (const b of bad) {
      rejects(str(b), 'bad-utf8');
      rejects(str(pad + b), 'bad-utf8');
      rejects(str(b + pad), 'bad-utf8');
    }
  });

  it('refuses malformed UTF-8 in keys', () => {
    for (const b of bad) rejects('0b01' + varint(unhex(b).length) + b.replace(/\s+/g, '') + '00', 'bad-utf8');
  });

  it('accepts the boundaries of well-formed UTF-8', () => {
    for (const [h, s] of good) {
      expect(accepts(str(h))).toBe(s);
      expect(accepts(str(pad + h))).toBe('x'.repeat(70) + s);
      expect(accepts(str(h + pad))).toBe(s + 'x'.repeat(70));
    }
  });
});

describe('decode: objects', () => {
  it('round trips a __proto__ key as an own property, without touching prototypes', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}');
    const r = decode(encode(value));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const out = r.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor']);
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
    expect(out).toEqual(value);
    expect(({} as Record<string, unknown>).polluted).toBe(undefined);
    expect((out as { polluted?: unknown }).polluted).toBe(undefined);
  });

  it('names the path of a decode error', () => {
    const bytes = unhex('0b01 0161 0a02 00 0c'); // {a: [null, <tag 0c>]}
    const error = rejects(bytes, 'bad-tag');
    expect(error.path).toBe('value.a[1]');
    expect(error.message).toMatch(/^value\.a\[1\]: unknown tag 0x0c at byte 7$/);
    expect(errorOf(decode(bytes, { rootName: 'msg' })).path).toBe('msg.a[1]');
    expect(rejects('0b02 0162 00 0161 00', 'non-canonical').path).toBe('value');
  });

  it('keeps messages short when hostile keys are long', () => {
    const key = ascii('k'.repeat(5000));
    const dup = rejects('0b02' + varint(5000) + key + '00' + varint(5000) + key + '00', 'non-canonical');
    expect(dup.message.length).toBeLessThan(200);
    const deep = rejects('0b01' + varint(5000) + key + '0c', 'bad-tag');
    expect(deep.path.length).toBeLessThan(100);
  });
});
