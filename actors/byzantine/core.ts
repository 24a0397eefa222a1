import { AnswerBudget } from './budget.ts';
import { Checkpoints, MAX_POOL_UNREFERENCED } from './checkpoints.ts';
import { Exclusion } from './exclusion.ts';
import { NormalCase } from './normal-case.ts';
import { isMember, memberIds, primaryOf } from './quorum.ts';
import { Reads } from './reads.ts';
import { Configurations } from './reconfiguration.ts';
import { Repair } from './repair.ts';
import { RequestPool } from './request-pool.ts';
import { emptySlot, slotRecord, type Slot } from './slot.ts';
import { PrimaryWatch } from './slow-primary.ts';
import { StateTransfer } from './state-transfer.ts';
import { ViewChanger } from './view-change.ts';
import {
  type Batch,
  type BatchItem,
  type BftConfig,
  type BftEffect,
  type BftMessage,
  type Config,
  type HardState,
  type SentNewView,
  type SlotRecord,
  type StableCheckpoint,
  type VerifiedProof,
} from './types.ts';

export { NULL_BATCH } from './normal-case.ts';
export { nextBoundary } from './reconfiguration.ts';
export { itemKey } from './request-pool.ts';

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
  /** Whether the session table already holds this request (or a later one of its session). */
  alreadyApplied(client: string, session: number, seq: number): boolean;
}

export type Phase = 'normal' | 'viewChange' | 'stateTransfer' | 'joining' | 'excluded';

interface Deferred {
  from: string;
  message: BftMessage;
  proof: VerifiedProof | undefined;
}

const MAX_DEFERRED = 4096;

