/**
 * State transfer: a replica behind a stable checkpoint whose slots are gone elsewhere (or whose
 * state contradicts the certificate) fetches that checkpoint's state from the replicas that
 * signed it. The runtime fetches and installs the snapshot; this decides what and from whom.
 */
import type { BftCore } from './core.ts';
import { cloneConfig, weakQuorum } from './quorum.ts';
import type { BftMessage, Config, StableCheckpoint } from './types.ts';
import { checkCheckpointCert } from './view-change.ts';

export class StateTransfer {
  /** The checkpoint being fetched, and who vouched for it (they should hold its state). */
  #target: { seq: number; digest: string; asked: number; from: string[] } | undefined;
  /** Ticks executing made no progress while behind the stable checkpoint. */
  stuckTicks = 0;

  constructor(private readonly core: BftCore) {}

  get active(): boolean {
    return this.#target !== undefined;
  }

  onStableCert(m: Extract<BftMessage, { type: 'stableCert' }>): void {
    const c = this.core;
    if (m.seq <= c.stable.seq || m.seq % c.cfg.checkpointEvery !== 0) return;
    const cert = { seq: m.seq, digest: m.digest, cert: m.cert };
    if (checkCheckpointCert(m.seq, m.digest, m.cert, c.configFor(m.seq))) return c.checkpoints.adoptStable(cert);
    // f+1 of the members we know vouch for it: enough to fetch the state (even across
    // reconfigurations we missed), not to become our stable checkpoint.
    // A newer one replaces a target being fetched: replicas keep only their latest snapshots, so
    // an older target may be gone everywhere (a replica that was down across a removal).
    if (c.executed < m.seq && (!this.#target || this.#target.seq < m.seq) && checkCheckpointCert(m.seq, m.digest, m.cert, c.group, weakQuorum(c.group.members.length))) this.begin(cert);
  }

  /** Each tick: behind a stable checkpoint with the slots before it gone, fetch its state. */
  check(): void {
    const c = this.core;
    if (this.#target) {
      // A newer stable checkpoint replaces the target (replicas keep only their latest snapshots).
      if (this.#target.seq < c.stable.seq) this.begin(c.stable);
      else if (c.tickCount - this.#target.asked > c.cfg.viewChangeTimeoutTicks) this.#ask();
      return;
    }
    if (c.executed >= c.stable.seq) return;
    const next = c.slots.get(c.executed + 1);
    if (next?.committed && next.batch) return;
    if (++this.stuckTicks >= 3) this.begin(c.stable);
  }

  begin(stable: StableCheckpoint): void {
    const c = this.core;
    if (stable.seq === 0) return;
    this.#target = { seq: stable.seq, digest: stable.digest, asked: c.tickCount, from: stable.cert.map((p) => p.from).filter((id) => id !== c.id) };
    this.#ask();
  }

  #ask(): void {
    const c = this.core;
    const t = this.#target!;
    t.asked = c.tickCount;
    const candidates = t.from.length ? t.from : c.others();
    c.emit({ type: 'fetchState', seq: t.seq, digest: t.digest, from: candidates });
  }

  /** The runtime installed the snapshot of stable checkpoint `seq`. */
  installed(seq: number, digest: string, group: Config, before: Config): void {
    const c = this.core;
    if (!this.#target || this.#target.seq !== seq || this.#target.digest !== digest) return;
    this.#target = undefined;
    c.executed = seq;
    c.group = c.configs.installed(seq, group, before);
    c.checkpoints.own.set(seq, digest);
    c.emit({ type: 'configChanged', config: cloneConfig(c.group) });
    for (const s of [...c.slots.keys()]) if (s <= seq) c.slots.delete(s);
    c.normal.executeReady();
    c.replayDeferred();
  }
}
