/** encode refusals (with the path in the message), limits, and checkPlain / canonicalEqual. */
import { describe, expect, it } from 'vitest';
import { canonicalEqual, checkPlain, CodecError, decode, encode, type CodecErrorCode, type CodecLimits } from '../../src/codec/index.ts';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** The CodecError encode throws; checkPlain must return an equivalent one. */
function refusal(value: unknown, limits?: CodecLimits): CodecError {
  let thrown: unknown;
  try {
    encode(value, limits);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(CodecError);
  const error = thrown as CodecError;
  const checked = checkPlain(value, limits);
  expect(checked).toBeInstanceOf(CodecError);
  expect(checked?.code).toBe(error.code);
  expect(checked?.message).toBe(error.message);
  return error;
}

function refuses(value: unknown, code: CodecErrorCode, message: RegExp | string, limits?: CodecLimits): CodecError {
  const error = refusal(value, limits);
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect(error.message.startsWith(error.path + ': ')).toBe(true);
  return error;
}

class Point {
  x = 1;
}

describe('encode refuses what is not plain data, naming the path', () => {
  it('names the path as the design example does', () => {
    refuses({ payload: { when: new Date(0) } }, 'not-plain', 'event.payload.when: Date is not plain data', { rootName: 'event' });
  });

  const cases: Array<[string, () => unknown, string]> = [
    ['function', () => () => 1, 'function'],
    ['named function', () => function handler() {}, 'function handler'],
    ['class', () => Point, 'function Point'],
    ['symbol', () => Symbol('s'), 'symbol'],
    ['Date', () => new Date(), 'Date'],
    ['Map', () => new Map(), 'Map'],
    ['Set', () => new Set([1]), 'Set'],
    ['WeakMap', () => new WeakMap(), 'WeakMap'],
    ['RegExp', () => /x/, 'RegExp'],
    ['Error', () => new Error('x'), 'Error'],
    ['Promise', () => Promise.resolve(1), 'Promise'],
    ['class instance', () => new Point(), 'Point instance'],
    ['boxed string', () => new String('x'), 'String'],
    ['boxed number', () => new Number(1), 'Number'],
    ['Int16Array', () => new Int16Array(2), 'Int16Array'],
    ['Uint8ClampedArray', () => new Uint8ClampedArray(2), 'Uint8ClampedArray'],
    ['Float64Array', () => new Float64Array(1), 'Float64Array'],
    ['DataView', () => new DataView(new ArrayBuffer(1)), 'DataView'],
    ['ArrayBuffer', () => new ArrayBuffer(4), 'ArrayBuffer'],
    ['object with a custom prototype', () => Object.create({ inherited: 1 }), 'object with a custom prototype'],
  ];
  for (const [name, make, kind] of cases) {
    it(`refuses ${name}, at the top and nested`, () => {
      const top = refuses(make(), 'not-plain', new RegExp(`^value: ${kind.replace(/[()]/g, '\\$&')} is not plain data`));
      expect(top.path).toBe('value');
      const nested = refuses({ event: { items: [1, { deep: make() }] } }, 'not-plain', /is not plain data/);
      expect(nested.path).toBe('value.event.items[1].deep');
    });
  }

  it('formats keys that are not identifiers', () => {
    refuses({ 'a b': [new Map()] }, 'not-plain', 'value["a b"][0]: Map is not plain data');
    refuses({ '': { 0: new Set() } }, 'not-plain', 'value[""]["0"]: Set is not plain data');
  });

  it('explains that only Uint8Array among typed arrays is plain', () => {
    refuses(new Int32Array(1), 'not-plain', /only Uint8Array/);
  });

  it('skips symbol-keyed properties in encode (as JSON.stringify does) and refuses them in checkPlain', () => {
    const value = { a: { [Symbol('k')]: 1, b: 2 } };
    expect(hex(encode(value))).toBe(hex(encode({ a: { b: 2 } })));
    const error = checkPlain(value);
    expect(error?.code).toBe('not-plain');
    expect(error?.message).toBe('value.a: object has symbol-keyed properties, which are not plain data');
  });

  it('refuses undefined outside object properties', () => {
    refuses(undefined, 'not-plain', /^value: undefined is not plain data/);
    refuses([1, undefined], 'not-plain', /^value\[1\]: undefined is not plain data/);
    // eslint-disable-next-line no-sparse-arrays
    refuses({ list: [1, , 3] }, 'not-plain', /^value\.list\[1\]: undefined/);
  });

  it('omits undefined object properties', () => {
    expect(hex(encode({ a: 1, b: undefined }))).toBe(hex(encode({ a: 1 })));
    expect(hex(encode({ a: undefined }))).toBe(hex(encode({})));
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) many[`k${i}`] = i % 3 === 0 ? i : undefined; // count shrinks from 2 varint bytes to 1
    const r = decode(encode(many));
    expect(r.ok).toBe(true);
    if (r.ok) expect(Object.keys(r.value as object)).toHaveLength(67);
  });

  it('refuses lone surrogates in strings and keys', () => {
    refuses({ s: 'a\uD800' }, 'not-plain', /^value\.s: string contains a lone surrogate/);
    refuses({ s: '\uDC00a' }, 'not-plain', /lone surrogate/);
    refuses({ s: '\uDC00\uD800' }, 'not-plain', /lone surrogate/);
    refuses(['x'.repeat(100) + '\uD800' + 'y'.repeat(100)], 'not-plain', /^value\[0\]: string contains a lone surrogate/);
    refuses({ ['k\uDFFF']: 1 }, 'not-plain', /lone surrogate/);
    expect(decode(encode('\uD83D\uDE00')).ok).toBe(true);
  });

  it('refuses cycles, naming where they close', () => {
    const self: Record<string, unknown> = {};
    self.me = self;
    refuses(self, 'cycle', 'value.me: cyclic reference (back to value)');
    const a: Record<string, unknown> = {};
    const b: unknown[] = [a];
    a.list = b;
    refuses({ root: a }, 'cycle', 'value.root.list[0]: cyclic reference (back to value.root)');
    const arr: unknown[] = [];
    arr.push(1, arr);
    refuses(arr, 'cycle', 'value[1]: cyclic reference (back to value)');
  });

  it('accepts shared references that are not cycles', () => {
    const shared = { x: 1 };
    expect(decode(encode({ a: shared, b: [shared, shared] })).ok).toBe(true);
  });
});

