/**
 * The normal case: the primary of the view pre-prepares a batch at a sequence number; backups
 * that hold every request of the batch (each received from its client, or vouched for: see
 * request-pool.ts) prepare; a replica with the pre-prepare and 2f matching prepares is prepared
 * and commits; with 2f+1 commits the batch is committed and executes in order.
 */
import { canonicalEqual } from '../../src/codec/index.ts';
import type { BftCore } from './core.ts';
import { checkEvidence } from './evidence.ts';
import { isMember, primaryOf, quorumSize, weakQuorum } from './quorum.ts';
import { nextBoundary } from './reconfiguration.ts';
import { itemKey, vouched } from './request-pool.ts';
import type { Slot } from './slot.ts';
import { NULL_DIGEST, type Batch, type BatchItem, type BftMessage, type VerifiedProof } from './types.ts';

export const NULL_BATCH: Batch = { time: 0, items: [] };

export class NormalCase {
  /** Slots whose pre-prepare waits for its batch or requests. */
  readonly waiting = new Set<Slot>();
  /** Primary: the next seq to pre-prepare. */
  nextSeq = 0;
  /** The primary should order a noop (the app's delayed transitions are due, or genesis). */
  noopWanted = false;

  constructor(private readonly core: BftCore) {}

  /** Primary: orders what is queued. */
  flush(): void {
    const c = this.core;
    if (c.phase !== 'normal' || c.primary !== c.id) return;
    // Genesis: order a noop so the app (and its replicated time) starts with the group, as
    // the crash model's first leader does, not at the first request.
    if (c.executed === 0 && c.stable.seq === 0 && this.nextSeq <= 1) this.noopWanted = true;
    for (;;) {
      const seq = Math.max(this.nextSeq, c.executed + 1, c.stable.seq + 1);
      if (!c.checkpoints.inWindow(seq) || c.slots.get(seq)?.digest) return;
      const items = this.#takeQueued(seq);
      if (items.length === 0) return;
      const batch: Batch = { time: c.now, items };
      this.nextSeq = seq + 1;
      this.#propose(seq, batch);
    }
  }

