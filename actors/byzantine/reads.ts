/**
 * Unordered reads: answered once this replica executed everything it saw prepared (or voted
 * in before a restart), so a read never misses a write the client may have seen complete.
 */
import type { BftCore } from './core.ts';

export class Reads {
  #waiting: Array<{ ids: string[]; bound: number; since: number }> = [];

  constructor(private readonly core: BftCore) {}

  read(ids: string[]): void {
    const c = this.core;
    let bound = c.executed;
    // Slots from storage count too: after a restart this replica may have executed them before.
    for (const s of c.slots.values()) if ((s.sentCommit || s.committed || s.cert || s.recovered) && s.seq > bound) bound = s.seq;
    if (bound <= c.executed) c.emit({ type: 'readsReady', ids });
    else this.#waiting.push({ ids, bound, since: c.tickCount });
  }

  /** After execution: the reads now answerable. */
  answer(): void {
    const c = this.core;
    if (this.#waiting.length === 0) return;
    const ready = this.#waiting.filter((r) => r.bound <= c.executed);
    if (ready.length === 0) return;
    this.#waiting = this.#waiting.filter((r) => r.bound > c.executed);
    c.emit({ type: 'readsReady', ids: ready.flatMap((r) => r.ids) });
  }

  /** Each tick: reads waiting longer than requests are remembered are dropped (the client retries). */
  expire(): void {
    const c = this.core;
    this.#waiting = this.#waiting.filter((r) => c.tickCount - r.since <= c.cfg.forgetRequestTicks);
  }
}
