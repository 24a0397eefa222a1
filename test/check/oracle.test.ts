import { describe, expect, it } from 'vitest';
import { checkLinearizable, counterModel, kvModel, registerModel } from '../../src/check/index.ts';
import type { KvInput, Model, Operation } from '../../src/check/index.ts';

/**
 * Cross-checks the search (with all its pruning) against a brute-force enumeration of every
 * real-time-respecting order of every subset of pending operations, on many small random
 * histories with deliberately colliding values and timestamps.
 */

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isPending = (op: Operation<unknown, unknown>) => op.return === undefined || op.return === Infinity;

function bruteForce<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[]): boolean {
  const n = history.length;
  const used = new Array<boolean>(n).fill(false);
  const completed = history.filter((op) => !isPending(op)).length;
  const go = (state: S, done: number): boolean => {
    if (done === completed) return true;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      const op = history[i]!;
      // op may go next only if no other unused completed op returned before op was called.
      let blocked = false;
      for (let j = 0; j < n && !blocked; j++) {
        const o = history[j]!;
        if (j !== i && !used[j] && !isPending(o) && o.return! < op.call) blocked = true;
      }
      if (blocked) continue;
      const pending = isPending(op);
      const r = model.step(state, op.input, pending ? undefined : op.output, pending);
      if (!r.ok) continue;
      used[i] = true;
      const ok = go(r.state, done + (pending ? 0 : 1));
      used[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return go(model.init(), 0);
}

function assertWitness<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], order: Operation<I, O>[]) {
  const pos = new Map(order.map((op, i) => [op, i]));
  for (const op of history) if (!isPending(op)) expect(pos.has(op)).toBe(true);
  for (const a of order) {
    for (const b of order) {
      if (!isPending(a) && a.return! < b.call) expect(pos.get(a)!).toBeLessThan(pos.get(b)!);
    }
  }
  let state = model.init();
  for (const op of order) {
    const pending = isPending(op);
    const r = model.step(state, op.input, pending ? undefined : op.output, pending);
    expect(r.ok).toBe(true);
    state = r.state;
  }
}

/** An operation at a random small time (ties are common); pending with `pendingRate`. */
function randomOp<I>(rand: () => number, client: number, input: I, output: unknown, pendingRate: number) {
  const call = Math.floor(rand() * 8);
  const op: Operation<I, unknown> = { client, input, call };
  if (rand() >= pendingRate) {
    op.return = call + Math.floor(rand() * 5);
    op.output = output;
  }
  return op;
}

/** A FIFO queue: a model whose pending operations neither commute nor overwrite. */
type QueueInput = { op: 'enq'; value: number } | { op: 'deq' };
const queueModel: Model<readonly number[], QueueInput, unknown> = {
  init: () => [],
  step(state, input, output, pending) {
    if (input.op === 'enq') return { ok: true, state: [...state, input.value] };
    const head = state.length > 0 ? state[0] : 'empty';
    if (!pending && output !== head) return { ok: false, state, expected: String(head) };
    return { ok: true, state: state.slice(1) };
  },
  key: (state) => state.join(','),
};

function compare<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], tally: { ok: number; bad: number }) {
  const expected = bruteForce(model, history);
  const res = checkLinearizable(model, history);
  if (res.ok === 'unknown') throw new Error('unexpected unknown');
  if (res.ok !== expected) {
    throw new Error(`mismatch: brute force says ${expected}\n${JSON.stringify(history)}`);
  }
  if (res.ok === true) {
    assertWitness(model, history, res.order);
    tally.ok++;
  } else {
    expect(res.unorderable.length + res.candidates.length).toBeGreaterThan(0);
    tally.bad++;
  }
}

