/**
 * The memo of configurations known to fail: (set of linearized completed operations, model
 * state, set of pending operations taken). Lookups ask whether a failed configuration with
 * the same completed set and state used a subset of the current pending set.
 *
 * A failing search on a long history stores hundreds of thousands of entries, so they live
 * in flat typed arrays (one growable word pool plus per-entry columns) rather than one small
 * object and typed array each: the per-object version spent most of its time in the GC.
 */
import type { FrontierBitset, SmallBitset } from './bitset.ts';

export class FailedConfigs {
  readonly #bits: FrontierBitset;
  readonly #pending: SmallBitset;
  readonly #pWords: number;
  /** Hash of (completed set, state) → most recent entry with that hash. */
  readonly #heads = new Map<number, number>();
  #count = 0;
  #nextEntry = new Int32Array(1024);
  #stateId = new Int32Array(1024);
  #lo = new Int32Array(1024);
  #len = new Int32Array(1024);
  #offset = new Int32Array(1024);
  #pool = new Uint32Array(4096);
  #used = 0;

  constructor(bits: FrontierBitset, pending: SmallBitset) {
    this.#bits = bits;
    this.#pending = pending;
    this.#pWords = pending.words.length;
  }

  get size(): number {
    return this.#count;
  }

  /** True when a stored failed configuration dominates the current one with state `stateId`. */
  dominates(stateId: number): boolean {
    const bits = this.#bits;
    let e = this.#heads.get(this.#hash(stateId));
    if (e === undefined) return false;
    const width = Math.max(bits.lo, bits.hi) - bits.lo;
    const words = bits.words;
    const pool = this.#pool;
    const pw = this.#pWords;
    const pwords = this.#pending.words;
    for (; e !== -1; e = this.#nextEntry[e]!) {
      if (this.#stateId[e] !== stateId || this.#lo[e] !== bits.lo || this.#len[e] !== width) continue;
      const off = this.#offset[e]!;
      let same = true;
      for (let k = 0; k < width; k++) {
        if (pool[off + k] !== words[bits.lo + k]) {
          same = false;
          break;
        }
      }
      if (!same) continue;
      let subset = true;
      for (let k = 0; k < pw; k++) {
        if ((pool[off + width + k]! & ~pwords[k]!) !== 0) {
          subset = false;
          break;
        }
      }
      if (subset) return true;
    }
    return false;
  }

  /** Records the current configuration (with state `stateId`) as failed. */
  add(stateId: number): void {
    const bits = this.#bits;
    const width = Math.max(bits.lo, bits.hi) - bits.lo;
    const e = this.#count++;
    if (e === this.#lo.length) this.#growEntries();
    const need = this.#used + width + this.#pWords;
    if (need > this.#pool.length) {
      const pool = new Uint32Array(Math.max(need, this.#pool.length * 2));
      pool.set(this.#pool.subarray(0, this.#used));
      this.#pool = pool;
    }
    const off = this.#used;
    this.#pool.set(bits.words.subarray(bits.lo, bits.lo + width), off);
    this.#pool.set(this.#pending.words, off + width);
    this.#used = need;
    this.#stateId[e] = stateId;
    this.#lo[e] = bits.lo;
    this.#len[e] = width;
    this.#offset[e] = off;
    const h = this.#hash(stateId);
    this.#nextEntry[e] = this.#heads.get(h) ?? -1;
    this.#heads.set(h, e);
  }

  /** A 53-bit number mixing the completed set's Zobrist hash with the state id. */
  #hash(stateId: number): number {
    let z = Math.imul(stateId ^ 0x5bd1e995, 0x9e3779b9);
    z = Math.imul(z ^ (z >>> 15), 0x85ebca6b);
    return ((this.#bits.h1 ^ z) >>> 0) * 2097152 + (this.#bits.h2 >>> 11);
  }

  #growEntries(): void {
    const grow = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.#nextEntry = grow(this.#nextEntry);
    this.#stateId = grow(this.#stateId);
    this.#lo = grow(this.#lo);
    this.#len = grow(this.#len);
    this.#offset = grow(this.#offset);
  }
}
