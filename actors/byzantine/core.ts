import { canonicalEqual } from '../../src/codec/index.ts';
import { AnswerBudget } from './budget.ts';
import { checkEvidence } from './evidence.ts';
import { ExecutionLedger } from './execution-evidence.ts';
import { RequestBar, vouched } from './request-pool.ts';
import { applyConfigCommand, cloneConfig, isMember, memberIds, primaryOf, quorumSize, weakQuorum } from './quorum.ts';
import { checkCheckpointCert, checkNewView, checkViewChange, planNewView, type NewViewPlan, type ViewChangeMessage } from './view-change.ts';
import {
  NULL_DIGEST,
  type Batch,
  type BatchItem,
  type BftConfig,
  type BftEffect,
  type BftMessage,
  type Config,
  type Evidence,
  type HardState,
  type PreparedClaim,
  type SentNewView,
  type SlotRecord,
  type StableCheckpoint,
  type VerifiedProof,
} from './types.ts';

export const NULL_BATCH: Batch = { time: 0, items: [] };

export interface BftInit {
  config: BftConfig;
  /** The group's configuration at `stable` (or the initial one). */
  group: Config;
  /** The configuration in force for the stable checkpoint's own slot, when it differs (its certificate is counted in it). */
  groupBefore?: Config;
  hard: HardState;
  stable: StableCheckpoint;
  /** Slots this replica voted in, from storage. */
  slots: SlotRecord[];
  /** The last new view this replica sent as primary, from storage. */
  newView?: SentNewView;
  /** Whether the app already applied this client's request (a replay of it is harmless). */
  /** Whether the session table already holds this request (or a later one of its session). */
  alreadyApplied(client: string, session: number, seq: number): boolean;
}

export type Phase = 'normal' | 'viewChange' | 'stateTransfer' | 'joining' | 'excluded';

interface Vote {
  view: number;
  digest: string;
  proof: VerifiedProof | undefined;
}

interface Slot {
  seq: number;
  /** The accepted pre-prepare (view -1: none yet). */
  view: number;
  digest: string | null;
  batch: Batch | undefined;
  ppProof: VerifiedProof | undefined;
  /** A pre-prepare waiting for its batch or for requests this replica has not received yet. */
  waiting: { view: number; digest: string; proof: VerifiedProof | undefined; since: number } | undefined;
  /** Tick its pre-prepare was accepted (votes are repeated only for slots unfinished for a while). */
  since: number;
  prepares: Map<string, Vote>;
  commits: Map<string, Vote>;
  sentCommit: boolean;
  /** The highest-view prepared certificate this replica holds for this seq. */
  cert: { view: number; digest: string; prePrepare: VerifiedProof; prepares: VerifiedProof[]; batch: Batch } | undefined;
  committed: boolean;
  /** Loaded from storage after a restart (this replica voted in it, maybe executed it, before). */
  recovered: boolean;
  /** Other backups' prepare proofs that made it prepared (for its certificate). */
  preparedBy: VerifiedProof[];
  /** Replicas we told about the pre-prepare their prepare disagreed with. */
  relayed: Set<string>;
}

interface Known {
  item: BatchItem;
  /** Tick the request timer (blaming the primary) counts from: reset when a new view starts. */
  since: number;
  /** Tick it was first received: forgetting counts from here, so view changes cannot keep it forever. */
  born: number;
  proposed: boolean;
  /** This replica holds another version than one a pre-prepare ordered (the client equivocated, or the primary lies). */
  contended?: boolean;
  /** Ordered by this replica as primary. */
  ownProposal?: boolean;
}

interface Deferred {
  from: string;
  message: BftMessage;
  proof: VerifiedProof | undefined;
}

const MAX_DEFERRED = 4096;
const MAX_POOL_UNREFERENCED = 512;
/** View changes further ahead than this are ignored (a liar could otherwise make us store views without end). */
const MAX_VIEWS_AHEAD = 1024;

/**
 * The PBFT-style protocol as plain state and step functions, like the crash core: no I/O, no
 * timers, no randomness. Callers feed it ticks, authenticated messages (with the signed bundle
 * they came in, for certificates), client requests and execution results; it appends effects
 * that the runtime carries out in order (persist before send).
 *
 * Normal case: the primary of the view pre-prepares a batch at a sequence number; backups that
 * hold every request of the batch (each received from its client) prepare; a replica with the
 * pre-prepare and 2f matching prepares is prepared and commits; with 2f+1 commits the batch is
 * committed and executes in order. Every K seqs a checkpoint digest is signed; 2f+1 matching
 * make it stable, which moves the window and truncates the log. View changes: view-change.ts.
 */
export class BftCore {
  readonly cfg: BftConfig;
  readonly id: string;
  view: number;
  /** 'viewChange' while moving to `view`; 'normal' once its new view is installed. */
  changing: boolean;
  group: Config;
  stable: StableCheckpoint;
  /** Highest seq executed (batches are executed in order). */
  executed: number;
  tickCount = 0;
  now = 0;
  effects: BftEffect[] = [];
  /** Replicas removed because of evidence (for status). */
  readonly excluded = new Set<string>();
  /** Replicas caught misbehaving: what, how often (for tests and metrics). */
  readonly misbehaviour: Array<{ replica: string; what: string }> = [];

  readonly slots = new Map<number, Slot>();
  /** Batches by digest: of slots, or arrived before their pre-prepare. */
  readonly #pool = new Map<string, Batch>();
  readonly #known = new Map<string, Known>();
  /** Requests dropped at a view change (see request-pool.ts): receipts ignored until they would have been forgotten. */
  readonly #barred = new RequestBar();
  /** Execution digests signed in commits (wrong execution is evidence within a batch or two). */
  readonly #exec = new ExecutionLedger();
  /** Slots whose pre-prepare waits for its batch or requests. */
  readonly #waiting = new Set<Slot>();
  #nextSeq = 0;
  /** Checkpoint votes: seq -> sender -> vote. */
  readonly #checkpoints = new Map<number, Map<string, Vote>>();
  /** Our own checkpoint digests. */
  readonly #ownCheckpoints = new Map<number, string>();
  /** Configuration in force for slots from `from` on, for the slots still in the window. */
  #configHistory: Array<{ from: number; config: Config }>;
  /** Configuration right after each executed boundary (what its checkpoint digest covers). */
  readonly #configAfter = new Map<number, Config>();
  readonly #viewChanges = new Map<number, Map<string, { vc: ViewChangeMessage; proof: VerifiedProof | undefined }>>();
  /** The latest view each replica asked for. */
  readonly #latestViewChange = new Map<string, number>();
  #ownViewChange: { message: ViewChangeMessage; batches: Array<{ digest: string; batch: Batch }> } | undefined;
  #vcElapsed = 0;
  #vcAttempts = 0;
  /** The new view this replica sent as primary (resent to replicas that missed it). */
  #sentNewView: SentNewView | undefined;
  /** Peers' last reported execution, to send committed slots only to a peer that is stuck. */
  readonly #peerExecuted = new Map<string, { executed: number; repeats: number }>();
  #everMember = false;
  /** What the installed new view decided for each re-proposed seq. */
  #newViewPlan = new Map<number, string>();
  readonly #accusations = new Map<string, Evidence>();
  readonly #evidenceProposed = new Set<string>();
  #noopWanted = false;
  #reads: Array<{ ids: string[]; bound: number; since: number }> = [];
  #deferred: Deferred[] = [];
  /** The checkpoint being fetched, and who vouched for it (they should hold its state). */
  #transfer: { seq: number; digest: string; asked: number; from: string[] } | undefined;
  #stuckTicks = 0;
  /** Ticks from knowing a request to the primary's pre-prepare of it, recent ones: a primary slow on purpose shows here. */
  #orderingDelays: number[] = [];
  readonly #alreadyApplied: BftInit['alreadyApplied'];
  /** Answers to a peer's status or view change: at most one of a kind per peer per half status period (budget.ts). */
  readonly #answers: AnswerBudget;

