import { describe, expect, it } from 'vitest';
import {
  checkLinearizable,
  counterModel,
  describeOperation,
  formatHistory,
  kvModel,
  registerModel,
} from '../../src/check/index.ts';
import type { KvInput, Model, Operation, RegisterInput } from '../../src/check/index.ts';

type RegOp = Operation<RegisterInput<number>, unknown>;

const reg = registerModel<number>({ initial: 0 });

function w(client: number, value: number, call: number, ret?: number): RegOp {
  return ret === undefined
    ? { client, input: { op: 'write', value }, call }
    : { client, input: { op: 'write', value }, call, return: ret, output: 'ok' };
}
function r(client: number, value: number, call: number, ret: number): RegOp {
  return { client, input: { op: 'read' }, call, return: ret, output: value };
}

/** Independent validation of a witness: real-time order respected, model accepts it. */
function assertWitness<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], order: Operation<I, O>[]) {
  const pos = new Map(order.map((op, i) => [op, i]));
  for (const op of history) {
    if (op.return === undefined || op.return === Infinity) continue;
    expect(pos.has(op)).toBe(true);
  }
  for (const a of order) {
    for (const b of order) {
      if (a.return !== undefined && a.return < b.call) expect(pos.get(a)!).toBeLessThan(pos.get(b)!);
    }
  }
  let state = model.init();
  for (const op of order) {
    const pending = op.return === undefined || op.return === Infinity;
    const res = model.step(state, op.input, pending ? undefined : op.output, pending);
    expect(res.ok).toBe(true);
    state = res.state;
  }
}

