/**
 * When backups blame the primary in the normal case: a request held past the request timeout,
 * a pre-prepare that could not be vouched for in time, or a primary that orders requests just
 * under the timeout (slow on purpose, after Aardvark). Any of these starts a view change.
 */
import type { BftCore } from './core.ts';

export class PrimaryWatch {
  /** Ticks from knowing a request to the primary's pre-prepare of it, recent ones: a primary slow on purpose shows here. */
  #orderingDelays: number[] = [];

  constructor(private readonly core: BftCore) {}

  /** Each tick in the normal case: request timers. */
  check(): void {
    const c = this.core;
    const { known, barred } = c.requests;
    barred.prune(c.tickCount);
    let expired = false;
    for (const [key, k] of known) {
      const age = c.tickCount - k.since;
      if (c.tickCount - k.born > c.cfg.forgetRequestTicks) known.delete(key);
      else if (age > c.cfg.requestTimeoutTicks && !(k.item.k === 'req' && barred.suspected(k.item.client, c.tickCount))) expired = true;
    }
    // A pre-prepare that could not be vouched for in time blames the primary, whoever's requests it
    // holds: a primary that puts made-up versions of pending requests in its batches stalls them so.
    for (const s of c.normal.waiting) {
      if (s.waiting && s.waiting.view === c.view && c.slots.get(s.seq) === s && c.tickCount - s.waiting.since > c.cfg.requestTimeoutTicks) expired = true;
    }
    // A primary whose own requests do not execute in time gives up its view too (after a
    // reconfiguration it may be leading a view nobody else is in).
    if (expired || (this.#tooSlow() && c.primary !== c.id)) c.viewChanger.start(c.view + 1);
  }

  noteOrderingDelay(ticks: number): void {
    this.#orderingDelays.push(ticks);
    if (this.#orderingDelays.length > 32) this.#orderingDelays.shift();
  }

  /** A new view is being sought: the next primary starts with a clean record. */
  reset(): void {
    this.#orderingDelays = [];
  }

  /**
   * A primary that orders requests just under the request timeout never trips it, yet crawls.
   * Backups watch how long the requests they hold wait for a pre-prepare (after Aardvark): when
   * the median of the recent ones passes half the timeout, they vote the primary out.
   */
  #tooSlow(): boolean {
    const d = this.#orderingDelays;
    if (d.length < 8) return false;
    const median = [...d].sort((a, b) => a - b)[d.length >> 1]!;
    return median > this.core.cfg.requestTimeoutTicks / 2;
  }
}