  /** This replica's own signed pre-prepare or vote: its proof, for certificates. */
  signed(m: Extract<BftMessage, { type: 'prePrepare' | 'prepare' | 'commit' }>, proof: VerifiedProof): void {
    const c = this.core;
    if (m.type === 'prePrepare') {
      const s = c.slots.get(m.seq);
      if (s && s.view === m.view && s.digest === m.digest && !s.ppProof) {
        s.ppProof = proof;
        if (this.#refreshCert(s)) c.persistSlot(s);
        this.checkPrepared(s);
      }
    } else {
      const v = c.slots.get(m.seq)?.[m.type === 'prepare' ? 'prepares' : 'commits'].get(c.id);
      if (v && v.view === m.view && v.digest === m.digest) v.proof ??= proof;
      if (m.type === 'commit' && m.exec) c.exclusion.recordExec(c.id, m.exec, proof);
    }
  }

  onPrePrepare(from: string, m: Extract<BftMessage, { type: 'prePrepare' }>, proof: VerifiedProof | undefined): void {
    const c = this.core;
    if (m.view > c.view || (m.view === c.view && c.changing)) return c.defer(from, m, proof);
    if (m.view < c.view) return;
    if (!c.checkpoints.admit(from, m, proof, m.seq)) return;
    if (primaryOf(c.configFor(m.seq), m.view) !== from) return c.exclusion.caught(from, `pre-prepare from a non-primary for seq ${m.seq}`);
    const planned = c.viewChanger.plan.get(m.seq);
    if (planned !== undefined && planned !== m.digest) return c.exclusion.caught(from, `pre-prepare for seq ${m.seq} contradicts its new view`);
    const slot = c.slot(m.seq);
    // A committed slot is decided: nothing may change its batch.
    if (slot.committed) return;
    if (slot.view === m.view && slot.digest !== null) {
      if (slot.digest !== m.digest && slot.ppProof && proof) c.exclusion.accuse(from, { kind: 'equivocation', a: slot.ppProof, b: proof }, true);
      else if (slot.digest === m.digest && !slot.ppProof && proof) {
        // A retransmission brings the proof we lacked (after a restart): the certificate can form.
        slot.ppProof = proof;
        c.persistSlot(slot);
        this.checkPrepared(slot);
      }
      return;
    }
    if (slot.waiting && slot.waiting.view === m.view && slot.waiting.digest !== m.digest && slot.waiting.proof && proof) {
      c.exclusion.accuse(from, { kind: 'equivocation', a: slot.waiting.proof, b: proof }, true);
      return;
    }
    // The tick it started waiting in this view: a slot not vouched for within the request timeout blames the primary.
    const since = slot.waiting && slot.waiting.view === m.view ? slot.waiting.since : c.tickCount;
    slot.waiting = { view: m.view, digest: m.digest, proof, since };
    this.waiting.add(slot);
    this.#tryAccept(slot);
  }

  /** A request arrived: pre-prepares that waited for it may go on (only those: this runs per request). */
  retryWaiting(): void {
    for (const s of [...this.waiting]) {
      if (!s.waiting || this.core.slots.get(s.seq) !== s) this.waiting.delete(s);
      else this.#tryAccept(s);
    }
  }

  /** Accepts a waiting pre-prepare once its batch and every request in it are here. */
  #tryAccept(slot: Slot): void {
    const c = this.core;
    const w = slot.waiting;
    if (!w || w.view !== c.view || c.changing) return;
    if (slot.committed) {
      slot.waiting = undefined;
      return;
    }
    const batch = w.digest === NULL_DIGEST ? NULL_BATCH : c.pool.get(w.digest);
    if (!batch) return;
    // A batch the new view re-proposes was checked by a quorum when it prepared in an earlier view:
    // its requests need not be here again (their clients may have stopped retrying).
    let verdict = c.viewChanger.plan.get(slot.seq) === w.digest ? 'ok' : this.#judgeBatch(batch, slot.seq, w.view);
    // Requests we never received, or received in another version (an equivocating client), are
    // vouched for by the primary plus f other backups' prepares: see request-pool.ts.
    if (verdict === 'wait' && vouched(this.#preparesFor(slot, w.view, w.digest), c.configFor(slot.seq))) {
      verdict = 'ok';
      // Only now is a version contrary to ours the client's own (f+1 replicas hold it, the primary
      // among them): the client equivocated. The primary's word alone suspects nobody.
      c.requests.suspectContended(batch);
    }
    if (verdict === 'wait') return;
    slot.waiting = undefined;
    if (verdict !== 'ok') return c.exclusion.caught(c.primary, `batch for seq ${slot.seq}: ${verdict}`);
    this.acceptPrePrepare(slot, w.view, w.digest, batch, w.proof);
    c.persistSlot(slot);
    const vote = { type: 'prepare' as const, view: w.view, seq: slot.seq, digest: w.digest };
    slot.prepares.set(c.id, { view: w.view, digest: w.digest, proof: undefined });
    c.broadcast(vote);
    this.checkPrepared(slot);
  }

  /** Prepares from other backups (not the primary, not us) for this view and digest. */
  #preparesFor(slot: Slot, view: number, digest: string): number {
    const c = this.core;
    const config = c.configFor(slot.seq);
    const primary = primaryOf(config, view);
    let n = 0;
    for (const [id, v] of slot.prepares) if (id !== primary && id !== c.id && v.view === view && v.digest === digest && isMember(config, id)) n++;
    return n;
  }

  acceptPrePrepare(slot: Slot, view: number, digest: string, batch: Batch, proof: VerifiedProof | undefined): void {
    const c = this.core;
    slot.view = view;
    slot.digest = digest;
    slot.batch = batch;
    slot.ppProof = proof;
    slot.sentCommit = false;
    slot.since = c.tickCount;
    const primary = view === c.view && c.primary === c.id;
    for (const item of batch.items) {
      const key = itemKey(item);
      const k = key === undefined ? undefined : c.requests.known.get(key);
      if (k && !k.proposed && !primary) c.primaryWatch.noteOrderingDelay(c.tickCount - k.since);
      if (k) k.proposed = true;
      if (k && primary) k.ownProposal = true;
      if (item.k === 'evidence') c.exclusion.evidenceProposed.add(item.accused);
    }
  }

