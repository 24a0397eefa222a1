/** ByteWriter / ByteReader, the primitives exported for hand-encoded messages. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, CodecError, decode, tags, varintSize } from '../../src/codec/index.ts';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string) => new Uint8Array((s.match(/../g) ?? []).map((x) => parseInt(x, 16)));

function readerError(hexInput: string, read: (r: ByteReader) => unknown): CodecError {
  try {
    read(new ByteReader(unhex(hexInput)));
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError);
    return e as CodecError;
  }
  throw new Error('expected a CodecError');
}

describe('ByteWriter and ByteReader', () => {
  it('round trip varints of every size, minimally', () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeNat(), fc.nat(300), fc.integer({ min: 0, max: 2 ** 35 })), (n) => {
        const w = new ByteWriter(1);
        w.varint(n);
        const bytes = w.finish();
        expect(bytes).toHaveLength(varintSize(n));
        expect(bytes[bytes.length - 1] !== 0 || bytes.length === 1).toBe(true);
        const r = new ByteReader(bytes);
        expect(r.varint()).toBe(n);
        r.expectEnd();
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to write a varint that is not a safe unsigned integer', () => {
    const w = new ByteWriter();
    for (const bad of [-1, 0.5, 2 ** 53, NaN, Infinity]) expect(() => w.varint(bad)).toThrow(RangeError);
  });

  it('reads only minimal, bounded varints', () => {
    expect(readerError('8000', (r) => r.varint()).code).toBe('non-canonical');
    expect(readerError('ffffffffffffffff01', (r) => r.varint()).code).toBe('non-canonical');
    expect(readerError('ff', (r) => r.varint()).code).toBe('truncated');
    expect(readerError('', (r) => r.u8()).code).toBe('truncated');
  });

  it('writes canonical float64', () => {
    const w = new ByteWriter();
    w.float64(-0);
    w.float64(NaN);
    w.float64(1.5);
    expect(hex(w.finish())).toBe('0000000000000000' + '7ff8000000000000' + '3ff8000000000000');
  });

  it('writes length-prefixed strings and bytes, growing as needed', () => {
    const w = new ByteWriter(16);
    const long = 'é'.repeat(100); // 200 bytes: reserved 300, so the length prefix shrinks from 2 bytes... still 2
    const mid = 'x'.repeat(50); // reserved 150 (2-byte length), actual 50 (1 byte): text moves back
    w.string('hi');
    w.string(long);
    w.string(mid);
    w.bytes(new Uint8Array([1, 2, 3]));
    const r = new ByteReader(w.finish());
    expect(r.string()).toBe('hi');
    expect(r.string()).toBe(long);
    expect(r.string()).toBe(mid);
    expect(r.bytes()).toEqual(new Uint8Array([1, 2, 3]));
    r.expectEnd();
  });

  it('refuses lone surrogates and enforces its limit', () => {
    expect(() => new ByteWriter().string('\uD800')).toThrow(CodecError);
    const w = new ByteWriter(16, 20);
    w.raw(new Uint8Array(15));
    expect(() => w.bytes(new Uint8Array(30))).toThrow(CodecError);
    const x = new ByteWriter(16, 4);
    x.raw(new Uint8Array(5));
    expect(() => x.finish()).toThrow('maxSize');
  });

  it('rewrites a count whose varint changes size', () => {
    const w = new ByteWriter();
    w.u8(tags.TAG_ARRAY);
    w.varint(200);
    w.u8(tags.TAG_NULL);
    w.u8(tags.TAG_TRUE);
    w.replaceVarint(1, 200, 2);
    expect(hex(w.finish())).toBe('0a020002');
  });

  it('produces what decode reads, when used by hand', () => {
    const w = new ByteWriter();
    w.head(tags.TAG_OBJECT, 2);
    w.string('n');
    w.head(tags.TAG_NINT, 41);
    w.string('s');
    w.u8(tags.TAG_STRING);
    w.string('hé');
    expect(decode(w.finish())).toEqual({ ok: true, value: { n: -42, s: 'hé' } });
  });

  it('reports lengths past the end and trailing bytes', () => {
    expect(readerError('05616263', (r) => r.string()).code).toBe('truncated');
    expect(readerError('01c3', (r) => r.string()).code).toBe('bad-utf8');
    expect(readerError('0000', (r) => (r.u8(), r.expectEnd())).code).toBe('trailing-bytes');
  });
});