/**
 * The PBFT-style protocol as plain state and step functions, like the crash core: no I/O, no
 * timers, no randomness. Callers feed it ticks, authenticated messages (with the signed bundle
 * they came in, for certificates), client requests and execution results; it appends effects
 * that the runtime carries out in order (persist before send).
 *
 * This class owns the state every concern shares (view, group, stable checkpoint, slots, batch
 * pool, effects) and dispatches inputs to the module of each concern, which holds that
 * concern's own state:
 *
 * - normal-case.ts: pre-prepare, prepare, commit, execution in order, the primary's batches;
 * - checkpoints.ts: checkpoint votes, the stable checkpoint, the window, garbage collection;
 * - view-change.ts: the view changer (its timer, view changes, new views) and its validators;
 * - slow-primary.ts: request timers and a primary that orders too slowly (when to blame it);
 * - repair.ts: status, retransmission, committed entries for a stuck peer;
 * - state-transfer.ts: fetching a stable checkpoint's state;
 * - reconfiguration.ts: the configuration in force per slot, changes at boundaries;
 * - exclusion.ts: evidence, accusations, execution claims;
 * - reads.ts: unordered reads; request-pool.ts: requests held, barred and suspected clients.
 *
 * Messages for views or seqs just ahead are deferred here and replayed when the view or window moves.
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
  readonly pool = new Map<string, Batch>();
  readonly alreadyApplied: BftInit['alreadyApplied'];
  /** Answers to a peer's status or view change: at most one of a kind per peer per half status period (budget.ts). */
  readonly answers: AnswerBudget;
  #deferred: Deferred[] = [];

  // The concerns, each with its own state (see the class comment).
  readonly requests = new RequestPool(this);
  readonly normal = new NormalCase(this);
  readonly checkpoints = new Checkpoints(this);
  readonly configs = new Configurations(this);
  readonly viewChanger = new ViewChanger(this);
  readonly primaryWatch = new PrimaryWatch(this);
  readonly repair = new Repair(this);
  readonly transfer = new StateTransfer(this);
  readonly exclusion = new Exclusion(this);
  readonly reads = new Reads(this);

  constructor(init: BftInit) {
    this.cfg = init.config;
    this.id = init.config.id;
    this.alreadyApplied = init.alreadyApplied;
    this.answers = new AnswerBudget(Math.max(1, Math.ceil(this.cfg.statusTicks / 2)), 4);
    this.view = init.hard.view;
    this.changing = init.hard.changing;
    if (!this.changing) for (const p of init.hard.plan ?? []) this.viewChanger.plan.set(p.seq, p.digest);
    this.group = this.configs.restore(init);
    this.stable = init.stable;
    this.executed = init.stable.seq;
    this.checkpoints.own.set(init.stable.seq, init.stable.digest);
    for (const r of init.slots) {
      if (r.seq <= this.stable.seq) continue;
      const slot = this.slot(r.seq);
      slot.recovered = true;
      slot.view = r.view;
      slot.digest = r.digest;
      slot.batch = r.batch;
      slot.ppProof = r.prePrepare as VerifiedProof | undefined;
      this.pool.set(r.digest, r.batch);
      if (r.prepared) {
        slot.cert = { view: r.prepared.view, digest: r.prepared.digest, prePrepare: r.prepared.prePrepare as VerifiedProof, prepares: r.prepared.prepares as VerifiedProof[], batch: r.batch };
        if (r.prepared.view === this.view) slot.sentCommit = true;
      }
      // Our own votes in this view count again (the retransmission repeats them to the others).
      if (r.view === this.view && !this.changing) {
        if (primaryOf(this.configFor(r.seq), r.view) !== this.id) slot.prepares.set(this.id, { view: r.view, digest: r.digest, proof: undefined });
        if (slot.sentCommit) slot.commits.set(this.id, { view: r.view, digest: r.digest, proof: undefined });
      }
    }
    this.normal.nextSeq = this.#highestSlotInView() + 1;
    this.configs.everMember = isMember(this.group, this.id);
    this.viewChanger.sentNewView = init.newView;
    // Restarted in the middle of a view change: say so again (the others may be waiting for us).
    if (this.changing) this.viewChanger.sendViewChange();
  }

  // ---- queries ------------------------------------------------------------------------

  get phase(): Phase {
    if (!isMember(this.group, this.id)) return this.configs.everMember ? 'excluded' : 'joining';
    if (this.changing) return 'viewChange';
    if (this.transfer.active) return 'stateTransfer';
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
    return this.configs.after.get(seq);
  }

  /** The configuration in force for boundary `seq` as it stood when `seq` executed (what its checkpoint covers with configAfter). */
  configBefore(seq: number): Config {
    return this.configs.before.get(seq) ?? this.configs.configFor(seq);
  }

  /** The configuration in force for slot `seq` (as far as this replica knows). */
  configFor(seq: number): Config {
    return this.configs.configFor(seq);
  }

  takeEffects(): BftEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  hardState(): HardState {
    const h: HardState = { view: this.view, changing: this.changing };
    if (this.viewChanger.plan.size) h.plan = [...this.viewChanger.plan].map(([seq, digest]) => ({ seq, digest }));
    return h;
  }

  /**
   * Whether a view change from `from` for `view` would be checked. If not, only its view number
   * matters, so the runtime need not verify the proofs it quotes.
   */
  viewChangeWanted(from: string, view: number): boolean {
    return this.viewChanger.wanted(from, view);
  }

  /** Whether a new view for `view` would be looked at (else its quoted view changes need no verifying). */
  newViewWanted(view: number): boolean {
    return this.viewChanger.newViewWanted(view);
  }

  // ---- inputs: time -------------------------------------------------------------------

  tick(now: number): void {
    this.now = Math.max(this.now, now);
    this.tickCount++;
    if (!isMember(this.group, this.id)) {
      if (this.tickCount % this.cfg.statusTicks === 0) this.broadcast({ type: 'status', view: this.view, executed: this.executed, stable: this.stable.seq, changing: this.changing });
      this.transfer.check();
      return;
    }
    if (this.changing) this.viewChanger.tick();
    else this.primaryWatch.check();
    if (this.tickCount % this.cfg.statusTicks === 0) this.repair.period();
    // A membership change takes effect at a checkpoint boundary: the primary fills the way there.
    if (this.group.pending.length > 0) this.flush(now);
    this.transfer.check();
    this.reads.expire();
  }

  // ---- inputs: clients ----------------------------------------------------------------

  /** A client request or ordered read, received by this replica from the client itself. */
  request(item: BatchItem): void {
    if (this.requests.add(item)) this.normal.retryWaiting();
  }

  /** The runtime's delayed app transitions are due: the primary orders a noop to carry time. */
  timersDue(): void {
    this.normal.noopWanted = true;
  }

  /** Primary: orders what is queued (the runtime calls this at the end of each instant). */
  flush(now: number): void {
    this.now = Math.max(this.now, now);
    this.normal.flush();
  }

  /** Unordered reads: answerable once this replica executed everything it saw prepared. */
  read(ids: string[]): void {
    this.reads.read(ids);
  }

  // ---- inputs: execution --------------------------------------------------------------

  /** The runtime executed batch `seq`: our next commits carry the app digest after it. */
  batchExecuted(seq: number, appDigest: string): void {
    this.exclusion.exec.executed(seq, appDigest);
  }

  /** The runtime executed boundary `seq`: sign its checkpoint. */
  boundaryExecuted(seq: number, appDigest: string): void {
    this.checkpoints.boundaryExecuted(seq, appDigest);
  }

  /** The runtime installed the snapshot of stable checkpoint `seq` (state transfer). */
  stateInstalled(seq: number, digest: string, group: Config, before: Config): void {
    this.transfer.installed(seq, digest, group, before);
  }

  // ---- inputs: messages ---------------------------------------------------------------

  /** This replica's own signed bundle: keep the proof of its own votes for certificates. */
  signed(proof: VerifiedProof): void {
    for (const m of proof.messages) {
      if (m.type === 'prePrepare' || m.type === 'prepare' || m.type === 'commit') this.normal.signed(m, proof);
      else if (m.type === 'checkpoint') this.checkpoints.signed(m, proof);
      else if (m.type === 'viewChange') this.viewChanger.signed(m, proof);
    }
  }

  /** A batch that arrived beside a message (its digest was checked by the runtime). */
  batchArrived(digest: string, batch: Batch): void {
    if (this.pool.has(digest)) return;
    if (this.pool.size > this.slots.size + MAX_POOL_UNREFERENCED) this.checkpoints.prunePool();
    this.pool.set(digest, batch);
    // Batches of one message may come in several envelopes: the new view may wait for the last.
    if (this.changing) this.viewChanger.tryNewView();
  }

  receive(from: string, m: BftMessage, proof: VerifiedProof | undefined): void {
    if (!isMember(this.group, this.id) && m.type !== 'status' && m.type !== 'checkpoint' && m.type !== 'stableCert' && m.type !== 'entries') return;
    switch (m.type) {
      case 'prePrepare':
        return this.normal.onPrePrepare(from, m, proof);
      case 'prepare':
      case 'commit':
        return this.normal.onVote(from, m, proof);
      case 'checkpoint':
        return this.checkpoints.onCheckpoint(from, m, proof);
      case 'viewChange':
        return this.viewChanger.onViewChange(from, m, proof);
      case 'newView':
        return this.viewChanger.onNewView(from, m);
      case 'status':
        return this.repair.onStatus(from, m);
      case 'entries':
        return this.repair.onEntries(m);
      case 'stableCert':
        return this.transfer.onStableCert(m);
      case 'relay':
        return this.exclusion.onRelay(m.proof);
      case 'accuse':
        return this.exclusion.accuse(m.accused, m.evidence, false);
      default:
        return; // state transfer messages are the runtime's
    }
  }

  // ---- shared by the concern modules --------------------------------------------------

  /** Keeps a message for a view or seq just ahead, to receive again when the view or window moves. */
  defer(from: string, message: BftMessage, proof: VerifiedProof | undefined): void {
    if (this.#deferred.length >= MAX_DEFERRED) this.#deferred.shift();
    this.#deferred.push({ from, message, proof });
  }

  replayDeferred(): void {
    if (this.#deferred.length === 0) return;
    const list = this.#deferred;
    this.#deferred = [];
    for (const d of list) this.receive(d.from, d.message, d.proof);
  }

  slot(seq: number): Slot {
    let s = this.slots.get(seq);
    if (!s) {
      s = emptySlot(seq, this.tickCount);
      this.slots.set(seq, s);
    }
    return s;
  }

  #highestSlotInView(): number {
    let h = this.stable.seq;
    for (const s of this.slots.values()) if (s.view === this.view && s.seq > h) h = s.seq;
    return h;
  }

  others(): string[] {
    return memberIds(this.group).filter((id) => id !== this.id);
  }

  emit(effect: BftEffect): void {
    this.effects.push(effect);
  }

  broadcast(message: BftMessage, batches?: Array<{ digest: string; batch: Batch }>): void {
    this.send(this.others(), message, batches);
  }

  send(to: string[], message: BftMessage, batches?: Array<{ digest: string; batch: Batch }>): void {
    if (to.length === 0) return;
    this.effects.push(batches && batches.length ? { type: 'send', to, message, batches } : { type: 'send', to, message });
  }

  /** Persists a slot, merged into the last effect when that is a persist of slots only. */
  persistSlot(slot: Slot): void {
    const record = slotRecord(slot);
    const last = this.effects[this.effects.length - 1];
    if (last?.type === 'persist' && !last.stable && last.dropSlotsUpTo === undefined && !last.newView) {
      last.slots = [...(last.slots ?? []).filter((r) => r.seq !== record.seq), record];
      return;
    }
    this.effects.push({ type: 'persist', slots: [record] });
  }
}
