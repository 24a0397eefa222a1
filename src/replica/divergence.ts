/**
 * Crash model: replicas compare state digests at equal applied index, so a divergence (an app
 * that is not deterministic, a bug) is reported instead of silent. Every replica records its
 * digest at each applied index (the executor computes it for every request's reply anyway);
 * the leader sends its digest (wire kind 'digest', signed) at each index that is a multiple of
 * `every`, and, when the group goes quiet, at its last applied index once `idleMs` passed, so
 * a divergence is reported within about a second even without further traffic. A follower
 * compares the leader's digest with its own at that index, now or when it gets there. A
 * difference sets `diverged` (once: the first index where it was seen) and the replica stops
 * serving reads from that state.
 */

export const DIGEST_EVERY = 16;
export const DIGEST_IDLE_MS = 1_000;
const KEEP = 64;
const HEX64 = /^[0-9a-f]{64}$/;

/** Where this replica's state was seen to differ from the leader's. */
export interface Divergence {
  index: number;
  /** This replica's digest at `index`. */
  digest: string;
  leader: string;
  leaderDigest: string;
}

export class DivergenceWatch {
  readonly #mine = new Map<number, string>();
  #claim: { from: string; index: number; digest: string } | undefined;
  diverged: Divergence | undefined;

  #announced = { index: 0, at: 0 };

  constructor(
    readonly every = DIGEST_EVERY,
    readonly idleMs = DIGEST_IDLE_MS,
  ) {}

  /** As leader: whether to send the digest just recorded at `index` (a multiple of `every`). */
  announceApplied(index: number, now: number): boolean {
    if (index % this.every !== 0) return false;
    this.#announced = { index, at: now };
    return true;
  }

  /** As leader, on a tick: whether to send the digest at `applied`, which no announcement covered yet. */
  announceIdle(applied: number, now: number): boolean {
    if (applied <= this.#announced.index || now - this.#announced.at < this.idleMs) return false;
    this.#announced = { index: applied, at: now };
    return true;
  }

  /** Records this replica's digest at `index`; true when that shows a new divergence. */
  record(index: number, digest: string): boolean {
    this.#mine.set(index, digest);
    if (this.#mine.size > KEEP) this.#mine.delete(this.#mine.keys().next().value!);
    return this.#check();
  }

  /** The leader's digest at `index`; false for a malformed body. True in `diverged` when it differs. */
  claim(from: string, body: unknown): 'malformed' | 'ok' | 'diverged' {
    const b = body as { index?: unknown; digest?: unknown } | null;
    if (!b || typeof b !== 'object' || !Number.isSafeInteger(b.index) || typeof b.digest !== 'string' || !HEX64.test(b.digest)) return 'malformed';
    const claim = { from, index: b.index as number, digest: b.digest };
    if (this.#claim === undefined || claim.index >= this.#claim.index || !this.#mine.has(this.#claim.index)) this.#claim = claim;
    return this.#check() ? 'diverged' : 'ok';
  }

  #check(): boolean {
    const c = this.#claim;
    if (this.diverged !== undefined || c === undefined) return false;
    const mine = this.#mine.get(c.index);
    if (mine === undefined) return false;
    this.#claim = undefined;
    if (mine === c.digest) return false;
    this.diverged = { index: c.index, digest: mine, leader: c.from, leaderDigest: c.digest };
    return true;
  }
}