  /** Whether a backup may prepare this batch: 'ok', 'wait' (requests not here yet), or why not. */
  #judgeBatch(batch: Batch, seq: number, view: number): 'ok' | 'wait' | string {
    const c = this.core;
    if (batch.items.length > c.cfg.maxBatch + 8) return 'too many items';
    if (batch !== NULL_BATCH && batch.time > c.now + c.cfg.maxClockSkewMs) return `time ${batch.time} is ahead of ours (${c.now})`;
    const config = c.configFor(seq);
    const barred = c.requests.barred;
    let wait = false;
    for (const item of batch.items) {
      switch (item.k) {
        case 'req': {
          if (c.alreadyApplied(item.client, item.session, item.seq)) break;
          const k = c.requests.known.get(itemKey(item)!);
          // Another version than ours is no proof against the primary: the client may have sent
          // it (requests are not signed). It waits for vouchers like a request we never received,
          // and the client is suspected only once the version is vouched for (suspectContended)
          // or f+1 distinct primaries contradicted us (request-pool.ts). A client proven to
          // equivocate may have sent any version: the primary's is taken without vouchers.
          if (!k) wait = true;
          else if (!canonicalEqual((k.item as typeof item).event as never, item.event as never)) {
            k.contended = true;
            const until = c.tickCount + c.cfg.forgetRequestTicks;
            if (barred.contradicted(item.client, primaryOf(config, view), until, c.tickCount, weakQuorum(config.members.length))) barred.suspect(item.client, until);
            if (!barred.suspected(item.client, c.tickCount)) wait = true;
          }
          break;
        }
        case 'read':
          if (!c.requests.known.has(`read:${item.client}:${item.nonce}`)) wait = true;
          break;
        case 'noop':
          break;
        case 'cfg':
          if (item.cmd.from !== 'admin' || !item.cmd.messages?.some((m) => m.type === 'reconfigure')) return 'reconfiguration not signed by the admin';
          break;
        case 'evidence': {
          const problem = checkEvidence(item.accused, item.proof, config);
          if (problem) return `bad evidence against ${item.accused}: ${problem}`;
          break;
        }
      }
    }
    return wait ? 'wait' : 'ok';
  }

  onVote(from: string, m: Extract<BftMessage, { type: 'prepare' | 'commit' }>, proof: VerifiedProof | undefined): void {
    const c = this.core;
    if (m.view > c.view) return c.defer(from, m, proof);
    if (m.view < c.view) return;
    // A late commit (its slot already executed here) still brings its execution claim.
    if (m.type === 'commit' && m.exec && proof) c.exclusion.recordExec(from, m.exec, proof);
    if (!c.checkpoints.admit(from, m, proof, m.seq)) return;
    const slot = c.slot(m.seq);
    const votes = m.type === 'prepare' ? slot.prepares : slot.commits;
    const prev = votes.get(from);
    if (prev && prev.view === m.view && prev.digest !== m.digest) {
      if (prev.proof && proof) c.exclusion.accuse(from, { kind: 'equivocation', a: prev.proof, b: proof }, true);
      return;
    }
    if (prev && prev.view === m.view) return;
    votes.set(from, { view: m.view, digest: m.digest, proof });
    // A prepare for another batch than ours: show the sender the primary's pre-prepare, so an
    // equivocating primary is caught by whoever holds the other one.
    if (m.type === 'prepare' && slot.view === m.view && slot.digest !== null && slot.digest !== m.digest && slot.ppProof && !slot.relayed.has(from)) {
      slot.relayed.add(from);
      c.send([from], { type: 'relay', proof: slot.ppProof });
    }
    if (m.type === 'prepare') {
      if (slot.waiting) this.#tryAccept(slot);
      this.checkPrepared(slot);
    } else this.#checkCommitted(slot);
  }

  checkPrepared(slot: Slot): void {
    const c = this.core;
    if (slot.digest === null || slot.view !== c.view || c.changing || slot.sentCommit) return;
    const config = c.configFor(slot.seq);
    const primary = primaryOf(config, slot.view);
    const backups: VerifiedProof[] = [];
    let count = 0;
    for (const [id, v] of slot.prepares) {
      if (id === primary || v.view !== slot.view || v.digest !== slot.digest || !isMember(config, id)) continue;
      count++;
      if (id !== c.id && v.proof) backups.push(v.proof);
    }
    if (count < quorumSize(config.members.length) - 1) return;
    // No commit without a prepared certificate we can show in a view change (the primary's own
    // pre-prepare proof comes back once its bundle is signed).
    if (!slot.ppProof) return;
    slot.sentCommit = true;
    slot.preparedBy = backups;
    this.#refreshCert(slot);
    c.persistSlot(slot);
    slot.commits.set(c.id, { view: slot.view, digest: slot.digest, proof: undefined });
    c.broadcast(this.commit(slot.view, slot.seq, slot.digest));
    this.#checkCommitted(slot);
  }

  /** The prepared certificate, once the pre-prepare's proof is here (the primary's own comes back after signing). */
  #refreshCert(slot: Slot): boolean {
    if (!slot.sentCommit || !slot.ppProof || slot.digest === null || (slot.cert && slot.cert.view >= slot.view)) return false;
    slot.cert = { view: slot.view, digest: slot.digest, prePrepare: slot.ppProof, prepares: slot.preparedBy, batch: slot.batch! };
    return true;
  }

  #checkCommitted(slot: Slot): void {
    const c = this.core;
    if (slot.committed || slot.digest === null || !slot.sentCommit) return;
    const config = c.configFor(slot.seq);
    let count = 0;
    for (const [id, v] of slot.commits) if (v.view === slot.view && v.digest === slot.digest && isMember(config, id)) count++;
    if (count < quorumSize(config.members.length)) return;
    slot.committed = true;
    this.executeReady();
  }

  /** A commit vote, carrying our app digest after the last batch we executed. */
  commit(view: number, seq: number, digest: string): BftMessage {
    const exec = this.core.exclusion.exec.claimFor(seq);
    return exec ? { type: 'commit', view, seq, digest, exec } : { type: 'commit', view, seq, digest };
  }

  /** Executes committed batches in seq order. */
  executeReady(): void {
    const c = this.core;
    for (;;) {
      const seq = c.executed + 1;
      const slot = c.slots.get(seq);
      if (!slot || !slot.committed || !slot.batch || c.transfer.active) break;
      const boundary = seq % c.cfg.checkpointEvery === 0;
      c.executed = seq;
      c.transfer.stuckTicks = 0;
      // A committed version other than the one we hold is the client's own: it equivocated.
      c.requests.suspectContended(slot.batch);
      for (const item of slot.batch.items) {
        const key = itemKey(item);
        if (key !== undefined) c.requests.known.delete(key);
        if (item.k === 'cfg') {
          const msg = item.cmd.messages?.find((m) => m.type === 'reconfigure');
          if (msg && msg.type === 'reconfigure') {
            // A replayed command (its nonce not above the last executed one) changes nothing, also
            // after the request pool forgot it: the nonce is ordered state (in the checkpoints too).
            if (c.group.adminNonce === undefined || msg.nonce > c.group.adminNonce) {
              c.group.adminNonce = msg.nonce;
              c.group.pending.push({ at: nextBoundary(seq, c.cfg.checkpointEvery), change: msg.change });
            }
          }
        } else if (item.k === 'evidence' && isMember(c.group, item.accused) && !c.group.pending.some((p) => 'remove' in p.change && p.change.remove === item.accused)) {
          c.group.pending.push({ at: nextBoundary(seq, c.cfg.checkpointEvery), change: { remove: item.accused } });
          c.excluded.add(item.accused);
        }
      }
      if (slot.batch.items.some((i) => i.k === 'noop')) this.noopWanted = false;
      c.emit({ type: 'execute', seq, batch: slot.batch, boundary });
      if (boundary) c.configs.applyAt(seq);
      c.reads.answer();
      if (boundary) c.replayDeferred();
    }
  }

  #propose(seq: number, batch: Batch): void {
    const c = this.core;
    const digest = batch.items.length === 0 ? NULL_DIGEST : c.cfg.hashBatch(batch);
    if (digest !== NULL_DIGEST) c.pool.set(digest, batch);
    const slot = c.slot(seq);
    this.acceptPrePrepare(slot, c.view, digest, batch, undefined);
    c.persistSlot(slot);
    c.broadcast({ type: 'prePrepare', view: c.view, seq, digest }, digest === NULL_DIGEST ? undefined : [{ digest, batch }]);
    this.checkPrepared(slot);
  }

  /**
   * Items for batch `seq`: evidence first, then requests in arrival order, then a noop if time
   * must move or if a membership change waits for its checkpoint boundary at or after `seq`
   * (an idle group would otherwise keep an excluded replica voting until the next requests).
   */
  #takeQueued(seq: number): BatchItem[] {
    const c = this.core;
    const items: BatchItem[] = [];
    // Bytes too, so that a batch always fits one message (the rest waits for the next seq).
    const budget = c.cfg.maxBatchBytes ?? Infinity;
    let bytes = 0;
    const fits = (item: BatchItem): boolean => {
      const size = c.cfg.itemSize ? c.cfg.itemSize(item) : 0;
      if (items.length > 0 && bytes + size > budget) return false;
      bytes += size;
      return true;
    };
    const { accusations, evidenceProposed } = c.exclusion;
    for (const [accused, proof] of accusations) {
      if (items.length >= c.cfg.maxBatch) break;
      if (evidenceProposed.has(accused) || !isMember(c.group, accused)) continue;
      const item: BatchItem = { k: 'evidence', accused, proof };
      if (!fits(item)) break;
      evidenceProposed.add(accused);
      items.push(item);
    }
    for (const k of c.requests.known.values()) {
      if (items.length >= c.cfg.maxBatch) break;
      // A client seen sending conflicting versions is not ordered for a while (request-pool.ts).
      if (k.proposed || (k.item.k === 'req' && c.requests.barred.suspected(k.item.client, c.tickCount))) continue;
      if (!fits(k.item)) break;
      k.proposed = true;
      items.push(k.item);
    }
    const padToChange = items.length === 0 && c.group.pending.some((p) => p.at >= seq);
    if ((this.noopWanted || padToChange) && items.length < c.cfg.maxBatch) {
      this.noopWanted = false;
      items.push({ k: 'noop' });
    }
    return items;
  }
}
