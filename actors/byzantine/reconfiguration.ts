/**
 * Reconfiguration: which configuration is in force for each slot still in the window, and the
 * configuration right after each executed boundary (what its checkpoint digest covers). Changes
 * ordered before a boundary (by the admin, or by evidence excluding a replica) take effect for
 * the slots after it.
 */
import type { BftCore, BftInit } from './core.ts';
import { applyConfigCommand, cloneConfig, isMember } from './quorum.ts';
import type { Config } from './types.ts';

export class Configurations {
  /** Configuration in force for slots from `from` on, for the slots still in the window. */
  #history: Array<{ from: number; config: Config }> = [];
  /** Configuration right after each executed boundary (what its checkpoint digest covers). */
  readonly after = new Map<number, Config>();
  /**
   * Configuration in force for each executed boundary, as it stood when the boundary executed
   * (its checkpoint digest covers it too). A copy: later slots executed in the same step may
   * change the live configuration (an admin nonce, a pending change) before the checkpoint is
   * hashed, and every correct replica must hash the same thing.
   */
  readonly before = new Map<number, Config>();
  /** Whether this replica was ever a member (else it is joining, not excluded). */
  everMember = false;

  constructor(private readonly core: BftCore) {}

  /** The configurations from storage; returns the group's configuration. */
  restore(init: BftInit): Config {
    const group = cloneConfig(init.group);
    this.#history = historyAt(init.stable.seq, init.groupBefore ? cloneConfig(init.groupBefore) : group, group);
    this.after.set(init.stable.seq, group);
    return group;
  }

  /** A snapshot of stable checkpoint `seq` was installed with these configurations; returns the group's. */
  installed(seq: number, group: Config, before: Config): Config {
    const g = cloneConfig(group);
    this.everMember ||= isMember(g, this.core.id);
    // Certificates for this checkpoint are counted in the configuration its signers were in.
    this.#history = historyAt(seq, cloneConfig(before), g);
    this.after.set(seq, g);
    return g;
  }

  configFor(seq: number): Config {
    let c = this.#history[0]!.config;
    for (const h of this.#history) if (h.from <= seq) c = h.config;
    return c;
  }

  /** Changes ordered before boundary `seq` take effect for the slots after it. */
  applyAt(seq: number): void {
    const c = this.core;
    this.before.set(seq, cloneConfig(this.configFor(seq)));
    const due = c.group.pending.filter((p) => p.at === seq);
    let next = c.group;
    if (due.length) {
      next = { ...next, pending: next.pending.filter((p) => p.at !== seq) };
      for (const p of due) next = applyConfigCommand(next, p.change);
      next = { ...next, pending: next.pending.filter((p) => p.at !== seq) };
      c.group = next;
      this.everMember ||= isMember(next, c.id);
      this.#history.push({ from: seq + 1, config: next });
      c.emit({ type: 'configChanged', config: cloneConfig(next) });
      if (c.primary === c.id) c.normal.nextSeq = Math.max(c.normal.nextSeq, seq + 1);
    }
    this.after.set(seq, cloneConfig(c.group));
  }

  /** The log is truncated up to `upTo`: forget what only older slots needed. */
  forgetBefore(upTo: number): void {
    for (const s of [...this.after.keys()]) if (s < upTo) this.after.delete(s);
    for (const s of [...this.before.keys()]) if (s < upTo) this.before.delete(s);
    // Keep the configuration in force at the stable checkpoint itself: its certificate is counted in it.
    while (this.#history.length > 1 && this.#history[1]!.from <= upTo) this.#history.shift();
  }
}

/** Configuration history starting at checkpoint `seq`: `before` for that slot, `after` from the next one. */
function historyAt(seq: number, before: Config, after: Config): Array<{ from: number; config: Config }> {
  return before === after ? [{ from: seq + 1, config: after }] : [{ from: seq, config: before }, { from: seq + 1, config: after }];
}

/** The first checkpoint boundary at or after seq. */
export function nextBoundary(seq: number, every: number): number {
  return Math.ceil(seq / every) * every;
}
