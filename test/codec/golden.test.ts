/**
 * Fixed vectors, written out by hand from the format in src/codec/encode.ts. They pin the
 * format (a change must be deliberate) and, run under Node and Deno, cross-runtime equality.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/codec/index.ts';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string) => new Uint8Array((s.match(/../g) ?? []).map((x) => parseInt(x, 16)));

// [description, value, canonical hex]
const vectors: Array<[string, unknown, string]> = [
  ['null', null, '00'],
  ['false', false, '01'],
  ['true', true, '02'],
  ['0', 0, '0300'],
  ['1', 1, '0301'],
  ['127', 127, '037f'],
  ['128', 128, '038001'],
  ['300', 300, '03ac02'],
  ['-1', -1, '0400'],
  ['-128', -128, '047f'],
  ['-129', -129, '048001'],
  ['2^53 - 1', Number.MAX_SAFE_INTEGER, '03ffffffffffffff0f'],
  ['-(2^53 - 1)', -Number.MAX_SAFE_INTEGER, '04feffffffffffff0f'],
  ['2^53 (not safe: float)', 2 ** 53, '054340000000000000'],
  ['0.5', 0.5, '053fe0000000000000'],
  ['1.1', 1.1, '053ff199999999999a'],
  ['-2.5', -2.5, '05c004000000000000'],
  ['NaN', NaN, '057ff8000000000000'],
  ['Infinity', Infinity, '057ff0000000000000'],
  ['-Infinity', -Infinity, '05fff0000000000000'],
  ['0n', 0n, '0600'],
  ['255n', 255n, '0601ff'],
  ['256n', 256n, '06020100'],
  ['2n ** 64n', 2n ** 64n, '0609010000000000000000'],
  ['-1n', -1n, '0700'],
  ['-256n', -256n, '0701ff'],
  ['-257n', -257n, '07020100'],
  ['empty string', '', '0800'],
  ['abc', 'abc', '0803616263'],
  ['é😀', 'é😀', '0806c3a9f09f9880'],
  ['BOM kept', '\uFEFF', '0803efbbbf'],
  ['U+10FFFF', '\u{10FFFF}', '0804f48fbfbf'],
  ['empty bytes', new Uint8Array(0), '0900'],
  ['bytes', new Uint8Array([1, 2, 255]), '09030102ff'],
  ['empty array', [], '0a00'],
  ['nested array', [1, [2]], '0a0203010a010302'],
  ['empty object', {}, '0b00'],
  ['keys sorted, undefined omitted', { b: 1, a: 2, c: undefined }, '0b020161030201620301'],
  // UTF-16 order: U+1F600 is D83D DE00, which sorts before E000 (UTF-8 order would not)
  ['UTF-16 key order', { '\uE000': 2, '😀': 1 }, '0b0204f09f9880030103ee80800302'],
  ['__proto__ key', JSON.parse('{"__proto__":1}'), '0b01095f5f70726f746f5f5f0301'],
  [
    'application event',
    { type: 'ADD', item: { id: 'abc123', qty: 3, note: 'some text here' } },
    '0b02' + // object, 2 entries
      '046974656d' + '0b03' + // "item": object, 3 entries
      '026964' + '0806616263313233' + // "id": "abc123"
      '046e6f7465' + '080e736f6d6520746578742068657265' + // "note": "some text here"
      '03717479' + '0303' + // "qty": 3
      '0474797065' + '0803414444', // "type": "ADD"
  ],
];

describe('codec golden vectors', () => {
  for (const [name, value, expected] of vectors) {
    it(`encodes ${name}`, () => {
      expect(hex(encode(value))).toBe(expected);
    });
    it(`decodes ${name}`, () => {
      const r = decode(unhex(expected));
      expect(r.ok).toBe(true);
      if (r.ok) expect(hex(encode(r.value))).toBe(expected);
    });
  }

  it('normalises -0 and every NaN', () => {
    expect(hex(encode(-0))).toBe('0300');
    const nans = new Float64Array(new Uint32Array([1, 0x7ff00000, 0, 0xfff80000, 0xffffffff, 0xffffffff]).buffer);
    for (const nan of nans) {
      expect(Number.isNaN(nan)).toBe(true);
      expect(hex(encode(nan))).toBe('057ff8000000000000');
    }
  });

  it('decodes vectors to the expected values', () => {
    const r = decode(unhex('0b0204f09f9880030103ee80800302'));
    expect(r.ok && Object.keys(r.value as object)).toEqual(['😀', '\uE000']);
    const n = decode(unhex('04feffffffffffff0f'));
    expect(n.ok && n.value).toBe(-Number.MAX_SAFE_INTEGER);
    const big = decode(unhex('07020100'));
    expect(big.ok && big.value).toBe(-257n);
    const bom = decode(unhex('0803efbbbf'));
    expect(bom.ok && bom.value).toBe('\uFEFF');
  });
});