describe('encode limits', () => {
  const nested = (levels: number): unknown => {
    let v: unknown = 0;
    for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { k: v };
    return v;
  };

  it('allows maxDepth levels and refuses one more', () => {
    expect(decode(encode(nested(64))).ok).toBe(true);
    refuses(nested(65), 'too-deep', /nesting deeper than maxDepth \(64\)$/);
    refuses(nested(11), 'too-deep', /maxDepth \(10\)/, { maxDepth: 10 });
    expect(hex(encode(5, { maxDepth: 0 }))).toBe('0305');
    refuses([], 'too-deep', /^value: nesting deeper/, { maxDepth: 0 });
    expect(decode(encode(nested(1000), { maxDepth: 1000 }), { maxDepth: 1000 }).ok).toBe(true);
  });

  it('refuses output larger than maxSize, exactly at the limit', () => {
    const s = 'x'.repeat(100); // 1 tag + 1 length + 100
    expect(encode(s, { maxSize: 102 })).toHaveLength(102);
    refuses(s, 'too-large', /exceeds maxSize \(101 bytes\)/, { maxSize: 101 });
    const list = new Array(2000).fill(null);
    expect(encode(list, { maxSize: 2003 })).toHaveLength(2003);
    refuses(list, 'too-large', /maxSize/, { maxSize: 2002 });
  });

  it('refuses huge values quickly, by the default 1 MiB limit', () => {
    const t0 = performance.now();
    refuses({ big: 'x'.repeat(8 * 1024 * 1024) }, 'too-large', /^value\.big: encoding exceeds maxSize \(1048576 bytes\)/);
    refuses(new Uint8Array(2 * 1024 * 1024), 'too-large', /maxSize/);
    refuses(new Array(5_000_000).fill(0), 'too-large', /maxSize/);
    refuses(2n ** 10_000_000n, 'too-large', /maxSize/);
    expect(performance.now() - t0).toBeLessThan(2000);
    // a DAG whose tree is exponentially large is stopped by the size limit too
    let dag: unknown = 'leaf';
    for (let i = 0; i < 40; i++) dag = [dag, dag];
    refuses(dag, 'too-large', /maxSize/);
  });

  it('throws RangeError for nonsensical limits', () => {
    expect(() => encode(1, { maxSize: NaN })).toThrow(RangeError);
    expect(() => encode(1, { maxDepth: -1 })).toThrow(RangeError);
    expect(() => checkPlain(1, { maxDepth: 2.5 })).toThrow(RangeError);
  });
});

