import { describe, expect, it } from 'vitest';
import { checkLinearizable, kvModel, registerModel } from '../../src/check/index.ts';
import type { KvInput, Model, Operation, RegisterInput } from '../../src/check/index.ts';

/**
 * Partitioned histories are checked by interleaving the partitions in step-limited slices and
 * stopping at the first that fails, so a hard partition seen first cannot spend the whole
 * budget before a refutable one is looked at (Porcupine's kv/c50-bad was answered "unknown").
 */

type KvOp = Operation<KvInput<string>, unknown>;
const kv = kvModel<string>();

/**
 * A linearizable key whose search is expensive: `n` appends, all concurrent, then a read of
 * them in the reverse of the order they are listed in. The search tries the listed order
 * first, so it walks most of the n! orders before finding the one the read saw (n = 7 needs
 * between 10,000 and 30,000 model steps).
 */
function hardKey(key: string, n: number, client0: number): KvOp[] {
  const ops: KvOp[] = [];
  let seen = '';
  for (let i = 0; i < n; i++) {
    ops.push({ client: client0 + i, input: { op: 'append', key, value: `${key}${i}` }, call: 0, return: 100, output: 'ok' });
    seen = `${key}${i}` + seen;
  }
  ops.push({ client: client0 + n, input: { op: 'get', key }, call: 101, return: 102, output: seen });
  return ops;
}

/** A small key that is not linearizable: a read of a value nobody wrote. */
function badKey(key: string, client0: number): KvOp[] {
  return [
    { client: client0, input: { op: 'put', key, value: 'v1' }, call: 0, return: 1, output: 'ok' },
    { client: client0 + 1, input: { op: 'get', key }, call: 2, return: 3, output: 'v2' },
  ];
}

/** A small linearizable key. */
function easyKey(key: string, client0: number): KvOp[] {
  return [
    { client: client0, input: { op: 'put', key, value: 'v1' }, call: 0, return: 1, output: 'ok' },
    { client: client0 + 1, input: { op: 'get', key }, call: 2, return: 3, output: 'v1' },
  ];
}

