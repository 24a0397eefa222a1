import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkLinearizable, describeOperation, kvModel } from '../../src/check/index.ts';
import type { KvInput, Operation } from '../../src/check/index.ts';
import { parseKvLog } from './porcupine-kv/parse.ts';

type KvOp = Operation<KvInput<unknown>, unknown>;

function append(client: number, key: string, value: unknown, call: number, ret?: number): KvOp {
  const op: KvOp = { client, input: { op: 'append', key, value }, call };
  if (ret !== undefined) Object.assign(op, { return: ret, output: 'ok' });
  return op;
}
function get(client: number, key: string, value: unknown, call: number, ret: number): KvOp {
  return { client, input: { op: 'get', key }, call, return: ret, output: value };
}
function put(client: number, key: string, value: unknown, call: number, ret: number): KvOp {
  return { client, input: { op: 'put', key, value }, call, return: ret, output: 'ok' };
}

describe('kvModel append', () => {
  const kv = kvModel<unknown>();

  it('accepts reads that see concurrent appends in either order, and appends onto an absent key', () => {
    const h = [
      get(0, 'x', undefined, 0, 1),
      append(1, 'x', 'a', 2, 10),
      append(2, 'x', 'b', 2, 10),
      get(3, 'x', 'b', 3, 9),
      get(0, 'x', 'ba', 11, 12),
    ];
    expect(checkLinearizable(kv, h).ok).toBe(true);
    const other = [...h.slice(0, 3), get(3, 'x', 'a', 3, 9), get(0, 'x', 'ab', 11, 12)];
    expect(checkLinearizable(kv, other).ok).toBe(true);
  });

  it('rejects a read that orders two appends against real time', () => {
    const h = [append(1, 'x', 'a', 0, 1), append(2, 'x', 'b', 2, 3), get(3, 'x', 'ba', 4, 5)];
    const res = checkLinearizable(kv, h);
    expect(res.ok).toBe(false);
    if (res.ok === false) {
      expect(res.unorderable).toEqual([h[2]]);
      expect(res.explanation).toContain('expected "ab"');
    }
  });

  it('rejects a read that misses an acknowledged append, and one that sees an append twice', () => {
    expect(checkLinearizable(kv, [append(1, 'x', 'a', 0, 1), get(2, 'x', undefined, 2, 3)]).ok).toBe(false);
    expect(checkLinearizable(kv, [append(1, 'x', 'a', 0, 1), get(2, 'x', 'aa', 2, 3)]).ok).toBe(false);
  });

  it('lets an append that never returned explain a read, once', () => {
    expect(checkLinearizable(kv, [append(1, 'x', 'a', 0), get(2, 'x', 'a', 2, 3)]).ok).toBe(true);
    expect(checkLinearizable(kv, [append(1, 'x', 'a', 0), get(2, 'x', 'aa', 2, 3)]).ok).toBe(false);
  });

  it('appends after a put, and appends arrays', () => {
    const h = [put(0, 'x', 'p', 0, 1), append(0, 'x', 'q', 2, 3), get(1, 'x', 'pq', 4, 5)];
    expect(checkLinearizable(kv, h).ok).toBe(true);
    const arrays = [append(0, 'l', [1], 0, 1), append(0, 'l', [2, 3], 2, 3), get(1, 'l', [1, 2, 3], 4, 5)];
    expect(checkLinearizable(kv, arrays).ok).toBe(true);
    const wrong = [append(0, 'l', [1], 0, 1), append(0, 'l', [2, 3], 2, 3), get(1, 'l', [2, 3, 1], 4, 5)];
    expect(checkLinearizable(kv, wrong).ok).toBe(false);
  });

  it('throws a clear error when appending to a value of another type', () => {
    const h = [put(0, 'x', 5, 0, 1), append(0, 'x', 'q', 2, 3)];
    expect(() => checkLinearizable(kv, h)).toThrow(/model\.step threw on \[2 \.\. 3\] client 0: append\("x", "q"\)/);
    try {
      checkLinearizable(kv, h);
    } catch (e) {
      expect(String((e as Error).cause)).toContain('append needs a string or array value matching the current value, got "q" onto 5');
    }
  });

  it('describes appends', () => {
    expect(describeOperation(kv, append(1, 'x', 'a', 0, 1))).toContain('append("x", "a") -> "ok"');
    expect(describeOperation(kv, append(1, 'x', 'a', 0))).toContain('append("x", "a") -> (no response)');
  });
});

describe("Porcupine's kv test logs (get / put / append)", () => {
  const dir = new URL('./porcupine-kv/', import.meta.url);
  for (const [name, expected] of [
    ['c01-ok', true],
    ['c01-bad', false],
    ['c10-ok', true],
    ['c10-bad', false],
  ] as const) {
    it(`${name}: ${expected ? 'linearizable' : 'not linearizable'}, as Porcupine says`, () => {
      const history = parseKvLog(readFileSync(new URL(`${name}.txt`, dir), 'utf8'));
      expect(history.length).toBeGreaterThan(30);
      expect(history.some((op) => op.input.op === 'append')).toBe(true);
      const res = checkLinearizable(kvModel<string>(), history, { timeoutMs: 30_000 });
      expect(res.ok).toBe(expected);
    });
  }
});