describe('checkLinearizable on classic register histories', () => {
  it('accepts the empty history', () => {
    const res = checkLinearizable(reg, []);
    expect(res.ok).toBe(true);
  });

  it('accepts reads that see the old value and then the new one during a concurrent write', () => {
    const h = [w(0, 1, 0, 10), r(1, 0, 1, 3), r(1, 1, 4, 6), r(2, 1, 11, 12)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(true);
    if (res.ok === true) assertWitness(reg, h, res.order);
  });

  it('rejects a new-then-old read sequence (a later, non-overlapping read sees an older value)', () => {
    const h = [w(0, 1, 0, 10), r(1, 1, 1, 3), r(2, 0, 4, 6)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(false);
  });

  it('rejects a read of a value never written', () => {
    const h = [w(0, 1, 0, 2), r(1, 5, 1, 3)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(false);
    if (res.ok === false) expect(res.unorderable).toContain(h[1]);
  });

  it('rejects reads that disagree on the order of two concurrent writes', () => {
    // Herlihy & Wing style: both writes finished before both reads, yet the reads differ.
    const h = [w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 2, 11, 12), r(3, 1, 13, 14)];
    expect(checkLinearizable(reg, h).ok).toBe(false);
    const ok = [w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 2, 11, 12), r(3, 2, 13, 14)];
    expect(checkLinearizable(reg, ok).ok).toBe(true);
  });

  it('accepts reads concurrent with two writes seeing them in either order', () => {
    const h = [w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 2, 1, 9), r(3, 1, 2, 8)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(true);
    if (res.ok === true) assertWitness(reg, h, res.order);
  });

  it('treats a return and a call at the same instant as concurrent', () => {
    expect(checkLinearizable(reg, [w(0, 1, 0, 5), r(1, 0, 5, 6)]).ok).toBe(true);
    expect(checkLinearizable(reg, [w(0, 1, 0, 5), r(1, 0, 6, 7)]).ok).toBe(false);
  });

  it('handles a long sequential history without recursion', () => {
    const h: RegOp[] = [];
    for (let i = 0; i < 50_000; i++) {
      h.push(i % 2 === 0 ? w(0, i, 2 * i, 2 * i + 1) : r(0, i - 1, 2 * i, 2 * i + 1));
    }
    expect(checkLinearizable(reg, h).ok).toBe(true);
    h[h.length - 1] = r(0, 3, 2 * 49_999, 2 * 49_999 + 1);
    expect(checkLinearizable(reg, h).ok).toBe(false);
  });
});

describe('pending operations', () => {
  it('accepts a write that never returned but whose value was read', () => {
    const h = [w(0, 1, 0), r(1, 1, 5, 6)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(true);
    if (res.ok === true) {
      expect(res.effectivePending).toEqual([h[0]]);
      assertWitness(reg, h, res.order);
    }
  });

  it('accepts a pending write nobody saw, and does not take it as effective', () => {
    const h = [w(0, 2, 0), r(1, 0, 5, 6), r(2, 0, 7, 8)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(true);
    if (res.ok === true) expect(res.effectivePending).toEqual([]);
  });

  it('does not let a pending write take effect before it was called', () => {
    expect(checkLinearizable(reg, [r(1, 1, 1, 5), w(0, 1, 10)]).ok).toBe(false);
  });

  it('does not let a pending write take effect twice or un-happen', () => {
    // Once a reader saw 1, a later reader cannot see 0 again.
    const h = [w(0, 1, 0), r(1, 1, 2, 3), r(2, 0, 4, 5)];
    expect(checkLinearizable(reg, h).ok).toBe(false);
  });

  it('does not let pending writes excuse a stale read', () => {
    const h = [w(0, 1, 0, 1), w(0, 2, 2, 3), w(1, 3, 0), r(2, 1, 4, 5)];
    expect(checkLinearizable(reg, h).ok).toBe(false);
  });

  it('lets a pending write explain a read only after its call', () => {
    const h = [w(0, 1, 0, 1), w(1, 7, 2), r(2, 7, 3, 4), w(0, 2, 5, 6), r(2, 2, 7, 8)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(true);
    if (res.ok === true) assertWitness(reg, h, res.order);
  });

  it('accepts a history of only pending operations', () => {
    expect(checkLinearizable(reg, [w(0, 1, 0), w(1, 2, 1)]).ok).toBe(true);
  });

  describe('many pending copies of the same write (a client nemesis: restarted and timed-out clients)', () => {
    const counter = counterModel();
    type CounterOp = Operation<{ op: 'add'; delta: number } | { op: 'read' }, unknown>;
    const add = (client: number, delta: number, call: number): CounterOp => ({ client, input: { op: 'add', delta }, call });
    const read = (client: number, value: number, call: number, ret: number): CounterOp => ({ client, input: { op: 'read' }, call, return: ret, output: value });
    const copies = Array.from({ length: 20 }, (_, i) => add(i, 10, i));

    it('decides within a small step budget that none of them explains a read they cannot produce', () => {
      const res = checkLinearizable(counter, [...copies, read(99, 5, 100, 101)], { maxSteps: 200_000 });
      expect(res.ok).toBe(false);
    });

    it('finds the one pending write that explains a read, behind 20 that do not', () => {
      const h = [...copies, add(50, 5, 50), read(99, 5, 100, 101)];
      const res = checkLinearizable(counter, h, { maxSteps: 200_000 });
      expect(res.ok).toBe(true);
      if (res.ok === true) expect(res.effectivePending).toEqual([h[20]]);
    });

    it('still takes as many copies as a read needs', () => {
      const res = checkLinearizable(counter, [...copies, read(99, 70, 100, 101)], { maxSteps: 200_000 });
      expect(res.ok).toBe(true);
      if (res.ok === true) expect(res.effectivePending).toEqual(copies.slice(0, 7));
    });
  });
});

describe('failure explanations', () => {
  it('names the longest prefix, the state after it and the unorderable operations', () => {
    const h = [w(0, 1, 0, 2), r(1, 1, 3, 4), w(2, 2, 5, 6), r(1, 1, 7, 8), w(0, 3, 9)];
    const res = checkLinearizable(reg, h);
    expect(res.ok).toBe(false);
    if (res.ok !== false) return;
    expect(res.longestPrefix).toEqual([h[0], h[1], h[2]]);
    expect(res.unorderable).toEqual([h[3]]);
    const text = res.explanation;
    expect(text).toContain('Longest linearizable prefix found: 3 operations');
    for (const op of res.longestPrefix) expect(text).toContain(describeOperation(reg, op));
    expect(text).toContain('State after the prefix: 2');
    expect(text).toContain(describeOperation(reg, h[3]!));
    expect(text).toContain('[7 .. 8] client 1: read() -> 1');
    expect(text).toContain('expected 2');
    expect(text).toContain('Unorderable operations (1)');
  });

  it('reports which partition failed and the model’s expectation', () => {
    const kv = kvModel<number>();
    const h: Operation<KvInput<number>, unknown>[] = [
      { client: 0, input: { op: 'put', key: 'a', value: 1 }, call: 0, return: 1, output: 'ok' },
      { client: 1, input: { op: 'put', key: 'b', value: 1 }, call: 0, return: 1, output: 'ok' },
      { client: 2, input: { op: 'cas', key: 'b', from: 1, to: 2 }, call: 2, return: 3, output: false },
    ];
    const res = checkLinearizable(kv, h);
    expect(res.ok).toBe(false);
    if (res.ok !== false) return;
    expect(res.explanation).toContain('partition 2 of 2');
    expect(res.explanation).toContain('cas("b", 1 -> 2) -> false');
    expect(res.explanation).toContain('expected true');
  });

  it('formats a history as a timeline', () => {
    const text = formatHistory([w(0, 1, 0, 10), r(1, 1, 5, 20), w(2, 3, 12)], { describe: reg.describe, width: 20 });
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('[0 .. 10] client 0: write(1) -> "ok"');
    expect(lines[2]).toContain('>|');
    expect(lines[2]).toContain('(no response)');
  });
});

describe('models', () => {
  it('kv: checks get/put/cas per key and merges the witnesses', () => {
    const kv = kvModel<number>();
    const h: Operation<KvInput<number>, unknown>[] = [
      { client: 0, input: { op: 'put', key: 'x', value: 1 }, call: 0, return: 5, output: 'ok' },
      { client: 1, input: { op: 'cas', key: 'x', from: 1, to: 2 }, call: 1, return: 6, output: true },
      { client: 2, input: { op: 'get', key: 'y' }, call: 2, return: 3, output: undefined },
      { client: 2, input: { op: 'put', key: 'y', value: 9 }, call: 4, return: 7, output: 'ok' },
      { client: 3, input: { op: 'get', key: 'x' }, call: 7, return: 8, output: 2 },
      { client: 3, input: { op: 'delete', key: 'y' }, call: 9, return: 10, output: 'ok' },
      { client: 0, input: { op: 'get', key: 'y' }, call: 11, return: 12, output: undefined },
    ];
    const res = checkLinearizable(kv, h);
    expect(res.ok).toBe(true);
    if (res.ok === true) assertWitness(kv, h, res.order);
    // A cas that claims success on a value it could not have seen.
    const bad = [...h.slice(0, 4), { ...h[4]!, output: 1 }];
    expect(checkLinearizable(kv, bad).ok).toBe(false);
  });

  it('counter: adds commute, reads must match a prefix sum', () => {
    const c = counterModel();
    const add = (client: number, delta: number, call: number, ret: number) => ({
      client,
      input: { op: 'add' as const, delta },
      call,
      return: ret,
      output: 'ok',
    });
    const read = (client: number, v: number, call: number, ret: number) => ({
      client,
      input: { op: 'read' as const },
      call,
      return: ret,
      output: v,
    });
    expect(checkLinearizable(c, [add(0, 1, 0, 10), add(1, 2, 0, 10), read(2, 2, 1, 9), read(2, 3, 11, 12)]).ok).toBe(true);
    expect(checkLinearizable(c, [add(0, 1, 0, 10), add(1, 2, 0, 10), read(2, 4, 1, 9)]).ok).toBe(false);
  });
});

describe('budgets and validation', () => {
  it('returns unknown when the step budget runs out', () => {
    const h = [w(0, 1, 0, 10), w(1, 2, 0, 10), w(2, 3, 0, 10), r(3, 5, 11, 12)];
    const res = checkLinearizable(reg, h, { maxSteps: 3 });
    expect(res.ok).toBe('unknown');
    if (res.ok === 'unknown') {
      expect(res.reason).toBe('budget');
      expect(res.explanation).toContain('step budget');
    }
  });

  it('throws clear errors for malformed histories and models', () => {
    expect(() => checkLinearizable(reg, [w(0, 1, 5, 4)])).toThrow(/returns before it is called \(call 5 > return 4\)/);
    expect(() => checkLinearizable(reg, [w(0, 1, Number.NaN, 4)])).toThrow(/call time must be a finite number/);
    expect(() => checkLinearizable(reg, [w(0, 1, Infinity)])).toThrow(/call time must be a finite number/);
    expect(() => checkLinearizable(reg, [{ ...w(0, 1, 0, 1), return: Number.NaN }])).toThrow(/return time/);
    expect(() => checkLinearizable(reg, [{ client: 0, input: { op: 'read' }, call: 0, output: 3 }])).toThrow(
      /has an output but no return time/,
    );
    const op = w(0, 1, 0, 1);
    expect(() => checkLinearizable(reg, [op, op])).toThrow(/same object/);
    expect(() => checkLinearizable(reg, 'nope' as unknown as RegOp[])).toThrow(/history must be an array/);
    const noStep = { init: reg.init, key: reg.key } as unknown as typeof reg;
    expect(() => checkLinearizable(noStep, [])).toThrow(/model\.step must be a function/);
    const badPartition = { ...reg, partition: (h: RegOp[]) => [h.map((o) => ({ ...o }))] };
    expect(() => checkLinearizable(badPartition, [op])).toThrow(/not in the history/);
  });
});
