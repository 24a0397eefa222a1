import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/sim/index.ts';

describe('Prng', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const seqA = Array.from({ length: 100 }, () => a.nextUint32());
    const seqB = Array.from({ length: 100 }, () => b.nextUint32());
    const seqC = Array.from({ length: 100 }, () => c.nextUint32());
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
  });

  it('accepts string seeds', () => {
    expect(new Prng('abc').next()).toBe(new Prng('abc').next());
    expect(new Prng('abc').next()).not.toBe(new Prng('abd').next());
  });

  it('forks streams that depend on the label and seed, not on parent usage', () => {
    const p1 = new Prng(7);
    const p2 = new Prng(7);
    for (let i = 0; i < 10; i++) p2.next();
    expect(p1.fork('net').nextUint32()).toBe(p2.fork('net').nextUint32());
    expect(p1.fork('net').nextUint32()).not.toBe(p1.fork('disk').nextUint32());
  });

  it('stays within bounds and looks uniform', () => {
    const p = new Prng(1);
    let sum = 0;
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const x = p.next();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
      const k = p.int(10);
      counts[k] = counts[k]! + 1;
    }
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.02);
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(250);
    for (let i = 0; i < 1000; i++) {
      const v = p.intBetween(-3, 3);
      expect(v >= -3 && v <= 3 && Number.isInteger(v)).toBe(true);
    }
  });

  it('shuffles into a permutation and rejects bad arguments', () => {
    const p = new Prng(3);
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = p.shuffle(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    expect(() => p.int(0)).toThrow(RangeError);
    expect(() => p.pick([])).toThrow(RangeError);
    expect(p.bytes(7)).toHaveLength(7);
  });
});
