/**
 * What one member may make another do. A Byzantine member's messages carry valid signatures,
 * so signature checks alone do not bound the work it causes: a bundle of thousands of
 * statuses, or a view change quoting thousands of signed proofs, costs the receiver a
 * signature per answer or a verification per proof. Here, as pure functions and counters:
 *
 * - shape limits that follow from the protocol (checked before any nested signature): one
 *   status per bundle, at most `windowSize` prepared slots after the stable checkpoint, one
 *   certificate per slot, certificates no larger than the group, no proof nobody refers to;
 * - answer budgets: at most one answer of a kind to a peer per interval (later demands in
 *   the interval are dropped; the peer's next periodic status brings them back);
 * - a demand rate above what any correct replica sends is reported, once per interval, as
 *   misbehaviour (counted, not evidence: rates depend on local clocks and tuning, so other
 *   replicas could not check the verdict).
 */
import type { BftMessage } from './types.ts';

export interface ShapeLimits {
  /** Distinct signers possible (every key the receiver knows): bounds certificate sizes. */
  signers: number;
  windowSize: number;
}

/**
 * Most messages a correct replica's bundle holds: prePrepare, prepare and commit per slot over
 * a window that may move (and a view that may change) within one bundle, a few checkpoints, one status.
 */
export function maxBundleMessages(l: ShapeLimits): number {
  return 8 * l.windowSize + 16;
}

/** Why a bundle holds more than the protocol ever sends, or null. Cheap: no signature involved. */
export function bundleAbuse(messages: BftMessage[], l: ShapeLimits): string | null {
  if (messages.length > maxBundleMessages(l)) return `bundle: ${messages.length} messages, at most ${maxBundleMessages(l)}`;
  let statuses = 0;
  for (const m of messages) {
    // A correct replica coalesces its statuses: the latest supersedes the rest.
    if (m.type === 'status' && ++statuses > 1) return 'bundle: more than one status';
    const problem = messageShape(m, l);
    if (problem) return problem;
  }
  return null;
}

/** Size limits of the messages that quote proofs, checked before any quoted proof is verified. */
export function messageShape(m: BftMessage, l: ShapeLimits): string | null {
  switch (m.type) {
    case 'viewChange': {
      if (m.stable.cert.length > l.signers) return `view change: stable certificate of ${m.stable.cert.length} proofs`;
      if (m.prepared.length > l.windowSize) return `view change: ${m.prepared.length} prepared slots, window ${l.windowSize}`;
      const used = new Uint8Array(m.proofs.length);
      for (const i of m.stable.cert) used[i] = 1;
      for (const c of m.prepared) {
        // The primary's pre-prepare and one prepare per other member.
        if (c.prepares.length >= l.signers) return `view change: seq ${c.seq} certificate of ${c.prepares.length + 1} proofs`;
        used[c.prePrepare] = 1;
        for (const i of c.prepares) used[i] = 1;
      }
      return used.every((u) => u === 1) ? null : 'view change: a proof nobody refers to';
    }
    case 'newView':
      if (m.viewChanges.length > l.signers) return `new view: ${m.viewChanges.length} view changes`;
      return m.prePrepares.length > l.windowSize ? `new view: ${m.prePrepares.length} slots, window ${l.windowSize}` : null;
    case 'entries': {
      if (m.slots.length > l.windowSize) return `entries: ${m.slots.length} slots, window ${l.windowSize}`;
      const used = new Uint8Array(m.proofs.length);
      for (const s of m.slots) {
        if (s.commits.length > l.signers) return `entries: seq ${s.seq} certificate of ${s.commits.length} proofs`;
        for (const i of s.commits) used[i] = 1;
      }
      return used.every((u) => u === 1) ? null : 'entries: a proof nobody refers to';
    }
    case 'stableCert':
      return m.cert.length > l.signers ? `stable certificate: ${m.cert.length} proofs` : null;
    case 'accuse':
      // Checkpoint and execution evidence quote a certificate: one proof per signer at most.
      return (m.evidence.kind === 'checkpoint' || m.evidence.kind === 'execution') && m.evidence.cert.length > l.signers ? `evidence: certificate of ${m.evidence.cert.length} proofs` : null;
    default:
      return null;
  }
}

/**
 * Per peer and kind of demand: at most one answer per interval, and a count of demands so a
 * rate above `floodAt` per interval is reported once. Keyed by authenticated senders only
 * (members whose keys the runtime knows), so its size is bounded by the group.
 */
export class AnswerBudget {
  readonly #answered = new Map<string, number>();
  readonly #demands = new Map<string, { window: number; count: number }>();

  constructor(
    /** Interval in the caller's time unit (ticks in the core, ms in the runtime). */
    readonly interval: number,
    /** Demands of one kind per interval that no correct replica exceeds. */
    readonly floodAt: number,
  ) {}

  /** Whether to answer `peer`'s demand of `kind` now: at most once per interval. */
  allow(peer: string, kind: string, now: number): boolean {
    const key = `${peer}\u0000${kind}`;
    const last = this.#answered.get(key);
    if (last !== undefined && now - last < this.interval) return false;
    this.#answered.set(key, now);
    return true;
  }

  /** Counts one demand; true exactly when this one makes the interval's count exceed `floodAt` (report it once). */
  demand(peer: string, kind: string, now: number): boolean {
    const key = `${peer}\u0000${kind}`;
    const window = Math.floor(now / this.interval);
    let d = this.#demands.get(key);
    if (!d || d.window !== window) this.#demands.set(key, (d = { window, count: 0 }));
    return ++d.count === this.floodAt + 1;
  }
}