  constructor(init: BftInit) {
    this.cfg = init.config;
    this.id = init.config.id;
    this.#alreadyApplied = init.alreadyApplied;
    this.#answers = new AnswerBudget(Math.max(1, Math.ceil(this.cfg.statusTicks / 2)), 4);
    this.view = init.hard.view;
    this.changing = init.hard.changing;
    if (!this.changing) for (const p of init.hard.plan ?? []) this.#newViewPlan.set(p.seq, p.digest);
    this.group = cloneConfig(init.group);
    this.stable = init.stable;
    this.executed = init.stable.seq;
    this.#configHistory = historyAt(init.stable.seq, init.groupBefore ? cloneConfig(init.groupBefore) : this.group, this.group);
    this.#configAfter.set(init.stable.seq, this.group);
    this.#ownCheckpoints.set(init.stable.seq, init.stable.digest);
    for (const r of init.slots) {
      if (r.seq <= this.stable.seq) continue;
      const slot = this.#slot(r.seq);
      slot.recovered = true;
      slot.view = r.view;
      slot.digest = r.digest;
      slot.batch = r.batch;
      slot.ppProof = r.prePrepare as VerifiedProof | undefined;
      this.#pool.set(r.digest, r.batch);
      if (r.prepared) {
        slot.cert = { view: r.prepared.view, digest: r.prepared.digest, prePrepare: r.prepared.prePrepare as VerifiedProof, prepares: r.prepared.prepares as VerifiedProof[], batch: r.batch };
        if (r.prepared.view === this.view) slot.sentCommit = true;
      }
      // Our own votes in this view count again (the retransmission repeats them to the others).
      if (r.view === this.view && !this.changing) {
        if (primaryOf(this.#configFor(r.seq), r.view) !== this.id) slot.prepares.set(this.id, { view: r.view, digest: r.digest, proof: undefined });
        if (slot.sentCommit) slot.commits.set(this.id, { view: r.view, digest: r.digest, proof: undefined });
      }
    }
    this.#nextSeq = this.#highestSlotInView() + 1;
    this.#everMember = isMember(this.group, this.id);
    this.#sentNewView = init.newView;
    // Restarted in the middle of a view change: say so again (the others may be waiting for us).
    if (this.changing) this.#sendViewChange();
  }

  // ---- queries ------------------------------------------------------------------------

  get phase(): Phase {
    if (!isMember(this.group, this.id)) return this.#everMember ? 'excluded' : 'joining';
    if (this.changing) return 'viewChange';
    if (this.#transfer) return 'stateTransfer';
    return 'normal';
  }

  get primary(): string {
    return primaryOf(this.group, this.view);
  }

  /** Highest seq committed here (executed or waiting to execute). */
  get committedSeq(): number {
    let c = this.executed;
    while (this.slots.get(c + 1)?.committed) c++;
    return c;
  }

  /** The configuration right after executing boundary `seq` (what its checkpoint covers). */
  configAfter(seq: number): Config | undefined {
    return this.#configAfter.get(seq);
  }

  /** The configuration in force for slot `seq` (as far as this replica knows). */
  configFor(seq: number): Config {
    return this.#configFor(seq);
  }

  takeEffects(): BftEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  // ---- inputs: time -------------------------------------------------------------------

  tick(now: number): void {
    this.now = Math.max(this.now, now);
    this.tickCount++;
    if (!isMember(this.group, this.id)) {
      if (this.tickCount % this.cfg.statusTicks === 0) this.#broadcast({ type: 'status', view: this.view, executed: this.executed, stable: this.stable.seq, changing: this.changing });
      this.#checkTransfer();
      return;
    }
    if (this.changing) {
      // The timer runs only once a quorum is changing to this view too (PBFT's rule): a replica
      // alone does not race ahead through views the others never reach. A replica asking for a
      // later view has given up on this one too.
      let changingWithUs = 0;
      for (const [id, v] of this.#latestViewChange) if (v >= this.view && isMember(this.group, id)) changingWithUs++;
      if (changingWithUs >= quorumSize(this.group.members.length) && ++this.#vcElapsed > this.cfg.viewChangeTimeoutTicks * 2 ** Math.min(this.#vcAttempts, 2)) this.#startViewChange(this.view + 1);
    } else {
      this.#checkRequestTimers();
    }
    if (this.tickCount % this.cfg.statusTicks === 0) this.#retransmit();
    // A membership change takes effect at a checkpoint boundary: the primary fills the way there.
    if (this.group.pending.length > 0) this.flush(now);
    this.#checkTransfer();
    this.#reads = this.#reads.filter((r) => this.tickCount - r.since <= this.cfg.forgetRequestTicks);
  }

  // ---- inputs: clients ----------------------------------------------------------------

  /** A client request or ordered read, received by this replica from the client itself. */
  request(item: BatchItem): void {
    const key = itemKey(item);
    if (key === undefined || this.#known.has(key) || this.#barred.has(key, this.tickCount)) return;
    if (item.k === 'req' && this.#alreadyApplied(item.client, item.session, item.seq)) return;
    this.#known.set(key, { item, since: this.tickCount, born: this.tickCount, proposed: false });
    this.#retryWaiting();
  }

  /** The runtime's delayed app transitions are due: the primary orders a noop to carry time. */
  timersDue(): void {
    this.#noopWanted = true;
  }

  /** Primary: orders what is queued (the runtime calls this at the end of each instant). */
  flush(now: number): void {
    this.now = Math.max(this.now, now);
    if (this.phase !== 'normal' || this.primary !== this.id) return;
    // Genesis: order a noop so the app (and its replicated time) starts with the group, as
    // the crash model's first leader does, not at the first request.
    if (this.executed === 0 && this.stable.seq === 0 && this.#nextSeq <= 1) this.#noopWanted = true;
    for (;;) {
      const seq = Math.max(this.#nextSeq, this.executed + 1, this.stable.seq + 1);
      if (!this.#inWindow(seq) || this.slots.get(seq)?.digest) return;
      const items = this.#takeQueued(seq);
      if (items.length === 0) return;
      const batch: Batch = { time: this.now, items };
      this.#nextSeq = seq + 1;
      this.#propose(seq, batch);
    }
  }

  /** Unordered reads: answerable once this replica executed everything it saw prepared. */
  read(ids: string[]): void {
    let bound = this.executed;
    // Slots from storage count too: after a restart this replica may have executed them before.
    for (const s of this.slots.values()) if ((s.sentCommit || s.committed || s.cert || s.recovered) && s.seq > bound) bound = s.seq;
    if (bound <= this.executed) this.#emit({ type: 'readsReady', ids });
    else this.#reads.push({ ids, bound, since: this.tickCount });
  }

  // ---- inputs: execution --------------------------------------------------------------

  /** The runtime executed batch `seq`: our next commits carry the app digest after it. */
  batchExecuted(seq: number, appDigest: string): void {
    this.#exec.executed(seq, appDigest);
  }

  /** The runtime executed boundary `seq`: sign its checkpoint. */
  boundaryExecuted(seq: number, appDigest: string): void {
    const config = this.#configAfter.get(seq);
    if (!config) return;
    const digest = this.cfg.hashCheckpoint({ seq, appDigest, config, before: this.#configFor(seq) });
    this.#ownCheckpoints.set(seq, digest);
    this.#recordCheckpoint(this.id, seq, digest, undefined);
    this.#broadcast({ type: 'checkpoint', seq, digest });
    // Our state disagrees with a certificate the group already holds: it diverged; fetch it.
    if (this.stable.seq === seq && this.stable.digest !== digest) this.#beginTransfer(this.stable);
  }

  /** The runtime installed the snapshot of stable checkpoint `seq` (state transfer). */
  stateInstalled(seq: number, digest: string, group: Config, before: Config): void {
    if (!this.#transfer || this.#transfer.seq !== seq || this.#transfer.digest !== digest) return;
    this.#transfer = undefined;
    this.executed = seq;
    this.group = cloneConfig(group);
    this.#everMember ||= isMember(this.group, this.id);
    // Certificates for this checkpoint are counted in the configuration its signers were in.
    this.#configHistory = historyAt(seq, cloneConfig(before), this.group);
    this.#configAfter.set(seq, this.group);
    this.#ownCheckpoints.set(seq, digest);
    this.#emit({ type: 'configChanged', config: cloneConfig(this.group) });
    for (const s of [...this.slots.keys()]) if (s <= seq) this.slots.delete(s);
    this.#executeReady();
    this.#replayDeferred();
  }

  // ---- inputs: messages ---------------------------------------------------------------

  /** This replica's own signed bundle: keep the proof of its own votes for certificates. */
  signed(proof: VerifiedProof): void {
    for (const m of proof.messages) {
      if (m.type === 'prePrepare') {
        const s = this.slots.get(m.seq);
        if (s && s.view === m.view && s.digest === m.digest && !s.ppProof) {
          s.ppProof = proof;
          if (this.#refreshCert(s)) this.#persistSlot(s);
          this.#checkPrepared(s);
        }
      } else if (m.type === 'prepare' || m.type === 'commit') {
        const v = this.slots.get(m.seq)?.[m.type === 'prepare' ? 'prepares' : 'commits'].get(this.id);
        if (v && v.view === m.view && v.digest === m.digest) v.proof ??= proof;
        if (m.type === 'commit' && m.exec) this.#recordExec(this.id, m.exec, proof);
      } else if (m.type === 'checkpoint') {
        const v = this.#checkpoints.get(m.seq)?.get(this.id);
        if (v && v.digest === m.digest) v.proof ??= proof;
        // Our own vote completes the stable certificate we may already hold (it must prove itself to others).
        if (this.stable.seq === m.seq && this.stable.digest === m.digest && !this.stable.cert.some((p) => p.from === this.id)) {
          this.stable = { ...this.stable, cert: [...this.stable.cert, proof] };
          this.#emit({ type: 'persist', stable: this.stable });
        }
      } else if (m.type === 'viewChange') {
        const entry = this.#viewChanges.get(m.view)?.get(this.id);
        if (entry) entry.proof ??= proof;
        this.#tryNewView();
      }
    }
  }

  /** A batch that arrived beside a message (its digest was checked by the runtime). */
  batchArrived(digest: string, batch: Batch): void {
    if (this.#pool.has(digest)) return;
    if (this.#pool.size > this.slots.size + MAX_POOL_UNREFERENCED) this.#prunePool();
    this.#pool.set(digest, batch);
    // Batches of one message may come in several envelopes: the new view may wait for the last.
    if (this.changing) this.#tryNewView();
  }

  receive(from: string, m: BftMessage, proof: VerifiedProof | undefined): void {
    if (!isMember(this.group, this.id) && m.type !== 'status' && m.type !== 'checkpoint' && m.type !== 'stableCert' && m.type !== 'entries') return;
    switch (m.type) {
      case 'prePrepare':
        return this.#onPrePrepare(from, m, proof);
      case 'prepare':
      case 'commit':
        return this.#onVote(from, m, proof);
      case 'checkpoint':
        return this.#onCheckpoint(from, m, proof);
      case 'viewChange':
        return this.#onViewChange(from, m, proof);
      case 'newView':
        return this.#onNewView(from, m);
      case 'status':
        return this.#onStatus(from, m);
      case 'entries':
        return this.#onEntries(m);
      case 'stableCert':
        return this.#onStableCert(m);
      case 'relay':
        return this.#onRelay(m.proof);
      case 'accuse':
        return this.#accuse(m.accused, m.evidence, false);
      default:
        return; // state transfer messages are the runtime's
    }
  }

  // ---- normal case --------------------------------------------------------------------

  #onPrePrepare(from: string, m: Extract<BftMessage, { type: 'prePrepare' }>, proof: VerifiedProof | undefined): void {
    if (m.view > this.view || (m.view === this.view && this.changing)) return this.#defer(from, m, proof);
    if (m.view < this.view) return;
    if (!this.#admit(from, m, proof, m.seq)) return;
    if (primaryOf(this.#configFor(m.seq), m.view) !== from) return this.#caught(from, `pre-prepare from a non-primary for seq ${m.seq}`);
    const planned = this.#newViewPlan.get(m.seq);
    if (planned !== undefined && planned !== m.digest) return this.#caught(from, `pre-prepare for seq ${m.seq} contradicts its new view`);
    const slot = this.#slot(m.seq);
    // A committed slot is decided: nothing may change its batch.
    if (slot.committed) return;
    if (slot.view === m.view && slot.digest !== null) {
      if (slot.digest !== m.digest && slot.ppProof && proof) this.#accuse(from, { kind: 'equivocation', a: slot.ppProof, b: proof }, true);
      else if (slot.digest === m.digest && !slot.ppProof && proof) {
        // A retransmission brings the proof we lacked (after a restart): the certificate can form.
        slot.ppProof = proof;
        this.#persistSlot(slot);
        this.#checkPrepared(slot);
      }
      return;
    }
    if (slot.waiting && slot.waiting.view === m.view && slot.waiting.digest !== m.digest && slot.waiting.proof && proof) {
      this.#accuse(from, { kind: 'equivocation', a: slot.waiting.proof, b: proof }, true);
      return;
    }
    // The tick it started waiting in this view: a slot not vouched for within the request timeout blames the primary.
    const since = slot.waiting && slot.waiting.view === m.view ? slot.waiting.since : this.tickCount;
    slot.waiting = { view: m.view, digest: m.digest, proof, since };
    this.#waiting.add(slot);
    this.#tryAccept(slot);
  }

  /** Accepts a waiting pre-prepare once its batch and every request in it are here. */
  #tryAccept(slot: Slot): void {
    const w = slot.waiting;
    if (!w || w.view !== this.view || this.changing) return;
    if (slot.committed) {
      slot.waiting = undefined;
      return;
    }
    const batch = w.digest === NULL_DIGEST ? NULL_BATCH : this.#pool.get(w.digest);
    if (!batch) return;
    // A batch the new view re-proposes was checked by a quorum when it prepared in an earlier view:
    // its requests need not be here again (their clients may have stopped retrying).
    let verdict = this.#newViewPlan.get(slot.seq) === w.digest ? 'ok' : this.#judgeBatch(batch, slot.seq, w.view);
    // Requests we never received, or received in another version (an equivocating client), are
    // vouched for by the primary plus f other backups' prepares: see request-pool.ts.
    if (verdict === 'wait' && vouched(this.#preparesFor(slot, w.view, w.digest), this.#configFor(slot.seq))) {
      verdict = 'ok';
      // Only now is a version contrary to ours the client's own (f+1 replicas hold it, the primary
      // among them): the client equivocated. The primary's word alone suspects nobody.
      this.#suspectContended(batch);
    }
    if (verdict === 'wait') return;
    slot.waiting = undefined;
    if (verdict !== 'ok') return this.#caught(this.primary, `batch for seq ${slot.seq}: ${verdict}`);
    this.#acceptPrePrepare(slot, w.view, w.digest, batch, w.proof);
    this.#persistSlot(slot);
    const vote = { type: 'prepare' as const, view: w.view, seq: slot.seq, digest: w.digest };
    slot.prepares.set(this.id, { view: w.view, digest: w.digest, proof: undefined });
    this.#broadcast(vote);
    this.#checkPrepared(slot);
  }

  /** Clients whose request in this vouched-for batch differs from the version we hold: they equivocated. */
  #suspectContended(batch: Batch): void {
    for (const item of batch.items) {
      if (item.k !== 'req') continue;
      const k = this.#known.get(itemKey(item)!);
      if (k && !canonicalEqual((k.item as typeof item).event as never, item.event as never)) this.#barred.suspect(item.client, this.tickCount + this.cfg.forgetRequestTicks);
    }
  }

  /** Prepares from other backups (not the primary, not us) for this view and digest. */
  #preparesFor(slot: Slot, view: number, digest: string): number {
    const config = this.#configFor(slot.seq);
    const primary = primaryOf(config, view);
    let n = 0;
    for (const [id, v] of slot.prepares) if (id !== primary && id !== this.id && v.view === view && v.digest === digest && isMember(config, id)) n++;
    return n;
  }

  #acceptPrePrepare(slot: Slot, view: number, digest: string, batch: Batch, proof: VerifiedProof | undefined): void {
    slot.view = view;
    slot.digest = digest;
    slot.batch = batch;
    slot.ppProof = proof;
    slot.sentCommit = false;
    slot.since = this.tickCount;
    const primary = view === this.view && this.primary === this.id;
    for (const item of batch.items) {
      const key = itemKey(item);
      const k = key === undefined ? undefined : this.#known.get(key);
      if (k && !k.proposed && !primary) this.#noteOrderingDelay(this.tickCount - k.since);
      if (k) k.proposed = true;
      if (k && primary) k.ownProposal = true;
      if (item.k === 'evidence') this.#evidenceProposed.add(item.accused);
    }
  }

  /** Whether a backup may prepare this batch: 'ok', 'wait' (requests not here yet), or why not. */
  #judgeBatch(batch: Batch, seq: number, view: number): 'ok' | 'wait' | string {
    if (batch.items.length > this.cfg.maxBatch + 8) return 'too many items';
    if (batch !== NULL_BATCH && batch.time > this.now + this.cfg.maxClockSkewMs) return `time ${batch.time} is ahead of ours (${this.now})`;
    const config = this.#configFor(seq);
    let wait = false;
    for (const item of batch.items) {
      switch (item.k) {
        case 'req': {
          if (this.#alreadyApplied(item.client, item.session, item.seq)) break;
          const k = this.#known.get(itemKey(item)!);
          // Another version than ours is no proof against the primary: the client may have sent
          // it (requests are not signed). It waits for vouchers like a request we never received,
          // and the client is suspected only once the version is vouched for (#suspectContended)
          // or f+1 distinct primaries contradicted us (request-pool.ts). A client proven to
          // equivocate may have sent any version: the primary's is taken without vouchers.
          if (!k) wait = true;
          else if (!canonicalEqual((k.item as typeof item).event as never, item.event as never)) {
            k.contended = true;
            const until = this.tickCount + this.cfg.forgetRequestTicks;
            if (this.#barred.contradicted(item.client, primaryOf(config, view), until, this.tickCount, weakQuorum(config.members.length))) this.#barred.suspect(item.client, until);
            if (!this.#barred.suspected(item.client, this.tickCount)) wait = true;
          }
          break;
        }
        case 'read':
          if (!this.#known.has(`read:${item.client}:${item.nonce}`)) wait = true;
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

  #onVote(from: string, m: Extract<BftMessage, { type: 'prepare' | 'commit' }>, proof: VerifiedProof | undefined): void {
    if (m.view > this.view) return this.#defer(from, m, proof);
    if (m.view < this.view) return;
    // A late commit (its slot already executed here) still brings its execution claim.
    if (m.type === 'commit' && m.exec && proof) this.#recordExec(from, m.exec, proof);
    if (!this.#admit(from, m, proof, m.seq)) return;
    const slot = this.#slot(m.seq);
    const votes = m.type === 'prepare' ? slot.prepares : slot.commits;
    const prev = votes.get(from);
    if (prev && prev.view === m.view && prev.digest !== m.digest) {
      if (prev.proof && proof) this.#accuse(from, { kind: 'equivocation', a: prev.proof, b: proof }, true);
      return;
    }
    if (prev && prev.view === m.view) return;
    votes.set(from, { view: m.view, digest: m.digest, proof });
    // A prepare for another batch than ours: show the sender the primary's pre-prepare, so an
    // equivocating primary is caught by whoever holds the other one.
    if (m.type === 'prepare' && slot.view === m.view && slot.digest !== null && slot.digest !== m.digest && slot.ppProof && !slot.relayed.has(from)) {
      slot.relayed.add(from);
      this.#send([from], { type: 'relay', proof: slot.ppProof });
    }
    if (m.type === 'prepare') {
      if (slot.waiting) this.#tryAccept(slot);
      this.#checkPrepared(slot);
    } else this.#checkCommitted(slot);
  }

  #checkPrepared(slot: Slot): void {
    if (slot.digest === null || slot.view !== this.view || this.changing || slot.sentCommit) return;
    const config = this.#configFor(slot.seq);
    const primary = primaryOf(config, slot.view);
    const backups: VerifiedProof[] = [];
    let count = 0;
    for (const [id, v] of slot.prepares) {
      if (id === primary || v.view !== slot.view || v.digest !== slot.digest || !isMember(config, id)) continue;
      count++;
      if (id !== this.id && v.proof) backups.push(v.proof);
    }
    if (count < quorumSize(config.members.length) - 1) return;
    // No commit without a prepared certificate we can show in a view change (the primary's own
    // pre-prepare proof comes back once its bundle is signed).
    if (!slot.ppProof) return;
    slot.sentCommit = true;
    slot.preparedBy = backups;
    this.#refreshCert(slot);
    this.#persistSlot(slot);
    slot.commits.set(this.id, { view: slot.view, digest: slot.digest, proof: undefined });
    this.#broadcast(this.#commit(slot.view, slot.seq, slot.digest));
    this.#checkCommitted(slot);
  }

  /** The prepared certificate, once the pre-prepare's proof is here (the primary's own comes back after signing). */
  #refreshCert(slot: Slot): boolean {
    if (!slot.sentCommit || !slot.ppProof || slot.digest === null || (slot.cert && slot.cert.view >= slot.view)) return false;
    slot.cert = { view: slot.view, digest: slot.digest, prePrepare: slot.ppProof, prepares: slot.preparedBy, batch: slot.batch! };
    return true;
  }

  #checkCommitted(slot: Slot): void {
    if (slot.committed || slot.digest === null || !slot.sentCommit) return;
    const config = this.#configFor(slot.seq);
    let count = 0;
    for (const [id, v] of slot.commits) if (v.view === slot.view && v.digest === slot.digest && isMember(config, id)) count++;
    if (count < quorumSize(config.members.length)) return;
    slot.committed = true;
    this.#executeReady();
  }

  /** Executes committed batches in seq order. */
  #executeReady(): void {
    for (;;) {
      const seq = this.executed + 1;
      const slot = this.slots.get(seq);
      if (!slot || !slot.committed || !slot.batch || this.#transfer) break;
      const boundary = seq % this.cfg.checkpointEvery === 0;
      this.executed = seq;
      this.#stuckTicks = 0;
      // A committed version other than the one we hold is the client's own: it equivocated.
      this.#suspectContended(slot.batch);
      for (const item of slot.batch.items) {
        const key = itemKey(item);
        if (key !== undefined) this.#known.delete(key);
        if (item.k === 'cfg') {
          const msg = item.cmd.messages?.find((m) => m.type === 'reconfigure');
          if (msg && msg.type === 'reconfigure') this.group.pending.push({ at: nextBoundary(seq, this.cfg.checkpointEvery), change: msg.change });
        } else if (item.k === 'evidence' && isMember(this.group, item.accused) && !this.group.pending.some((p) => 'remove' in p.change && p.change.remove === item.accused)) {
          this.group.pending.push({ at: nextBoundary(seq, this.cfg.checkpointEvery), change: { remove: item.accused } });
          this.excluded.add(item.accused);
        }
      }
      if (slot.batch.items.some((i) => i.k === 'noop')) this.#noopWanted = false;
      this.#emit({ type: 'execute', seq, batch: slot.batch, boundary });
      if (boundary) this.#applyConfigAt(seq);
      this.#answerReads();
      if (boundary) this.#replayDeferred();
    }
  }

  /** Changes ordered before boundary `seq` take effect for the slots after it. */
  #applyConfigAt(seq: number): void {
    const due = this.group.pending.filter((p) => p.at === seq);
    let next = this.group;
    if (due.length) {
      next = { ...next, pending: next.pending.filter((p) => p.at !== seq) };
      for (const p of due) next = applyConfigCommand(next, p.change);
      next = { ...next, pending: next.pending.filter((p) => p.at !== seq) };
      this.group = next;
      this.#everMember ||= isMember(next, this.id);
      this.#configHistory.push({ from: seq + 1, config: next });
      this.#emit({ type: 'configChanged', config: cloneConfig(next) });
      if (this.primary === this.id) this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
    }
    this.#configAfter.set(seq, cloneConfig(this.group));
  }

  #answerReads(): void {
    if (this.#reads.length === 0) return;
    const ready = this.#reads.filter((r) => r.bound <= this.executed);
    if (ready.length === 0) return;
    this.#reads = this.#reads.filter((r) => r.bound > this.executed);
    this.#emit({ type: 'readsReady', ids: ready.flatMap((r) => r.ids) });
  }

  #propose(seq: number, batch: Batch): void {
    const digest = batch.items.length === 0 ? NULL_DIGEST : this.cfg.hashBatch(batch);
    if (digest !== NULL_DIGEST) this.#pool.set(digest, batch);
    const slot = this.#slot(seq);
    this.#acceptPrePrepare(slot, this.view, digest, batch, undefined);
    this.#persistSlot(slot);
    this.#broadcast({ type: 'prePrepare', view: this.view, seq, digest }, digest === NULL_DIGEST ? undefined : [{ digest, batch }]);
    this.#checkPrepared(slot);
  }

  /**
   * Items for batch `seq`: evidence first, then requests in arrival order, then a noop if time
   * must move or if a membership change waits for its checkpoint boundary at or after `seq`
   * (an idle group would otherwise keep an excluded replica voting until the next requests).
   */
  #takeQueued(seq: number): BatchItem[] {
    const items: BatchItem[] = [];
    // Bytes too, so that a batch always fits one message (the rest waits for the next seq).
    const budget = this.cfg.maxBatchBytes ?? Infinity;
    let bytes = 0;
    const fits = (item: BatchItem): boolean => {
      const size = this.cfg.itemSize ? this.cfg.itemSize(item) : 0;
      if (items.length > 0 && bytes + size > budget) return false;
      bytes += size;
      return true;
    };
    for (const [accused, proof] of this.#accusations) {
      if (items.length >= this.cfg.maxBatch) break;
      if (this.#evidenceProposed.has(accused) || !isMember(this.group, accused)) continue;
      const item: BatchItem = { k: 'evidence', accused, proof };
      if (!fits(item)) break;
      this.#evidenceProposed.add(accused);
      items.push(item);
    }
    for (const k of this.#known.values()) {
      if (items.length >= this.cfg.maxBatch) break;
      // A client seen sending conflicting versions is not ordered for a while (request-pool.ts).
      if (k.proposed || (k.item.k === 'req' && this.#barred.suspected(k.item.client, this.tickCount))) continue;
      if (!fits(k.item)) break;
      k.proposed = true;
      items.push(k.item);
    }
    const padToChange = items.length === 0 && this.group.pending.some((p) => p.at >= seq);
    if ((this.#noopWanted || padToChange) && items.length < this.cfg.maxBatch) {
      this.#noopWanted = false;
      items.push({ k: 'noop' });
    }
    return items;
  }

  // ---- checkpoints and the window -----------------------------------------------------

  #onCheckpoint(from: string, m: Extract<BftMessage, { type: 'checkpoint' }>, proof: VerifiedProof | undefined): void {
    if (m.seq % this.cfg.checkpointEvery !== 0 || m.seq === 0) return;
    if (m.seq < this.stable.seq) return;
    if (m.seq === this.stable.seq) {
      if (m.digest !== this.stable.digest && proof && isMember(this.#configFor(m.seq), from)) {
        this.#accuse(from, { kind: 'checkpoint', bad: proof, cert: this.stable.cert }, true);
      } else if (m.digest === this.stable.digest && proof && !this.stable.cert.some((p) => p.from === from)) {
        this.stable = { ...this.stable, cert: [...this.stable.cert, proof] };
      }
      return;
    }
    if (m.seq > this.stable.seq + 4 * this.cfg.windowSize) return;
    this.#recordCheckpoint(from, m.seq, m.digest, proof);
  }

  #recordCheckpoint(from: string, seq: number, digest: string, proof: VerifiedProof | undefined): void {
    let votes = this.#checkpoints.get(seq);
    if (!votes) this.#checkpoints.set(seq, (votes = new Map()));
    const prev = votes.get(from);
    if (prev && prev.digest === digest) return;
    if (prev && prev.digest !== digest) return; // a replica changing its digest: the stable check below catches a liar
    votes.set(from, { view: 0, digest, proof });
    const config = this.#configFor(seq);
    const cert: VerifiedProof[] = [];
    let count = 0;
    for (const [id, v] of votes) {
      if (v.digest !== digest || !isMember(config, id)) continue;
      count++;
      if (v.proof) cert.push(v.proof);
    }
    if (count >= quorumSize(config.members.length)) this.#adoptStable({ seq, digest, cert });
  }

  /** A stable checkpoint: the window moves and the log before it is truncated. */
  #adoptStable(stable: StableCheckpoint): void {
    if (stable.seq <= this.stable.seq) return;
    this.stable = stable;
    this.#emit({ type: 'persist', stable });
    // Replicas that signed another digest for this checkpoint are faulty (or diverged).
    const votes = this.#checkpoints.get(stable.seq);
    if (votes) {
      for (const [id, v] of votes) {
        if (v.digest !== stable.digest && v.proof && id !== this.id) this.#accuse(id, { kind: 'checkpoint', bad: v.proof, cert: stable.cert }, true);
      }
    }
    for (const s of [...this.#checkpoints.keys()]) if (s < stable.seq) this.#checkpoints.delete(s);
    this.#exec.prune(stable.seq);
    const own = this.#ownCheckpoints.get(stable.seq);
    if (this.executed >= stable.seq && own !== undefined && own !== stable.digest) this.#beginTransfer(stable);
    this.#collectGarbage();
    this.#replayDeferred();
  }

  #collectGarbage(): void {
    const upTo = Math.min(this.stable.seq, this.executed);
    let dropped = false;
    for (const s of [...this.slots.keys()]) {
      if (s <= upTo) {
        this.slots.delete(s);
        dropped = true;
      }
    }
    for (const s of [...this.#ownCheckpoints.keys()]) if (s < upTo) this.#ownCheckpoints.delete(s);
    for (const s of [...this.#configAfter.keys()]) if (s < upTo) this.#configAfter.delete(s);
    // Keep the configuration in force at the stable checkpoint itself: its certificate is counted in it.
    while (this.#configHistory.length > 1 && this.#configHistory[1]!.from <= upTo) this.#configHistory.shift();
    if (dropped) this.#emit({ type: 'persist', dropSlotsUpTo: upTo });
    this.#emit({ type: 'dropSnapshotsBelow', seq: upTo });
    this.#prunePool();
  }

  #prunePool(): void {
    const live = new Set<string>();
    for (const s of this.slots.values()) {
      if (s.digest) live.add(s.digest);
      if (s.waiting) live.add(s.waiting.digest);
      if (s.cert) live.add(s.cert.digest);
    }
    for (const vcs of this.#viewChanges.values()) for (const { vc } of vcs.values()) for (const c of vc.prepared) live.add(c.digest);
    let spare = MAX_POOL_UNREFERENCED / 2;
    for (const d of [...this.#pool.keys()].reverse()) {
      if (live.has(d)) continue;
      if (spare-- > 0) continue;
      this.#pool.delete(d);
    }
  }

  /**
   * Seqs a replica votes in: after the stable checkpoint, within the window, and no further
   * than one checkpoint interval past the last boundary it executed, so the configuration in
   * force for the seq is known (changes take effect at boundaries).
   */
  #inWindow(seq: number): boolean {
    const K = this.cfg.checkpointEvery;
    return seq > this.stable.seq && seq <= this.stable.seq + this.cfg.windowSize && seq <= Math.floor(this.executed / K) * K + K;
  }

  /** Checks a vote's sender and seq; defers votes for seqs just ahead of the window. */
  #admit(from: string, m: BftMessage, proof: VerifiedProof | undefined, seq: number): boolean {
    if (seq <= this.stable.seq || seq <= this.executed) return false;
    if (!this.#inWindow(seq)) {
      if (seq <= this.stable.seq + 4 * this.cfg.windowSize) this.#defer(from, m, proof);
      return false;
    }
    return isMember(this.#configFor(seq), from);
  }

  #configFor(seq: number): Config {
    let c = this.#configHistory[0]!.config;
    for (const h of this.#configHistory) if (h.from <= seq) c = h.config;
    return c;
  }

  #defer(from: string, message: BftMessage, proof: VerifiedProof | undefined): void {
    if (this.#deferred.length >= MAX_DEFERRED) this.#deferred.shift();
    this.#deferred.push({ from, message, proof });
  }

  #replayDeferred(): void {
    if (this.#deferred.length === 0) return;
    const list = this.#deferred;
    this.#deferred = [];
    for (const d of list) this.receive(d.from, d.message, d.proof);
  }

  // ---- view change --------------------------------------------------------------------

  #checkRequestTimers(): void {
    this.#barred.prune(this.tickCount);
    let expired = false;
    for (const [key, k] of this.#known) {
      const age = this.tickCount - k.since;
      if (this.tickCount - k.born > this.cfg.forgetRequestTicks) this.#known.delete(key);
      else if (age > this.cfg.requestTimeoutTicks && !(k.item.k === 'req' && this.#barred.suspected(k.item.client, this.tickCount))) expired = true;
    }
    // A pre-prepare that could not be vouched for in time blames the primary, whoever's requests it
    // holds: a primary that puts made-up versions of pending requests in its batches stalls them so.
    for (const s of this.#waiting) {
      if (s.waiting && s.waiting.view === this.view && this.slots.get(s.seq) === s && this.tickCount - s.waiting.since > this.cfg.requestTimeoutTicks) expired = true;
    }
    // A primary whose own requests do not execute in time gives up its view too (after a
    // reconfiguration it may be leading a view nobody else is in).
    if (expired || (this.#primaryTooSlow() && this.primary !== this.id)) this.#startViewChange(this.view + 1);
  }

  #noteOrderingDelay(ticks: number): void {
    this.#orderingDelays.push(ticks);
    if (this.#orderingDelays.length > 32) this.#orderingDelays.shift();
  }

  /**
   * A primary that orders requests just under the request timeout never trips it, yet crawls.
   * Backups watch how long the requests they hold wait for a pre-prepare (after Aardvark): when
   * the median of the recent ones passes half the timeout, they vote the primary out.
   */
  #primaryTooSlow(): boolean {
    const d = this.#orderingDelays;
    if (d.length < 8) return false;
    const median = [...d].sort((a, b) => a - b)[d.length >> 1]!;
    return median > this.cfg.requestTimeoutTicks / 2;
  }

  #startViewChange(view: number): void {
    // Views only move forward (a view change for the view we are in would claim its own certificates).
    if (view <= this.view) return;
    this.#vcAttempts = this.changing ? this.#vcAttempts + 1 : 0;
    this.view = view;
    this.changing = true;
    this.#vcElapsed = 0;
    this.#orderingDelays = [];
    this.#newViewPlan.clear();
    this.#emit({ type: 'persist', hard: this.hardState() });
    this.#sendViewChange();
    for (const v of [...this.#viewChanges.keys()]) if (v < view) this.#viewChanges.delete(v);
  }

  /** Our view change for `this.view`: stable checkpoint and prepared certificates, to all. */
  #sendViewChange(): void {
    const view = this.view;
    const proofs: VerifiedProof[] = [];
    const index = new Map<VerifiedProof, number>();
    const ref = (p: VerifiedProof) => {
      let i = index.get(p);
      if (i === undefined) {
        i = proofs.length;
        proofs.push(p);
        index.set(p, i);
      }
      return i;
    };
    const stableRef = { seq: this.stable.seq, digest: this.stable.digest, cert: this.stable.cert.map(ref) };
    const prepared: PreparedClaim[] = [];
    const batches: Array<{ digest: string; batch: Batch }> = [];
    for (const s of [...this.slots.values()].sort((a, b) => a.seq - b.seq)) {
      if (!s.cert || s.seq <= this.stable.seq || s.seq > this.stable.seq + this.cfg.windowSize) continue;
      prepared.push({ seq: s.seq, view: s.cert.view, digest: s.cert.digest, prePrepare: ref(s.cert.prePrepare), prepares: s.cert.prepares.map(ref) });
      if (s.cert.digest !== NULL_DIGEST) batches.push({ digest: s.cert.digest, batch: s.cert.batch });
    }
    const message: ViewChangeMessage = { type: 'viewChange', view, stable: stableRef, prepared, proofs };
    this.#ownViewChange = { message, batches };
    this.#vcs(view).set(this.id, { vc: message, proof: undefined });
    this.#latestViewChange.set(this.id, view);
    this.#send(this.#others(), message, batches);
  }

  #vcs(view: number): Map<string, { vc: ViewChangeMessage; proof: VerifiedProof | undefined }> {
    let m = this.#viewChanges.get(view);
    if (!m) this.#viewChanges.set(view, (m = new Map()));
    return m;
  }

  /**
   * Whether a view change from `from` for `view` would be checked. If not, only its view number
   * matters, so the runtime need not verify the proofs it quotes.
   */
  viewChangeWanted(from: string, view: number): boolean {
    if (view < this.view || (view === this.view && !this.changing)) return false;
    if (!isMember(this.group, this.id) || !isMember(this.group, from) || view > this.view + MAX_VIEWS_AHEAD) return false;
    // One view change per sender: its latest (a sender that moved on no longer backs older views).
    const latest = this.#latestViewChange.get(from);
    return latest === undefined || latest < view;
  }

  /** Whether a new view for `view` would be looked at (else its quoted view changes need no verifying). */
  newViewWanted(view: number): boolean {
    return isMember(this.group, this.id) && (view > this.view || (view === this.view && this.changing));
  }

  #onViewChange(from: string, m: ViewChangeMessage, proof: VerifiedProof | undefined): void {
    if (this.#answers.demand(from, 'viewChange', this.tickCount)) this.#caught(from, `view change flood: more than ${this.#answers.floodAt} in ${this.#answers.interval} ticks`);
    if (!this.viewChangeWanted(from, m.view)) {
      // A replica still asking for a view we are already in: show it the new view (once per interval).
      if (m.view === this.view && !this.changing && this.#sentNewView && this.#answers.allow(from, 'newView', this.tickCount)) this.#send([from], this.#sentNewView.message, this.#sentNewView.batches);
      return;
    }
    const latest = this.#latestViewChange.get(from);
    const problem = checkViewChange(m, from, this.group, this.cfg.windowSize, (seq) => this.#configFor(seq));
    if (problem) return this.#caught(from, `view change: ${problem}`);
    if (latest !== undefined) this.#viewChanges.get(latest)?.delete(from);
    this.#latestViewChange.set(from, m.view);
    this.#vcs(m.view).set(from, { vc: m, proof });
    // f+1 replicas want a later view: at least one is correct, so join the lowest of them.
    if (m.view > this.view) {
      const ahead: number[] = [];
      for (const [id, v] of this.#latestViewChange) if (v > this.view && isMember(this.group, id)) ahead.push(v);
      if (ahead.length >= weakQuorum(this.group.members.length)) this.#startViewChange(Math.min(...ahead));
    }
    this.#tryNewView();
  }

  /** The new primary sends its new view once it holds a quorum of signed view changes. */
  #tryNewView(): void {
    if (!this.changing || this.primary !== this.id || this.#sentNewView?.view === this.view) return;
    const vcs = [...this.#vcs(this.view)].filter(([id, e]) => e.proof !== undefined && isMember(this.group, id));
    if (vcs.length < quorumSize(this.group.members.length)) return;
    const chosen = vcs.slice(0, quorumSize(this.group.members.length));
    const plan = planNewView(chosen.map(([, e]) => e.vc));
    const batches: Array<{ digest: string; batch: Batch }> = [];
    for (const p of plan.prePrepares) {
      if (p.digest === NULL_DIGEST) continue;
      const batch = this.#pool.get(p.digest);
      if (!batch) return; // its batch came with the view changes; wait if not yet
      batches.push({ digest: p.digest, batch });
    }
    const message: BftMessage = { type: 'newView', view: this.view, viewChanges: chosen.map(([, e]) => e.proof!), prePrepares: plan.prePrepares };
    this.#sentNewView = { view: this.view, message, batches };
    this.#emit({ type: 'persist', newView: this.#sentNewView });
    this.#send(this.#others(), message, batches);
    this.#installNewView(this.view, plan);
  }

  #onNewView(from: string, m: Extract<BftMessage, { type: 'newView' }>): void {
    if (m.view < this.view || (m.view === this.view && !this.changing)) return;
    const plan = checkNewView(m, from, this.group, this.cfg.windowSize, (seq) => this.#configFor(seq));
    if (typeof plan === 'string') return this.#caught(from, `new view: ${plan}`);
    this.#installNewView(m.view, plan);
  }

  #installNewView(view: number, plan: NewViewPlan): void {
    this.view = view;
    this.changing = false;
    this.#vcAttempts = 0;
    this.#emit({ type: 'persist', hard: this.hardState() });
    // The checkpoint was checked with the view change that carried it (its signer vouching too).
    this.#adoptStable(plan.stable);
    this.#newViewPlan = new Map(plan.prePrepares.map((p) => [p.seq, p.digest]));
    this.#emit({ type: 'persist', hard: this.hardState() });
    // Our own batches that no backup prepared: a client that gave only us its version stalls them like this.
    const unvouched = new Set<string>();
    for (const s of this.slots.values()) {
      if (s.committed || !s.batch || s.view < 0 || primaryOf(this.#configFor(s.seq), s.view) !== this.id) continue;
      if ([...s.prepares].some(([id, v]) => id !== this.id && v.view === s.view && v.digest === s.digest)) continue;
      for (const item of s.batch.items) if (item.k === 'req') unvouched.add(item.client);
    }
    // Slots not yet committed start over in the new view (their certificates are kept for later view changes).
    for (const s of this.slots.values()) {
      if (s.committed) continue;
      s.view = -1;
      s.digest = null;
      s.batch = undefined;
      s.ppProof = undefined;
      s.waiting = undefined;
      s.sentCommit = false;
      s.relayed.clear();
      for (const [id, v] of s.prepares) if (v.view < view) s.prepares.delete(id);
      for (const [id, v] of s.commits) if (v.view < view) s.commits.delete(id);
    }
    for (const [key, k] of this.#known) {
      // A request whose ordering stalled in the last view in a way an equivocating client causes is
      // not carried into the new one (request-pool.ts); the rest get a fresh request timer.
      if ((k.contended && k.item.k === 'req' && this.#barred.suspected(k.item.client, this.tickCount)) || k.ownProposal) {
        if (k.ownProposal && k.item.k === 'req' && unvouched.has(k.item.client)) this.#barred.suspect(k.item.client, this.tickCount + this.cfg.forgetRequestTicks);
        this.#known.delete(key);
        this.#barred.bar(key, k.born + this.cfg.forgetRequestTicks);
        continue;
      }
      k.since = this.tickCount;
      k.proposed = false;
    }
    this.#evidenceProposed.clear();
    const maxS = plan.prePrepares.length ? plan.prePrepares[plan.prePrepares.length - 1]!.seq : plan.stable.seq;
    if (this.primary === this.id) {
      this.#nextSeq = Math.max(maxS, this.executed, this.stable.seq) + 1;
      for (const p of plan.prePrepares) {
        if (p.seq <= this.executed) continue;
        const slot = this.#slot(p.seq);
        if (slot.committed) continue;
        const batch = p.digest === NULL_DIGEST ? NULL_BATCH : this.#pool.get(p.digest)!;
        this.#acceptPrePrepare(slot, view, p.digest, batch, undefined);
        this.#persistSlot(slot);
        this.#broadcast({ type: 'prePrepare', view, seq: p.seq, digest: p.digest }, p.digest === NULL_DIGEST ? undefined : [{ digest: p.digest, batch }]);
      }
    }
    this.#replayDeferred();
  }

  // ---- repair: status, retransmission, committed entries, state transfer ---------------

  /** Periodically: say where we are, and repeat our votes for unfinished slots (lost messages). */
  #retransmit(): void {
    this.#broadcast({ type: 'status', view: this.view, executed: this.executed, stable: this.stable.seq, changing: this.changing });
    if (this.changing) {
      if (this.#ownViewChange && this.#ownViewChange.message.view === this.view) this.#send(this.#others(), this.#ownViewChange.message, this.#ownViewChange.batches);
      return;
    }
    for (const s of this.slots.values()) {
      if (s.committed || s.digest === null || s.view !== this.view || this.tickCount - s.since < this.cfg.statusTicks) continue;
      if (this.primary === this.id) {
        this.#broadcast({ type: 'prePrepare', view: s.view, seq: s.seq, digest: s.digest }, s.digest === NULL_DIGEST ? undefined : [{ digest: s.digest, batch: s.batch! }]);
      } else if (s.prepares.has(this.id)) {
        this.#broadcast({ type: 'prepare', view: s.view, seq: s.seq, digest: s.digest });
      }
      if (s.sentCommit) this.#broadcast(this.#commit(s.view, s.seq, s.digest));
    }
    const lastBoundary = Math.floor(this.executed / this.cfg.checkpointEvery) * this.cfg.checkpointEvery;
    const own = this.#ownCheckpoints.get(lastBoundary);
    if (lastBoundary > this.stable.seq && own !== undefined) this.#broadcast({ type: 'checkpoint', seq: lastBoundary, digest: own });
    // Accusations not yet acted on are repeated, so a later primary orders them.
    for (const [accused, e] of this.#accusations) if (isMember(this.group, accused)) this.#send(this.#others(), { type: 'accuse', accused, evidence: e });
  }

  #onStatus(from: string, m: Extract<BftMessage, { type: 'status' }>): void {
    // Help only a peer that is stuck (the same position twice): a peer merely a little behind
    // under load catches up by itself.
    if (this.#answers.demand(from, 'status', this.tickCount)) this.#caught(from, `status flood: more than ${this.#answers.floodAt} in ${this.#answers.interval} ticks`);
    const prev = this.#peerExecuted.get(from);
    const repeats = prev && prev.executed === m.executed ? prev.repeats + 1 : 0;
    this.#peerExecuted.set(from, { executed: m.executed, repeats });
    if (repeats < 1) return;
    // One answer per peer and interval: a flood of statuses costs no more signatures than one.
    if (!this.#answers.allow(from, 'status', this.tickCount)) return;
    if (m.stable < this.stable.seq && this.stable.seq > 0) {
      this.#send([from], { type: 'stableCert', seq: this.stable.seq, digest: this.stable.digest, cert: this.stable.cert });
      if (m.executed < this.stable.seq) return;
    }
    if (m.executed < this.executed) {
      // Committed slots it missed, each with its commit certificate.
      const proofs: VerifiedProof[] = [];
      const index = new Map<VerifiedProof, number>();
      const slots: Array<{ seq: number; view: number; digest: string; commits: number[] }> = [];
      const batches: Array<{ digest: string; batch: Batch }> = [];
      for (let seq = m.executed + 1; seq <= this.executed && slots.length < 16; seq++) {
        const s = this.slots.get(seq);
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
        if (refs.length < quorumSize(this.#configFor(seq).members.length)) break;
        slots.push({ seq, view: s.view, digest: s.digest, commits: refs });
        if (s.digest !== NULL_DIGEST) batches.push({ digest: s.digest, batch: s.batch! });
      }
      if (slots.length) this.#send([from], { type: 'entries', slots, proofs }, batches);
    }
    // A replica behind our view, or still changing to it, missed our new view.
    if ((m.view < this.view || (m.view === this.view && m.changing)) && !this.changing && this.#sentNewView && this.#answers.allow(from, 'newView', this.tickCount)) this.#send([from], this.#sentNewView.message, this.#sentNewView.batches);
  }

  #onEntries(m: Extract<BftMessage, { type: 'entries' }>): void {
    for (const e of m.slots) {
      if (e.seq <= this.executed || !this.#inWindow(e.seq)) continue;
      const config = this.#configFor(e.seq);
      const signers = new Set<string>();
      for (const i of e.commits) {
        const p = m.proofs[i];
        if (p && isMember(config, p.from) && p.messages.some((x) => x.type === 'commit' && x.view === e.view && x.seq === e.seq && x.digest === e.digest)) signers.add(p.from);
      }
      if (signers.size < quorumSize(config.members.length)) continue;
      const batch = e.digest === NULL_DIGEST ? NULL_BATCH : this.#pool.get(e.digest);
      if (!batch) continue;
      const slot = this.#slot(e.seq);
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
      this.#persistSlot(slot);
    }
    this.#executeReady();
  }

  #onStableCert(m: Extract<BftMessage, { type: 'stableCert' }>): void {
    if (m.seq <= this.stable.seq || m.seq % this.cfg.checkpointEvery !== 0) return;
    const cert = { seq: m.seq, digest: m.digest, cert: m.cert };
    if (checkCheckpointCert(m.seq, m.digest, m.cert, this.#configFor(m.seq))) return this.#adoptStable(cert);
    // f+1 of the members we know vouch for it: enough to fetch the state (even across
    // reconfigurations we missed), not to become our stable checkpoint.
    // A newer one replaces a target being fetched: replicas keep only their latest snapshots, so
    // an older target may be gone everywhere (a replica that was down across a removal).
    if (this.executed < m.seq && (!this.#transfer || this.#transfer.seq < m.seq) && checkCheckpointCert(m.seq, m.digest, m.cert, this.group, weakQuorum(this.group.members.length))) this.#beginTransfer(cert);
  }

  /** Behind a stable checkpoint with the slots before it gone: fetch its state. */
  #checkTransfer(): void {
    if (this.#transfer) {
      // A newer stable checkpoint replaces the target (replicas keep only their latest snapshots).
      if (this.#transfer.seq < this.stable.seq) this.#beginTransfer(this.stable);
      else if (this.tickCount - this.#transfer.asked > this.cfg.viewChangeTimeoutTicks) this.#askForState();
      return;
    }
    if (this.executed >= this.stable.seq) return;
    const next = this.slots.get(this.executed + 1);
    if (next?.committed && next.batch) return;
    if (++this.#stuckTicks >= 3) this.#beginTransfer(this.stable);
  }

  #beginTransfer(stable: StableCheckpoint): void {
    if (stable.seq === 0) return;
    this.#transfer = { seq: stable.seq, digest: stable.digest, asked: this.tickCount, from: stable.cert.map((p) => p.from).filter((id) => id !== this.id) };
    this.#askForState();
  }

  #askForState(): void {
    const t = this.#transfer!;
    t.asked = this.tickCount;
    const candidates = t.from.length ? t.from : this.#others();
    this.#emit({ type: 'fetchState', seq: t.seq, digest: t.digest, from: candidates });
  }

  // ---- evidence and exclusion ---------------------------------------------------------

  #onRelay(proof: VerifiedProof): void {
    for (const m of proof.messages) {
      if (m.type !== 'prePrepare') continue;
      const slot = this.slots.get(m.seq);
      if (!slot || slot.view !== m.view || slot.digest === m.digest || !slot.ppProof || slot.ppProof.from !== proof.from) continue;
      this.#accuse(proof.from, { kind: 'equivocation', a: slot.ppProof, b: proof }, true);
    }
  }

  /** Records checkable evidence against a replica, tells the others, and (as primary) orders it. */
  #accuse(accused: string, evidence: Evidence, detectedHere: boolean): void {
    if (this.#accusations.has(accused) || accused === this.id) return;
    if (checkEvidence(accused, evidence, this.group) !== null) return;
    this.#accusations.set(accused, evidence);
    this.#caught(accused, evidence.kind === 'equivocation' ? 'equivocation' : evidence.kind === 'execution' ? 'execution digest contradicts a quorum' : 'checkpoint digest contradicts a stable certificate');
    if (detectedHere) this.#send(this.#others(), { type: 'accuse', accused, evidence });
    // A primary proven faulty would not order the evidence against itself: move on at once.
    if (accused === this.primary && !this.changing && isMember(this.group, this.id)) this.#startViewChange(this.view + 1);
  }

  #caught(replica: string, what: string): void {
    this.misbehaviour.push({ replica, what });
    if (this.misbehaviour.length > 256) this.misbehaviour.shift();
    this.#emit({ type: 'misbehaviour', replica, what });
  }

  // ---- helpers ------------------------------------------------------------------------

  /** A commit vote, carrying our app digest after the last batch we executed. */
  #commit(view: number, seq: number, digest: string): BftMessage {
    const exec = this.#exec.claimFor(seq);
    return exec ? { type: 'commit', view, seq, digest, exec } : { type: 'commit', view, seq, digest };
  }

  /** A signed execution claim: evidence against whoever contradicts a quorum that agrees. */
  #recordExec(from: string, exec: { seq: number; digest: string }, proof: VerifiedProof): void {
    if (exec.seq <= this.stable.seq || exec.seq > this.executed + this.cfg.windowSize) return;
    for (const { accused, evidence } of this.#exec.record(from, exec, proof, this.group)) this.#accuse(accused, evidence, true);
  }

  hardState(): HardState {
    const h: HardState = { view: this.view, changing: this.changing };
    if (this.#newViewPlan.size) h.plan = [...this.#newViewPlan].map(([seq, digest]) => ({ seq, digest }));
    return h;
  }

  #slot(seq: number): Slot {
    let s = this.slots.get(seq);
    if (!s) {
      s = { seq, view: -1, digest: null, batch: undefined, ppProof: undefined, waiting: undefined, since: this.tickCount, prepares: new Map(), commits: new Map(), sentCommit: false, cert: undefined, committed: false, recovered: false, preparedBy: [], relayed: new Set() };
      this.slots.set(seq, s);
    }
    return s;
  }

  /** A request arrived: pre-prepares that waited for it may go on (only those: this runs per request). */
  #retryWaiting(): void {
    for (const s of [...this.#waiting]) {
      if (!s.waiting || this.slots.get(s.seq) !== s) this.#waiting.delete(s);
      else this.#tryAccept(s);
    }
  }

  #highestSlotInView(): number {
    let h = this.stable.seq;
    for (const s of this.slots.values()) if (s.view === this.view && s.seq > h) h = s.seq;
    return h;
  }

  #others(): string[] {
    return memberIds(this.group).filter((id) => id !== this.id);
  }

  #emit(effect: BftEffect): void {
    this.effects.push(effect);
  }

  #broadcast(message: BftMessage, batches?: Array<{ digest: string; batch: Batch }>): void {
    this.#send(this.#others(), message, batches);
  }

  #send(to: string[], message: BftMessage, batches?: Array<{ digest: string; batch: Batch }>): void {
    if (to.length === 0) return;
    this.effects.push(batches && batches.length ? { type: 'send', to, message, batches } : { type: 'send', to, message });
  }

  #persistSlot(slot: Slot): void {
    const record: SlotRecord = { seq: slot.seq, view: slot.view, digest: slot.digest!, batch: slot.batch! };
    if (slot.ppProof) record.prePrepare = slot.ppProof;
    if (slot.cert) record.prepared = { view: slot.cert.view, digest: slot.cert.digest, prePrepare: slot.cert.prePrepare, prepares: slot.cert.prepares };
    const last = this.effects[this.effects.length - 1];
    if (last?.type === 'persist' && !last.stable && last.dropSlotsUpTo === undefined && !last.newView) {
      last.slots = [...(last.slots ?? []).filter((r) => r.seq !== record.seq), record];
      return;
    }
    this.effects.push({ type: 'persist', slots: [record] });
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

/** A client item's identity (two copies of one request are the same item). */
export function itemKey(item: BatchItem): string | undefined {
  if (item.k === 'req') return `req:${item.client}:${item.session}:${item.seq}`;
  if (item.k === 'read') return `read:${item.client}:${item.nonce}`;
  if (item.k === 'cfg') {
    const m = item.cmd.messages?.[0];
    return m && m.type === 'reconfigure' ? `cfg:${m.nonce}` : undefined;
  }
  return undefined;
}