describe('encode details', () => {
  it('encodes any Uint8Array, subclasses included, as bytes', () => {
    class Bytes extends Uint8Array {}
    expect(hex(encode(new Bytes([1, 2])))).toBe('09020102');
    const view = new Uint8Array([9, 1, 2, 9]).subarray(1, 3);
    expect(hex(encode(view))).toBe('09020102');
  });

  it('accepts null-prototype objects', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 2;
    o.a = 1;
    expect(hex(encode(o))).toBe(hex(encode({ a: 1, b: 2 })));
  });

  it('returns a fresh, exactly sized buffer each time', () => {
    const first = encode({ a: 'first' });
    const copy = hex(first);
    encode({ a: 'second, longer, overwriting the shared buffer' });
    expect(hex(first)).toBe(copy);
    expect(first.buffer.byteLength).toBe(first.length);
  });

  it('survives being called again from a getter while encoding', () => {
    let inner = '';
    const value = {
      get a() {
        inner = hex(encode({ nested: [1, 2, 3] }));
        return 'outer';
      },
      b: 2,
    };
    expect(hex(encode(value))).toBe(hex(encode({ a: 'outer', b: 2 })));
    expect(inner).toBe(hex(encode({ nested: [1, 2, 3] })));
  });

  it('distinguishes numbers from bigints, and normalises -0 and NaN', () => {
    expect(canonicalEqual(1, 1n)).toBe(false);
    expect(canonicalEqual(0, -0)).toBe(true);
    expect(canonicalEqual(NaN, 0 / 0)).toBe(true);
    expect(canonicalEqual({ a: 1, b: [2, { c: 3, d: 4 }] }, { b: [2, { d: 4, c: 3 }], a: 1 })).toBe(true);
    expect(canonicalEqual({ a: undefined }, {})).toBe(true);
    expect(canonicalEqual([1, 2], [2, 1])).toBe(false);
    expect(canonicalEqual('a', new Uint8Array([0x61]))).toBe(false);
  });
});

describe('checkPlain', () => {
  it('returns null for plain data', () => {
    expect(checkPlain({ type: 'ADD', item: { id: 'x', qty: 3, tags: ['a'], at: 1.5, big: 1n, raw: new Uint8Array(2), gone: undefined } })).toBe(null);
  });

  it('never throws, even when reading the value does', () => {
    const hostile = {
      get boom(): never {
        throw new Error('getter exploded');
      },
    };
    const e1 = checkPlain({ x: hostile });
    expect(e1?.code).toBe('not-plain');
    expect(e1?.message).toMatch(/^value\.x\.boom: reading the value threw: Error: getter exploded/);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(checkPlain([proxy])?.code).toBe('not-plain');
    // encode, by contrast, lets the caller's own exception through
    expect(() => encode(hostile)).toThrow('getter exploded');
  });
});