describe('search agrees with brute force on small random histories', () => {
  it('register (colliding values, ties, pending writes and reads)', () => {
    const tally = { ok: 0, bad: 0 };
    const model = registerModel<number>({ initial: 0 });
    for (let seed = 0; seed < 3000; seed++) {
      const rand = prng(seed);
      const count = 2 + Math.floor(rand() * 7);
      const h: Operation<{ op: 'write'; value: number } | { op: 'read' }, unknown>[] = [];
      for (let k = 0; k < count; k++) {
        if (rand() < 0.5) {
          h.push(randomOp(rand, k, { op: 'write', value: 1 + Math.floor(rand() * 3) }, 'ok', 0.3));
        } else {
          h.push(randomOp(rand, k, { op: 'read' }, Math.floor(rand() * 4), 0.3));
        }
      }
      compare(model, h, tally);
    }
    expect(tally.ok).toBeGreaterThan(300);
    expect(tally.bad).toBeGreaterThan(300);
  });

  it('counter (pending adds commute and must combine)', () => {
    const tally = { ok: 0, bad: 0 };
    const model = counterModel();
    for (let seed = 0; seed < 3000; seed++) {
      const rand = prng(10_000 + seed);
      const count = 2 + Math.floor(rand() * 7);
      const h: Operation<{ op: 'add'; delta: number } | { op: 'read' }, unknown>[] = [];
      for (let k = 0; k < count; k++) {
        if (rand() < 0.55) {
          h.push(randomOp(rand, k, { op: 'add', delta: 1 + Math.floor(rand() * 2) }, 'ok', 0.35));
        } else {
          h.push(randomOp(rand, k, { op: 'read' }, Math.floor(rand() * 6), 0.35));
        }
      }
      compare(model, h, tally);
    }
    expect(tally.ok).toBeGreaterThan(300);
    expect(tally.bad).toBeGreaterThan(300);
  });

  it('queue (pending operations that neither commute nor overwrite)', () => {
    const tally = { ok: 0, bad: 0 };
    for (let seed = 0; seed < 3000; seed++) {
      const rand = prng(20_000 + seed);
      const count = 2 + Math.floor(rand() * 7);
      const h: Operation<QueueInput, unknown>[] = [];
      for (let k = 0; k < count; k++) {
        if (rand() < 0.5) {
          h.push(randomOp(rand, k, { op: 'enq', value: 1 + Math.floor(rand() * 2) }, 'ok', 0.3));
        } else {
          const out = rand() < 0.3 ? 'empty' : 1 + Math.floor(rand() * 2);
          h.push(randomOp(rand, k, { op: 'deq' }, out, 0.3));
        }
      }
      compare(queueModel, h, tally);
    }
    expect(tally.ok).toBeGreaterThan(300);
    expect(tally.bad).toBeGreaterThan(300);
  });

  it('key-value with cas (partitioned per key)', () => {
    const tally = { ok: 0, bad: 0 };
    const model = kvModel<number>();
    for (let seed = 0; seed < 2000; seed++) {
      const rand = prng(30_000 + seed);
      const count = 2 + Math.floor(rand() * 7);
      const h: Operation<KvInput<number>, unknown>[] = [];
      for (let k = 0; k < count; k++) {
        const key = rand() < 0.5 ? 'a' : 'b';
        const x = rand();
        const v = () => 1 + Math.floor(rand() * 2);
        if (x < 0.3) {
          h.push(randomOp(rand, k, { op: 'put', key, value: v() }, 'ok', 0.3));
        } else if (x < 0.6) {
          const from = rand() < 0.3 ? undefined : v();
          h.push(randomOp(rand, k, { op: 'cas', key, from, to: v() }, rand() < 0.5, 0.3));
        } else {
          h.push(randomOp(rand, k, { op: 'get', key }, rand() < 0.3 ? undefined : v(), 0.3));
        }
      }
      compare(model, h, tally);
    }
    expect(tally.ok).toBeGreaterThan(200);
    expect(tally.bad).toBeGreaterThan(200);
  });

  it('key-value with append (pending appends neither commute nor overwrite)', () => {
    const tally = { ok: 0, bad: 0 };
    const model = kvModel<string>();
    const reads = [undefined, 'a', 'b', 'ab', 'ba', 'aa', 'p', 'pa', 'pb'];
    for (let seed = 0; seed < 2000; seed++) {
      const rand = prng(40_000 + seed);
      const count = 2 + Math.floor(rand() * 7);
      const h: Operation<KvInput<string>, unknown>[] = [];
      for (let k = 0; k < count; k++) {
        const key = rand() < 0.7 ? 'a' : 'b';
        const x = rand();
        if (x < 0.45) {
          h.push(randomOp(rand, k, { op: 'append', key, value: rand() < 0.5 ? 'a' : 'b' }, 'ok', 0.3));
        } else if (x < 0.55) {
          h.push(randomOp(rand, k, { op: 'put', key, value: 'p' }, 'ok', 0.3));
        } else {
          h.push(randomOp(rand, k, { op: 'get', key }, reads[Math.floor(rand() * reads.length)], 0.3));
        }
      }
      compare(model, h, tally);
    }
    expect(tally.ok).toBeGreaterThan(200);
    expect(tally.bad).toBeGreaterThan(200);
  });
});
