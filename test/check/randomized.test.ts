import { describe, expect, it } from 'vitest';
import { checkLinearizable, describeOperation, kvModel, registerModel } from '../../src/check/index.ts';
import type { CheckResult, KvInput, Model, Operation, RegisterInput } from '../../src/check/index.ts';

/** mulberry32: small seeded PRNG so a failing seed replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sim<I> {
  op: Operation<I, unknown>;
  /** Instant the operation takes effect; undefined for a pending op that never took effect. */
  effect: number | undefined;
}

/**
 * Simulates clients against a truly linearizable object: each operation takes effect at a
 * random instant between its call and return, and outputs are computed by applying the
 * effects in that order. Times are integers, so calls and returns often tie. A pending
 * operation (the client gave up) took effect or not at random; its client moves on.
 */
function simulate<I>(
  rand: () => number,
  count: number,
  clients: number,
  pendingRate: number,
  makeInput: (rand: () => number) => I,
): Sim<I>[] {
  const clock = Array.from({ length: clients }, () => Math.floor(rand() * 5));
  const sims: Sim<I>[] = [];
  for (let k = 0; k < count; k++) {
    // The client that is free earliest issues the next operation, so clients interleave.
    let c = 0;
    for (let j = 1; j < clients; j++) if (clock[j]! < clock[c]!) c = j;
    const call = clock[c]! + Math.floor(rand() * 4);
    const ret = call + 1 + Math.floor(rand() * 30);
    const effect = call + rand() * (ret - call);
    const input = makeInput(rand);
    clock[c] = ret;
    if (rand() < pendingRate) {
      sims.push({ op: { client: c, input, call }, effect: rand() < 0.5 ? effect : undefined });
    } else {
      sims.push({ op: { client: c, input, call, return: ret }, effect });
    }
  }
  return sims;
}

/** Fills in the outputs by running the model over the effects in effect order. */
function fillOutputs<S, I>(model: Model<S, I, unknown>, sims: Sim<I>[], output: (state: S, input: I) => unknown) {
  let state = model.init();
  const effective = sims.filter((s) => s.effect !== undefined).sort((a, b) => a.effect! - b.effect!);
  for (const s of effective) {
    const out = output(state, s.op.input);
    if (s.op.return !== undefined) s.op.output = out;
    const res = model.step(state, s.op.input, s.op.return === undefined ? undefined : out, s.op.return === undefined);
    if (!res.ok) throw new Error('generator bug: model rejected its own output');
    state = res.state;
  }
}

function registerHistory(seed: number, count: number, clients: number, pendingRate = 0.01) {
  const rand = prng(seed);
  let nextValue = 1;
  const sims = simulate<RegisterInput<number>>(rand, count, clients, pendingRate, (r) =>
    r() < 0.4 ? { op: 'write', value: nextValue++ } : { op: 'read' },
  );
  const model = registerModel<number>({ initial: 0 });
  fillOutputs(model, sims, (state, input) => (input.op === 'read' ? state : 'ok'));
  return { rand, model, history: sims.map((s) => s.op) };
}

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

function completedReads(history: Operation<RegisterInput<number>, unknown>[]) {
  return history.filter((op) => op.input.op === 'read' && op.return !== undefined);
}

function expectRejectedMentioning<I>(
  model: Model<unknown, I, unknown>,
  res: CheckResult<I, unknown>,
  culprit: Operation<I, unknown>,
) {
  expect(res.ok).toBe(false);
  if (res.ok !== false) return;
  expect(res.explanation).toContain(describeOperation(model, culprit));
  expect(res.explanation).toContain('Longest linearizable prefix found');
  expect(res.unorderable.length).toBeGreaterThan(0);
}

const SEEDS = [1, 2, 3, 42, 1234, 99991];

