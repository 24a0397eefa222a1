/**
 * Repair after lost messages: each status period a replica says where it is and repeats its
 * votes for slots unfinished for a while; a peer stuck at the same position is sent the stable
 * certificate, the committed slots it missed (each with its commit certificate) and our new view.
 *
 * An idle group has nothing to repair: while every slot is finished and every peer last said it
 * executed what we did, the status goes out every 2nd, 4th, … period, at most every
 * QUIET_MAX_PERIODS (so an idle replica sends a few messages a second, not tens). Anything
 * unfinished, or a peer that says otherwise, brings back one status per period.
 */
import type { BftCore } from './core.ts';
import { isMember, quorumSize } from './quorum.ts';
import { NULL_BATCH } from './normal-case.ts';
import { NULL_DIGEST, type Batch, type BftMessage, type VerifiedProof } from './types.ts';

/** The longest spacing of statuses in a quiet group, in status periods. */
export const QUIET_MAX_PERIODS = 16;

export class Repair {
  /** Status periods between statuses now (1 unless the group is quiet), and periods left to wait. */
  #spacing = 1;
  #wait = 0;

  /** Peers' last reported execution, to send committed slots only to a peer that is stuck. */
  readonly #peerExecuted = new Map<string, { executed: number; repeats: number }>();

  constructor(private readonly core: BftCore) {}

  /** Each status period: retransmit, or, in a quiet group, only every `#spacing` periods. */
  period(): void {
    if (!this.#quiet()) {
      this.#spacing = 1;
      this.#wait = 0;
    } else if (this.#wait > 0) {
      this.#wait--;
      return;
    } else {
      this.#wait = this.#spacing - 1;
      this.#spacing = Math.min(this.#spacing * 2, QUIET_MAX_PERIODS);
    }
    this.retransmit();
  }

  /** Nothing to repair: not changing views, no slot unfinished, no checkpoint or accusation pending, every peer where we are. */
  #quiet(): boolean {
    const c = this.core;
    if (c.changing || c.exclusion.accusations.size > 0 || c.group.pending.length > 0) return false;
    for (const s of c.slots.values()) if (s.seq > c.executed && s.digest !== null) return false;
    if (Math.floor(c.executed / c.cfg.checkpointEvery) * c.cfg.checkpointEvery > c.stable.seq) return false;
    for (const id of c.others()) if (this.#peerExecuted.get(id)?.executed !== c.executed) return false;
    return true;
  }

  /** Say where we are, and repeat our votes for unfinished slots (lost messages). */
  retransmit(): void {
    const c = this.core;
    c.broadcast({ type: 'status', view: c.view, executed: c.executed, stable: c.stable.seq, changing: c.changing });
    if (c.changing) {
      c.viewChanger.resendOwn();
      return;
    }
    for (const s of c.slots.values()) {
      if (s.committed || s.digest === null || s.view !== c.view || c.tickCount - s.since < c.cfg.statusTicks) continue;
      if (c.primary === c.id) {
        c.broadcast({ type: 'prePrepare', view: s.view, seq: s.seq, digest: s.digest }, s.digest === NULL_DIGEST ? undefined : [{ digest: s.digest, batch: s.batch! }]);
      } else if (s.prepares.has(c.id)) {
        c.broadcast({ type: 'prepare', view: s.view, seq: s.seq, digest: s.digest });
      }
      if (s.sentCommit) c.broadcast(c.normal.commit(s.view, s.seq, s.digest));
    }
    const lastBoundary = Math.floor(c.executed / c.cfg.checkpointEvery) * c.cfg.checkpointEvery;
    const own = c.checkpoints.own.get(lastBoundary);
    if (lastBoundary > c.stable.seq && own !== undefined) c.broadcast({ type: 'checkpoint', seq: lastBoundary, digest: own });
    // Accusations not yet acted on are repeated, so a later primary orders them.
    for (const [accused, e] of c.exclusion.accusations) if (isMember(c.group, accused)) c.send(c.others(), { type: 'accuse', accused, evidence: e });
  }