describe('partitioned checking', () => {
  it('refutes a failing key seen after a hard linearizable key whose search alone exceeds the budget', () => {
    const hard = hardKey('a', 7, 0);
    // The hard key is linearizable, but not within 10,000 model steps...
    const alone = checkLinearizable(kv, hard, { maxSteps: 10_000 });
    expect(alone.ok).toBe('unknown');
    expect(checkLinearizable(kv, hard, { maxSteps: 100_000 }).ok).toBe(true);
    // ...and with it first-seen, the same budget still finds that key "b" fails.
    const bad = badKey('b', 100);
    const res = checkLinearizable(kv, [...hard, ...bad], { maxSteps: 10_000 });
    expect(res.ok).toBe(false);
    if (res.ok !== false) return;
    expect(res.explanation).toContain('(partition 2 of 2, 2 operations)');
    expect(res.explanation).toContain('get("b") -> "v2"');
    expect(res.unorderable).toEqual([bad[1]]);
    expect(res.longestPrefix.every((op) => op.input.key === 'b')).toBe(true);
  });

  it('refutes a failing key between hard keys, each of which alone exceeds the budget', () => {
    const history = [...hardKey('a', 8, 0), ...hardKey('c', 8, 20), ...badKey('b', 100), ...hardKey('d', 8, 40)];
    const res = checkLinearizable(kv, history, { maxSteps: 50_000 });
    expect(res.ok).toBe(false);
    if (res.ok === false) expect(res.explanation).toContain('partition 3 of 4');
  });

  it('answers unknown only when no key failed, naming the undecided keys and where they stood', () => {
    const history = [...hardKey('a', 7, 0), ...easyKey('b', 100)];
    const res = checkLinearizable(kv, history, { maxSteps: 5_000 });
    expect(res.ok).toBe('unknown');
    if (res.ok !== 'unknown') return;
    expect(res.reason).toBe('budget');
    expect(res.explanation).toContain('step budget of 5000 model steps exhausted');
    expect(res.explanation).toContain('No partition failed; 1 of 2 partitions are linearizable, 1 undecided');
    expect(res.explanation).toMatch(/partition 1 \(deepest linearized prefix \d+ of 8 operations\)/);
  });

  it('answers unknown on timeout when every key is hard and linearizable', () => {
    const history = [...hardKey('a', 8, 0), ...hardKey('c', 8, 20)];
    const res = checkLinearizable(kv, history, { timeoutMs: 1 });
    expect(res.ok).toBe('unknown');
    if (res.ok === 'unknown') expect(res.reason).toBe('timeout');
  });

  it('merges the witnesses of keys decided in a different order than they were first seen', () => {
    const hard = hardKey('a', 6, 0);
    const easy = easyKey('b', 100);
    const history = [...hard, ...easy];
    const res = checkLinearizable(kv, history, { maxSteps: 100_000 });
    expect(res.ok).toBe(true);
    if (res.ok !== true) return;
    expect(new Set(res.order)).toEqual(new Set(history));
    // Per key, the witness replays through the model and respects real time.
    let state = kv.init();
    for (const op of res.order) {
      const step = kv.step(state, op.input, op.output, false);
      expect(step.ok).toBe(true);
      state = step.state;
    }
    for (const x of res.order) {
      for (const y of res.order) {
        if (x.return! < y.call) expect(res.order.indexOf(x)).toBeLessThan(res.order.indexOf(y));
      }
    }
  });

  it('a search paused and resumed many times decides exactly as an uninterrupted one', () => {
    // Two hard keys take turns, so each search is cut into slices and resumed many times
    // (each needs 13,000 to 19,000 model steps). The search is deterministic: witness and
    // longest prefix must match the one-go run of the same key alone.
    const getOf = (key: string, output: string): KvOp => ({ client: 9, input: { op: 'get', key }, call: 101, return: 102, output });
    const pendingAppend = (key: string, value: string): KvOp => ({ client: 50, input: { op: 'append', key, value }, call: 0 });
    const variants: ((key: string) => KvOp[])[] = [
      (key) => hardKey(key, 7, 0),
      // Refuted only after trying every order: a read nobody could see.
      (key) => [...hardKey(key, 7, 0).slice(0, 7), getOf(key, `${key}0${key}0`)],
      // Pending appends, one of which the read saw.
      (key) => [
        pendingAppend(key, 'p'),
        ...hardKey(key, 5, 0).slice(0, 5),
        pendingAppend(key, 'q'),
        getOf(key, `${key}4${key}3${key}2${key}1${key}0q`),
      ],
    ];
    let steps = 0;
    const counted: typeof kv = { ...kv, step: (...args) => (steps++, kv.step(...args)) };
    for (const variant of variants) {
      const [a, c] = [variant('a'), variant('c')];
      steps = 0;
      const alone = checkLinearizable(counted, a);
      const stepsAlone = steps;
      expect(alone.ok).not.toBe('unknown');
      steps = 0;
      const res = checkLinearizable(counted, [...a, ...c]);
      expect(res.ok).toBe(alone.ok);
      if (alone.ok === true && res.ok === true) {
        // Resuming neither repeats nor skips work.
        expect(stepsAlone).toBeGreaterThan(10_000);
        expect(steps).toBe(2 * stepsAlone);
        expect(res.order.filter((op) => a.includes(op))).toEqual(alone.order);
        // Key c's witness, op for op the same as key a's.
        expect(res.order.filter((op) => c.includes(op)).map((op) => a[c.indexOf(op)])).toEqual(alone.order);
      } else if (alone.ok === false && res.ok === false) {
        // The first key to fail is the first one seen: both take the same number of steps.
        expect(res.explanation).toContain('partition 1 of 2');
        expect(res.longestPrefix).toEqual(alone.longestPrefix);
        expect(res.unorderable).toEqual(alone.unorderable);
      }
    }
  });

  it('resumed searches over register histories with pending writes match one-go searches step for step', () => {
    // Each history is checked alone and next to an identical copy of itself (a second
    // partition): the two copies take turns, pausing at whatever phase the search is in.
    type RegOp = Operation<RegisterInput<number>, unknown>;
    const reg = registerModel<number>({ initial: 0 });
    let steps = 0;
    const counted: Model<number | undefined, RegisterInput<number>, unknown> = {
      ...reg,
      step: (...args) => (steps++, reg.step(...args)),
      partition: (h) => [h.filter((op) => typeof op.client === 'number'), h.filter((op) => typeof op.client === 'string')],
    };
    let checked = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const history = registerHistory(seed, 400, 8, 0.05);
      if (seed % 2 === 0) {
        // Corrupt a late read: a failing search that has explored a lot first.
        const reads = history.filter((op) => op.input.op === 'read' && op.return !== undefined);
        reads[Math.floor(reads.length * 0.8)]!.output = -1;
      }
      const copy: RegOp[] = history.map((op) => ({ ...op, client: `copy ${op.client}` }));
      steps = 0;
      const alone = checkLinearizable(counted, history);
      const stepsAlone = steps;
      steps = 0;
      const res = checkLinearizable(counted, [...history, ...copy]);
      expect(res.ok).toBe(alone.ok);
      if (alone.ok === true && res.ok === true) {
        expect(steps).toBe(2 * stepsAlone);
        expect(res.order.filter((op) => typeof op.client === 'number')).toEqual(alone.order);
      } else if (alone.ok === false && res.ok === false) {
        expect(res.explanation).toContain('partition 1 of 2');
        expect(res.longestPrefix).toEqual(alone.longestPrefix);
        expect(res.candidates).toEqual(alone.candidates);
      }
      if (stepsAlone > 4 * 2048) checked++;
    }
    expect(checked).toBeGreaterThan(3);
  });
});

/** mulberry32, so a failing seed replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A register history from clients of a truly linearizable register: each operation takes
 * effect at a random instant between its call and return; a pending write took effect or not.
 */
function registerHistory(seed: number, count: number, clients: number, pendingRate: number) {
  const rand = prng(seed);
  const clock = Array.from({ length: clients }, () => Math.floor(rand() * 5));
  const ops: { op: Operation<RegisterInput<number>, unknown>; effect: number | undefined }[] = [];
  for (let k = 0, value = 1; k < count; k++) {
    let c = 0;
    for (let j = 1; j < clients; j++) if (clock[j]! < clock[c]!) c = j;
    const call = clock[c]! + Math.floor(rand() * 4);
    const ret = call + 1 + Math.floor(rand() * 30);
    clock[c] = ret;
    const effect = call + rand() * (ret - call);
    const input: RegisterInput<number> = rand() < 0.4 ? { op: 'write', value: value++ } : { op: 'read' };
    if (input.op === 'write' && rand() < pendingRate) {
      ops.push({ op: { client: c, input, call }, effect: rand() < 0.5 ? effect : undefined });
    } else {
      ops.push({ op: { client: c, input, call, return: ret }, effect });
    }
  }
  let state = 0;
  for (const { op, effect } of [...ops].sort((a, b) => (a.effect ?? 0) - (b.effect ?? 0))) {
    if (effect === undefined) continue;
    if (op.input.op === 'write') state = op.input.value;
    if (op.return !== undefined) op.output = op.input.op === 'read' ? state : 'ok';
  }
  return ops.map((o) => o.op);
}
