/**
 * The set of linearized operations, as a bitset with an incrementally maintained 64-bit
 * Zobrist hash (two 32-bit halves). Operations are numbered in call order, so during a search
 * the set is nearly "everything below some index plus a few more": `lo` (first word that is
 * not all ones) and `hi` (one past the last non-zero word) let a snapshot keep only the words
 * in between, which keeps the memo cache (cache.ts) small on long histories.
 */
export class FrontierBitset {
  readonly words: Uint32Array;
  /** Index of the first word that is not 0xffffffff. */
  lo = 0;
  /** One past the index of the last non-zero word. */
  hi = 0;
  h1 = 0;
  h2 = 0;
  readonly #z1: Uint32Array;
  readonly #z2: Uint32Array;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    this.#z1 = new Uint32Array(size);
    this.#z2 = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      this.#z1[i] = mix32(i * 2 + 1);
      this.#z2[i] = mix32(i * 2 + 2);
    }
  }

  has(i: number): boolean {
    return ((this.words[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** Sets bit i without changing the hash (for bits that are never part of the identity). */
  preset(i: number): void {
    this.#set(i);
  }

  set(i: number): void {
    this.#set(i);
    this.h1 ^= this.#z1[i]!;
    this.h2 ^= this.#z2[i]!;
  }

  clear(i: number): void {
    const w = i >>> 5;
    const words = this.words;
    words[w] = words[w]! & ~(1 << (i & 31));
    this.h1 ^= this.#z1[i]!;
    this.h2 ^= this.#z2[i]!;
    if (w < this.lo) this.lo = w;
    if (w === this.hi - 1) {
      while (this.hi > 0 && words[this.hi - 1] === 0) this.hi--;
    }
  }

  #set(i: number): void {
    const w = i >>> 5;
    const words = this.words;
    words[w] = words[w]! | (1 << (i & 31));
    if (w >= this.hi) this.hi = w + 1;
    if (w === this.lo) {
      while (this.lo < words.length && words[this.lo] === 0xffffffff) this.lo++;
    }
  }
}

/** A plain fixed-size bitset (used for the few pending operations). */
export class SmallBitset {
  readonly words: Uint32Array;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  set(i: number): void {
    this.words[i >>> 5] = this.words[i >>> 5]! | (1 << (i & 31));
  }

  clear(i: number): void {
    this.words[i >>> 5] = this.words[i >>> 5]! & ~(1 << (i & 31));
  }

  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
}

/** splitmix32 finaliser: a fixed, well-spread 32-bit value per input. */
function mix32(x: number): number {
  let z = Math.imul(x, 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