  onStatus(from: string, m: Extract<BftMessage, { type: 'status' }>): void {
    const c = this.core;
    // Help only a peer that is stuck (the same position twice): a peer merely a little behind
    // under load catches up by itself.
    if (c.answers.demand(from, 'status', c.tickCount)) c.exclusion.caught(from, `status flood: more than ${c.answers.floodAt} in ${c.answers.interval} ticks`);
    const prev = this.#peerExecuted.get(from);
    const repeats = prev && prev.executed === m.executed ? prev.repeats + 1 : 0;
    this.#peerExecuted.set(from, { executed: m.executed, repeats });
    if (repeats < 1) return;
    // One answer per peer and interval: a flood of statuses costs no more signatures than one.
    if (!c.answers.allow(from, 'status', c.tickCount)) return;
    if (m.stable < c.stable.seq && c.stable.seq > 0) {
      c.send([from], { type: 'stableCert', seq: c.stable.seq, digest: c.stable.digest, cert: c.stable.cert });
      if (m.executed < c.stable.seq) return;
    }
    if (m.executed < c.executed) {
      // Committed slots it missed, each with its commit certificate.
      const proofs: VerifiedProof[] = [];
      const index = new Map<VerifiedProof, number>();
      const slots: Array<{ seq: number; view: number; digest: string; commits: number[] }> = [];
      const batches: Array<{ digest: string; batch: Batch }> = [];
      for (let seq = m.executed + 1; seq <= c.executed && slots.length < 16; seq++) {
        const s = c.slots.get(seq);
        if (!s || !s.committed || s.digest === null) break;
        const refs: number[] = [];
        for (const v of s.commits.values()) {
          if (v.view !== s.view || v.digest !== s.digest || !v.proof) continue;
          let i = index.get(v.proof);
          if (i === undefined) {
            i = proofs.length;
            proofs.push(v.proof);
            index.set(v.proof, i);
          }
          refs.push(i);
        }
        if (refs.length < quorumSize(c.configFor(seq).members.length)) break;
        slots.push({ seq, view: s.view, digest: s.digest, commits: refs });
        if (s.digest !== NULL_DIGEST) batches.push({ digest: s.digest, batch: s.batch! });
      }
      if (slots.length) c.send([from], { type: 'entries', slots, proofs }, batches);
    }
    // A replica behind our view, or still changing to it, missed our new view.
    if ((m.view < c.view || (m.view === c.view && m.changing)) && !c.changing) c.viewChanger.resendNewView(from);
  }

  onEntries(m: Extract<BftMessage, { type: 'entries' }>): void {
    const c = this.core;
    for (const e of m.slots) {
      if (e.seq <= c.executed || !c.checkpoints.inWindow(e.seq)) continue;
      const config = c.configFor(e.seq);
      const signers = new Set<string>();
      for (const i of e.commits) {
        const p = m.proofs[i];
        if (p && isMember(config, p.from) && p.messages.some((x) => x.type === 'commit' && x.view === e.view && x.seq === e.seq && x.digest === e.digest)) signers.add(p.from);
      }
      if (signers.size < quorumSize(config.members.length)) continue;
      const batch = e.digest === NULL_DIGEST ? NULL_BATCH : c.pool.get(e.digest);
      if (!batch) continue;
      const slot = c.slot(e.seq);
      if (slot.committed) continue;
      // A commit certificate decides the slot, whatever this replica had accepted.
      slot.view = e.view;
      slot.digest = e.digest;
      slot.batch = batch;
      slot.sentCommit = true;
      slot.committed = true;
      for (const i of e.commits) {
        const p = m.proofs[i]!;
        slot.commits.set(p.from, { view: e.view, digest: e.digest, proof: p });
      }
      // Remembered across a crash, so reads after a restart wait until it is executed again.
      c.persistSlot(slot);
    }
    c.normal.executeReady();
  }
}
