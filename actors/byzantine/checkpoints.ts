/**
 * Checkpoints and the window: every K seqs each replica signs the digest of its state (app and
 * configuration); 2f+1 matching make it stable, which moves the window, truncates the log and
 * prunes the batch pool. A replica signing another digest for a stable checkpoint is accused.
 */
import type { BftCore } from './core.ts';
import { isMember, quorumSize } from './quorum.ts';
import type { Vote } from './slot.ts';
import type { BftMessage, StableCheckpoint, VerifiedProof } from './types.ts';

/** Batches no slot refers to that the pool keeps (arrived ahead of their pre-prepare). */
export const MAX_POOL_UNREFERENCED = 512;

export class Checkpoints {
  /** Checkpoint votes: seq -> sender -> vote. */
  readonly votes = new Map<number, Map<string, Vote>>();
  /** Our own checkpoint digests. */
  readonly own = new Map<number, string>();

  constructor(private readonly core: BftCore) {}

  /** The runtime executed boundary `seq`: sign its checkpoint. */
  boundaryExecuted(seq: number, appDigest: string): void {
    const c = this.core;
    const config = c.configs.after.get(seq);
    if (!config) return;
    const digest = c.cfg.hashCheckpoint({ seq, appDigest, config, before: c.configBefore(seq) });
    this.own.set(seq, digest);
    this.#record(c.id, seq, digest, undefined);
    c.broadcast({ type: 'checkpoint', seq, digest });
    // Our state disagrees with a certificate the group already holds: it diverged; fetch it.
    if (c.stable.seq === seq && c.stable.digest !== digest) c.transfer.begin(c.stable);
  }

  /** Our own signed checkpoint vote: its proof, for certificates. */
  signed(m: Extract<BftMessage, { type: 'checkpoint' }>, proof: VerifiedProof): void {
    const c = this.core;
    const v = this.votes.get(m.seq)?.get(c.id);
    if (v && v.digest === m.digest) v.proof ??= proof;
    // Our own vote completes the stable certificate we may already hold (it must prove itself to others).
    if (c.stable.seq === m.seq && c.stable.digest === m.digest && !c.stable.cert.some((p) => p.from === c.id)) {
      c.stable = { ...c.stable, cert: [...c.stable.cert, proof] };
      c.emit({ type: 'persist', stable: c.stable });
    }
  }

  onCheckpoint(from: string, m: Extract<BftMessage, { type: 'checkpoint' }>, proof: VerifiedProof | undefined): void {
    const c = this.core;
    if (m.seq % c.cfg.checkpointEvery !== 0 || m.seq === 0) return;
    if (m.seq < c.stable.seq) return;
    if (m.seq === c.stable.seq) {
      if (m.digest !== c.stable.digest && proof && isMember(c.configFor(m.seq), from)) {
        c.exclusion.accuse(from, { kind: 'checkpoint', bad: proof, cert: c.stable.cert }, true);
      } else if (m.digest === c.stable.digest && proof && !c.stable.cert.some((p) => p.from === from)) {
        c.stable = { ...c.stable, cert: [...c.stable.cert, proof] };
      }
      return;
    }
    if (m.seq > c.stable.seq + 4 * c.cfg.windowSize) return;
    this.#record(from, m.seq, m.digest, proof);
  }

  #record(from: string, seq: number, digest: string, proof: VerifiedProof | undefined): void {
    let votes = this.votes.get(seq);
    if (!votes) this.votes.set(seq, (votes = new Map()));
    const prev = votes.get(from);
    if (prev && prev.digest === digest) return;
    if (prev && prev.digest !== digest) return; // a replica changing its digest: the stable check below catches a liar
    votes.set(from, { view: 0, digest, proof });
    const config = this.core.configFor(seq);
    const cert: VerifiedProof[] = [];
    let count = 0;
    for (const [id, v] of votes) {
      if (v.digest !== digest || !isMember(config, id)) continue;
      count++;
      if (v.proof) cert.push(v.proof);
    }
    if (count >= quorumSize(config.members.length)) this.adoptStable({ seq, digest, cert });
  }

  /** A stable checkpoint: the window moves and the log before it is truncated. */
  adoptStable(stable: StableCheckpoint): void {
    const c = this.core;
    if (stable.seq <= c.stable.seq) return;
    c.stable = stable;
    c.emit({ type: 'persist', stable });
    // Replicas that signed another digest for this checkpoint are faulty (or diverged).
    const votes = this.votes.get(stable.seq);
    if (votes) {
      for (const [id, v] of votes) {
        if (v.digest !== stable.digest && v.proof && id !== c.id) c.exclusion.accuse(id, { kind: 'checkpoint', bad: v.proof, cert: stable.cert }, true);
      }
    }
    for (const s of [...this.votes.keys()]) if (s < stable.seq) this.votes.delete(s);
    c.exclusion.exec.prune(stable.seq);
    const own = this.own.get(stable.seq);
    if (c.executed >= stable.seq && own !== undefined && own !== stable.digest) c.transfer.begin(stable);
    this.#collectGarbage();
    c.replayDeferred();
  }

  #collectGarbage(): void {
    const c = this.core;
    const upTo = Math.min(c.stable.seq, c.executed);
    let dropped = false;
    for (const s of [...c.slots.keys()]) {
      if (s <= upTo) {
        c.slots.delete(s);
        dropped = true;
      }
    }
    for (const s of [...this.own.keys()]) if (s < upTo) this.own.delete(s);
    c.configs.forgetBefore(upTo);
    if (dropped) c.emit({ type: 'persist', dropSlotsUpTo: upTo });
    c.emit({ type: 'dropSnapshotsBelow', seq: upTo });
    this.prunePool();
  }

  /** Drops batches no slot or view change refers to, keeping the newest few (they may be ahead of their pre-prepare). */
  prunePool(): void {
    const c = this.core;
    const live = new Set<string>();
    for (const s of c.slots.values()) {
      if (s.digest) live.add(s.digest);
      if (s.waiting) live.add(s.waiting.digest);
      if (s.cert) live.add(s.cert.digest);
    }
    for (const d of c.viewChanger.preparedDigests()) live.add(d);
    let spare = MAX_POOL_UNREFERENCED / 2;
    for (const d of [...c.pool.keys()].reverse()) {
      if (live.has(d)) continue;
      if (spare-- > 0) continue;
      c.pool.delete(d);
    }
  }

  /**
   * Seqs a replica votes in: after the stable checkpoint, within the window, and no further
   * than one checkpoint interval past the last boundary it executed, so the configuration in
   * force for the seq is known (changes take effect at boundaries).
   */
  inWindow(seq: number): boolean {
    const c = this.core;
    const K = c.cfg.checkpointEvery;
    return seq > c.stable.seq && seq <= c.stable.seq + c.cfg.windowSize && seq <= Math.floor(c.executed / K) * K + K;
  }

  /** Checks a vote's sender and seq; defers votes for seqs just ahead of the window. */
  admit(from: string, m: BftMessage, proof: VerifiedProof | undefined, seq: number): boolean {
    const c = this.core;
    if (seq <= c.stable.seq || seq <= c.executed) return false;
    if (!this.inWindow(seq)) {
      if (seq <= c.stable.seq + 4 * c.cfg.windowSize) c.defer(from, m, proof);
      return false;
    }
    return isMember(c.configFor(seq), from);
  }
}