describe('randomized register histories (1,000 ops, 10 clients)', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: accepts the linearizable history, rejects a never-written read`, () => {
      const { rand, model, history } = registerHistory(seed, 1000, 10);
      const pending = history.filter((op) => op.return === undefined).length;
      const [res, ms] = timed(() => checkLinearizable(model, history, { timeoutMs: 10_000 }));
      console.log(`register seed ${seed}: 1000 ops / 10 clients (${pending} pending) accepted in ${ms.toFixed(1)} ms`);
      if (res.ok !== true) console.log(res.explanation);
      expect(res.ok).toBe(true);

      const reads = completedReads(history);
      const victim = reads[Math.floor(rand() * reads.length)]!;
      victim.output = -1; // never written: values are 0 (initial) and 1, 2, ...
      const [bad, badMs] = timed(() => checkLinearizable(model, history, { timeoutMs: 10_000 }));
      console.log(`register seed ${seed}: corrupted read rejected in ${badMs.toFixed(1)} ms`);
      expectRejectedMentioning(model as Model<unknown, RegisterInput<number>, unknown>, bad, victim);
      if (bad.ok === false) expect(bad.unorderable).toContain(victim);
    });

    it(`seed ${seed}: rejects a stale read (value overwritten before the read was called)`, () => {
      const { rand, model, history } = registerHistory(seed, 1000, 10);
      const done = history.filter((op) => op.return !== undefined);
      const writes = done.filter((op) => op.input.op === 'write');
      // R reads W1's value although W1 < W2 < R in real time: certainly not linearizable.
      const reads = completedReads(history).filter((op) => op.call > history[0]!.call + 50);
      let victim: Operation<RegisterInput<number>, unknown> | undefined;
      let staleValue = 0;
      for (let attempt = 0; attempt < 100 && victim === undefined; attempt++) {
        const read = reads[Math.floor(rand() * reads.length)]!;
        const w2 = writes.filter((op) => op.return! < read.call).sort((a, b) => b.return! - a.return!)[0];
        if (!w2) continue;
        const w1s = writes.filter((op) => op.return! < w2.call);
        const w1 = w1s[Math.floor(rand() * w1s.length)];
        if (!w1 || w1.input.op !== 'write' || w1.input.value === read.output) continue;
        victim = read;
        staleValue = w1.input.value;
      }
      expect(victim).toBeDefined();
      victim!.output = staleValue;
      const [bad, ms] = timed(() => checkLinearizable(model, history, { timeoutMs: 10_000 }));
      console.log(`register seed ${seed}: stale read rejected in ${ms.toFixed(1)} ms`);
      expectRejectedMentioning(model as Model<unknown, RegisterInput<number>, unknown>, bad, victim!);
    });
  }

  it('accepts a 10,000-operation history and rejects it once corrupted mid-way', () => {
    // Fewer pending ops here: each one stays a candidate for the rest of the history, so the
    // cost grows with (pending ops) x (configurations); see the note in linearizability.ts.
    const { model, history } = registerHistory(7, 10_000, 10, 0.002);
    const pending = history.filter((op) => op.return === undefined).length;
    const [res, ms] = timed(() => checkLinearizable(model, history, { timeoutMs: 30_000 }));
    console.log(`register: 10000 ops / 10 clients (${pending} pending) accepted in ${ms.toFixed(1)} ms`);
    expect(res.ok).toBe(true);
    const reads = completedReads(history);
    const victim = reads[Math.floor(reads.length / 2)]!;
    victim.output = -1;
    const [bad, badMs] = timed(() => checkLinearizable(model, history, { timeoutMs: 30_000 }));
    console.log(`register: 10000 ops, corrupted read rejected in ${badMs.toFixed(1)} ms`);
    expectRejectedMentioning(model as Model<unknown, RegisterInput<number>, unknown>, bad, victim);
  });

  it('gives up with unknown when the time budget runs out', () => {
    const { model, history } = registerHistory(8, 10_000, 10, 0.01);
    const reads = completedReads(history);
    reads[Math.floor(reads.length * 0.9)]!.output = -1;
    const [res, ms] = timed(() => checkLinearizable(model, history, { timeoutMs: 100 }));
    expect(res.ok).toBe('unknown');
    if (res.ok === 'unknown') {
      expect(res.reason).toBe('timeout');
      expect(res.explanation).toContain('timed out');
    }
    expect(ms).toBeLessThan(2_000);
  });
});

describe('randomized key-value histories (partitioned per key)', () => {
  for (const seed of [5, 6, 7]) {
    it(`seed ${seed}: accepts 1,000 ops of get/put/cas over 4 keys, rejects a corrupted get`, () => {
      const rand = prng(seed);
      const keys = ['a', 'b', 'c', 'd'];
      let nextValue = 1;
      const sims = simulate<KvInput<number>>(rand, 1000, 10, 0.01, (r) => {
        const key = keys[Math.floor(r() * keys.length)]!;
        const x = r();
        if (x < 0.3) return { op: 'put', key, value: nextValue++ };
        if (x < 0.5) return { op: 'cas', key, from: Math.floor(r() * nextValue) || undefined, to: nextValue++ };
        return { op: 'get', key };
      });
      const model = kvModel<number>();
      fillOutputs(model, sims, (state, input) =>
        input.op === 'get'
          ? state.get(input.key)
          : input.op === 'cas'
            ? state.get(input.key) === input.from
            : 'ok',
      );
      const history = sims.map((s) => s.op);
      const [res, ms] = timed(() => checkLinearizable(model, history, { timeoutMs: 10_000 }));
      console.log(`kv seed ${seed}: 1000 ops / 10 clients accepted in ${ms.toFixed(1)} ms`);
      expect(res.ok).toBe(true);

      const gets = history.filter((op) => op.input.op === 'get' && op.return !== undefined);
      const victim = gets[Math.floor(rand() * gets.length)]!;
      victim.output = -1;
      const bad = checkLinearizable(model, history, { timeoutMs: 10_000 });
      expectRejectedMentioning(model as Model<unknown, KvInput<number>, unknown>, bad, victim);
    });
  }
});
