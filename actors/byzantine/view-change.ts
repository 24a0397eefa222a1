/**
 * The view change. The view changer (ViewChanger, at the end) holds its state and timer: it
 * starts a view change when asked (request timers in slow-primary.ts, evidence against the
 * primary, f+1 replicas ahead), sends this replica's view change, as the new primary sends the
 * new view once a quorum's view changes are here, and installs a new view. The pure functions
 * before it decide what is valid: a replica's view-change message (its stable checkpoint and
 * prepared certificates), what the new view re-proposes, and a new primary's proof of its view.
 */
import type { BftCore } from './core.ts';
import { NULL_BATCH } from './normal-case.ts';
import { isMember, primaryOf, quorumSize, weakQuorum } from './quorum.ts';
import { NULL_DIGEST, type Batch, type BftMessage, type Config, type PreparedClaim, type SentNewView, type StableCheckpoint, type VerifiedProof } from './types.ts';

export type ViewChangeMessage = Extract<BftMessage, { type: 'viewChange' }>;
export type NewViewMessage = Extract<BftMessage, { type: 'newView' }>;

/** The genesis checkpoint every replica starts from (seq 0, no certificate needed). */
export const GENESIS_DIGEST = 'genesis';

/**
 * Whether a set of proofs holds `need` distinct members' checkpoint(seq, digest): a quorum by
 * default. A replica that fell behind a reconfiguration accepts f+1 of the members it knows
 * (one of them is correct, and correct replicas sign only correct states) to fetch the state.
 */
export function checkCheckpointCert(seq: number, digest: string, cert: VerifiedProof[], config: Config, need = quorumSize(config.members.length)): boolean {
  if (seq === 0) return digest === GENESIS_DIGEST;
  const signers = new Set<string>();
  for (const p of cert) {
    if (!isMember(config, p.from)) continue;
    if (p.messages.some((m) => m.type === 'checkpoint' && m.seq === seq && m.digest === digest)) signers.add(p.from);
  }
  return signers.size >= need;
}

/**
 * Checks a view change sent by `sender`. The sender's own prepare is vouched for by its
 * signature on the view change, so a prepared certificate needs the primary's pre-prepare and
 * prepares from 2f other backups, the sender counting as one of them.
 */
export function checkViewChange(vc: ViewChangeMessage, sender: string, config: Config, windowSize: number, configFor: (seq: number) => Config = () => config): string | null {
  const proofs = vc.proofs;
  const at = (i: number) => proofs[i];
  const certProofs: VerifiedProof[] = [];
  for (const i of vc.stable.cert) {
    const p = at(i);
    if (!p) return 'checkpoint proof index out of range';
    certProofs.push(p);
  }
  // A full certificate, so whoever adopts this checkpoint from the new view can prove it in turn.
  if (!checkCheckpointCert(vc.stable.seq, vc.stable.digest, certProofs, configFor(vc.stable.seq))) return 'stable checkpoint certificate does not hold';
  const seen = new Set<number>();
  for (const c of vc.prepared) {
    if (c.seq <= vc.stable.seq || c.seq > vc.stable.seq + windowSize) return `prepared seq ${c.seq} outside the window`;
    if (seen.has(c.seq)) return `seq ${c.seq} claimed twice`;
    seen.add(c.seq);
    if (c.view >= vc.view) return `prepared in view ${c.view}, not before ${vc.view}`;
    // The configuration in force for that seq decides its primary and quorum.
    const slotConfig = configFor(c.seq);
    const primary = primaryOf(slotConfig, c.view);
    const pp = at(c.prePrepare);
    if (!pp || pp.from !== primary || !pp.messages.some((m) => m.type === 'prePrepare' && m.view === c.view && m.seq === c.seq && m.digest === c.digest)) {
      return `seq ${c.seq}: no pre-prepare from the primary of view ${c.view}`;
    }
    const backups = new Set<string>();
    if (sender !== primary && isMember(slotConfig, sender)) backups.add(sender);
    for (const i of c.prepares) {
      const p = at(i);
      if (!p) return 'prepare proof index out of range';
      if (p.from === primary || !isMember(slotConfig, p.from)) continue;
      if (p.messages.some((m) => m.type === 'prepare' && m.view === c.view && m.seq === c.seq && m.digest === c.digest)) backups.add(p.from);
    }
    const needed = quorumSize(slotConfig.members.length) - 1;
    if (backups.size < needed) return `seq ${c.seq}: ${backups.size} prepares, ${needed} needed`;
  }
  return null;
}

export interface NewViewPlan {
  /** The highest stable checkpoint among the view changes, with its certificate. */
  stable: StableCheckpoint;
  /** What the new primary pre-prepares again: every seq after the checkpoint up to the highest prepared one. */
  prePrepares: Array<{ seq: number; digest: string }>;
}

/**
 * What a new view re-proposes, from a quorum of valid view changes: for each seq after the
 * highest stable checkpoint, the digest prepared in the highest view, or the null batch.
 * Deterministic, so backups recompute it to check the new primary.
 */
export function planNewView(viewChanges: ViewChangeMessage[]): NewViewPlan {
  let best = viewChanges[0]!;
  for (const vc of viewChanges) if (vc.stable.seq > best.stable.seq) best = vc;
  const minS = best.stable.seq;
  const stable: StableCheckpoint = { seq: minS, digest: best.stable.digest, cert: best.stable.cert.map((i) => best.proofs[i]!) };
  const chosen = new Map<number, { view: number; digest: string }>();
  let maxS = minS;
  for (const vc of viewChanges) {
    for (const c of vc.prepared) {
      if (c.seq <= minS) continue;
      maxS = Math.max(maxS, c.seq);
      const cur = chosen.get(c.seq);
      if (!cur || c.view > cur.view) chosen.set(c.seq, { view: c.view, digest: c.digest });
    }
  }
  const prePrepares: Array<{ seq: number; digest: string }> = [];
  for (let n = minS + 1; n <= maxS; n++) prePrepares.push({ seq: n, digest: chosen.get(n)?.digest ?? NULL_DIGEST });
  return { stable, prePrepares };
}

/**
 * Checks a new view sent by `sender`: it must be the new view's primary, carry a quorum of
 * valid view changes for this view from distinct members, and re-propose exactly what they
 * imply. Returns the plan, or why the new view is refused.
 */
export function checkNewView(nv: NewViewMessage, sender: string, config: Config, windowSize: number, configFor: (seq: number) => Config = () => config): NewViewPlan | string {
  if (primaryOf(config, nv.view) !== sender) return `${sender} is not the primary of view ${nv.view}`;
  const vcs: ViewChangeMessage[] = [];
  const from = new Set<string>();
  for (const proof of nv.viewChanges) {
    if (!isMember(config, proof.from) || from.has(proof.from)) continue;
    const vc = proof.messages.find((m): m is ViewChangeMessage => m.type === 'viewChange' && m.view === nv.view);
    if (!vc) continue;
    const problem = checkViewChange(vc, proof.from, config, windowSize, configFor);
    if (problem) return `view change from ${proof.from}: ${problem}`;
    from.add(proof.from);
    vcs.push(vc);
  }
  if (vcs.length < quorumSize(config.members.length)) return `${vcs.length} view changes, ${quorumSize(config.members.length)} needed`;
  const plan = planNewView(vcs);
  if (plan.prePrepares.length !== nv.prePrepares.length) return 'the re-proposed slots differ from what the view changes imply';
  for (let i = 0; i < plan.prePrepares.length; i++) {
    const a = plan.prePrepares[i]!;
    const b = nv.prePrepares[i]!;
    if (a.seq !== b.seq || a.digest !== b.digest) return `seq ${a.seq}: re-proposed ${b.digest}, the view changes imply ${a.digest}`;
  }
  return plan;
}

/** View changes further ahead than this are ignored (a liar could otherwise make us store views without end). */
const MAX_VIEWS_AHEAD = 1024;

/** The view changer: its state, its timer, and the steps from a view change to the new view. */
export class ViewChanger {
  /** View changes received (and our own), by view and sender. */
  readonly #viewChanges = new Map<number, Map<string, { vc: ViewChangeMessage; proof: VerifiedProof | undefined }>>();
  /** The latest view each replica asked for. */
  readonly #latest = new Map<string, number>();
  #own: { message: ViewChangeMessage; batches: Array<{ digest: string; batch: Batch }> } | undefined;
  #elapsed = 0;
  #attempts = 0;
  /** The new view this replica sent as primary (resent to replicas that missed it). */
  sentNewView: SentNewView | undefined;
  /** What the installed new view decided for each re-proposed seq. */
  plan = new Map<number, string>();

  constructor(private readonly core: BftCore) {}

  /** Each tick while changing views. */
  tick(): void {
    const c = this.core;
    // The timer runs only once a quorum is changing to this view too (PBFT's rule): a replica
    // alone does not race ahead through views the others never reach. A replica asking for a
    // later view has given up on this one too.
    let changingWithUs = 0;
    for (const [id, v] of this.#latest) if (v >= c.view && isMember(c.group, id)) changingWithUs++;
    if (changingWithUs >= quorumSize(c.group.members.length) && ++this.#elapsed > c.cfg.viewChangeTimeoutTicks * 2 ** Math.min(this.#attempts, 2)) this.start(c.view + 1);
  }

  start(view: number): void {
    const c = this.core;
    // Views only move forward (a view change for the view we are in would claim its own certificates).
    if (view <= c.view) return;
    this.#attempts = c.changing ? this.#attempts + 1 : 0;
    c.view = view;
    c.changing = true;
    this.#elapsed = 0;
    c.primaryWatch.reset();
    this.plan.clear();
    c.emit({ type: 'persist', hard: c.hardState() });
    this.sendViewChange();
    for (const v of [...this.#viewChanges.keys()]) if (v < view) this.#viewChanges.delete(v);
  }

  /** Our view change for the current view: stable checkpoint and prepared certificates, to all. */
  sendViewChange(): void {
    const c = this.core;
    const view = c.view;
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
    const stableRef = { seq: c.stable.seq, digest: c.stable.digest, cert: c.stable.cert.map(ref) };
    const prepared: PreparedClaim[] = [];
    const batches: Array<{ digest: string; batch: Batch }> = [];
    for (const s of [...c.slots.values()].sort((a, b) => a.seq - b.seq)) {
      if (!s.cert || s.seq <= c.stable.seq || s.seq > c.stable.seq + c.cfg.windowSize) continue;
      prepared.push({ seq: s.seq, view: s.cert.view, digest: s.cert.digest, prePrepare: ref(s.cert.prePrepare), prepares: s.cert.prepares.map(ref) });
      if (s.cert.digest !== NULL_DIGEST) batches.push({ digest: s.cert.digest, batch: s.cert.batch });
    }
    const message: ViewChangeMessage = { type: 'viewChange', view, stable: stableRef, prepared, proofs };
    this.#own = { message, batches };
    this.#vcs(view).set(c.id, { vc: message, proof: undefined });
    this.#latest.set(c.id, view);
    c.send(c.others(), message, batches);
  }

  /** Status period while changing: repeat our view change (lost messages). */
  resendOwn(): void {
    const c = this.core;
    if (this.#own && this.#own.message.view === c.view) c.send(c.others(), this.#own.message, this.#own.batches);
  }

  /** A replica that missed our new view: show it again (once per answer interval). */
  resendNewView(to: string): void {
    const c = this.core;
    if (this.sentNewView && c.answers.allow(to, 'newView', c.tickCount)) c.send([to], this.sentNewView.message, this.sentNewView.batches);
  }

  #vcs(view: number): Map<string, { vc: ViewChangeMessage; proof: VerifiedProof | undefined }> {
    let m = this.#viewChanges.get(view);
    if (!m) this.#viewChanges.set(view, (m = new Map()));
    return m;
  }

  /** Digests of batches the view changes held claim prepared (the pool keeps them for the new view). */
  *preparedDigests(): Iterable<string> {
    for (const vcs of this.#viewChanges.values()) for (const { vc } of vcs.values()) for (const c of vc.prepared) yield c.digest;
  }

  /** Whether a view change from `from` for `view` would be checked (see BftCore.viewChangeWanted). */
  wanted(from: string, view: number): boolean {
    const c = this.core;
    if (view < c.view || (view === c.view && !c.changing)) return false;
    if (!isMember(c.group, c.id) || !isMember(c.group, from) || view > c.view + MAX_VIEWS_AHEAD) return false;
    // One view change per sender: its latest (a sender that moved on no longer backs older views).
    const latest = this.#latest.get(from);
    return latest === undefined || latest < view;
  }

  newViewWanted(view: number): boolean {
    const c = this.core;
    return isMember(c.group, c.id) && (view > c.view || (view === c.view && c.changing));
  }

  /** Our own signed view change: its proof, for the new view. */
  signed(m: ViewChangeMessage, proof: VerifiedProof): void {
    const entry = this.#viewChanges.get(m.view)?.get(this.core.id);
    if (entry) entry.proof ??= proof;
    this.tryNewView();
  }

  onViewChange(from: string, m: ViewChangeMessage, proof: VerifiedProof | undefined): void {
    const c = this.core;
    if (c.answers.demand(from, 'viewChange', c.tickCount)) c.exclusion.caught(from, `view change flood: more than ${c.answers.floodAt} in ${c.answers.interval} ticks`);
    if (!this.wanted(from, m.view)) {
      // A replica still asking for a view we are already in: show it the new view (once per interval).
      if (m.view === c.view && !c.changing) this.resendNewView(from);
      return;
    }
    const latest = this.#latest.get(from);
    const problem = checkViewChange(m, from, c.group, c.cfg.windowSize, (seq) => c.configFor(seq));
    if (problem) return c.exclusion.caught(from, `view change: ${problem}`);
    if (latest !== undefined) this.#viewChanges.get(latest)?.delete(from);
    this.#latest.set(from, m.view);
    this.#vcs(m.view).set(from, { vc: m, proof });
    // f+1 replicas want a later view: at least one is correct, so join the lowest of them.
    if (m.view > c.view) {
      const ahead: number[] = [];
      for (const [id, v] of this.#latest) if (v > c.view && isMember(c.group, id)) ahead.push(v);
      if (ahead.length >= weakQuorum(c.group.members.length)) this.start(Math.min(...ahead));
    }
    this.tryNewView();
  }

  /** The new primary sends its new view once it holds a quorum of signed view changes. */
  tryNewView(): void {
    const c = this.core;
    if (!c.changing || c.primary !== c.id || this.sentNewView?.view === c.view) return;
    const vcs = [...this.#vcs(c.view)].filter(([id, e]) => e.proof !== undefined && isMember(c.group, id));
    if (vcs.length < quorumSize(c.group.members.length)) return;
    const chosen = vcs.slice(0, quorumSize(c.group.members.length));
    const plan = planNewView(chosen.map(([, e]) => e.vc));
    const batches: Array<{ digest: string; batch: Batch }> = [];
    for (const p of plan.prePrepares) {
      if (p.digest === NULL_DIGEST) continue;
      const batch = c.pool.get(p.digest);
      if (!batch) return; // its batch came with the view changes; wait if not yet
      batches.push({ digest: p.digest, batch });
    }
    const message: BftMessage = { type: 'newView', view: c.view, viewChanges: chosen.map(([, e]) => e.proof!), prePrepares: plan.prePrepares };
    this.sentNewView = { view: c.view, message, batches };
    c.emit({ type: 'persist', newView: this.sentNewView });
    c.send(c.others(), message, batches);
    this.#install(c.view, plan);
  }

  onNewView(from: string, m: NewViewMessage): void {
    const c = this.core;
    if (m.view < c.view || (m.view === c.view && !c.changing)) return;
    const plan = checkNewView(m, from, c.group, c.cfg.windowSize, (seq) => c.configFor(seq));
    if (typeof plan === 'string') return c.exclusion.caught(from, `new view: ${plan}`);
    this.#install(m.view, plan);
  }

  #install(view: number, plan: NewViewPlan): void {
    const c = this.core;
    c.view = view;
    c.changing = false;
    this.#attempts = 0;
    c.emit({ type: 'persist', hard: c.hardState() });
    // The checkpoint was checked with the view change that carried it (its signer vouching too).
    c.checkpoints.adoptStable(plan.stable);
    this.plan = new Map(plan.prePrepares.map((p) => [p.seq, p.digest]));
    c.emit({ type: 'persist', hard: c.hardState() });
    // Our own batches that no backup prepared: a client that gave only us its version stalls them like this.
    const unvouched = new Set<string>();
    for (const s of c.slots.values()) {
      if (s.committed || !s.batch || s.view < 0 || primaryOf(c.configFor(s.seq), s.view) !== c.id) continue;
      if ([...s.prepares].some(([id, v]) => id !== c.id && v.view === s.view && v.digest === s.digest)) continue;
      for (const item of s.batch.items) if (item.k === 'req') unvouched.add(item.client);
    }
    // Slots not yet committed start over in the new view (their certificates are kept for later view changes).
    for (const s of c.slots.values()) {
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
    // Requests stalled in the last view the way an equivocating client stalls them are not carried
    // into the new one (request-pool.ts); the rest get a fresh request timer.
    c.requests.carryIntoView(unvouched);
    c.exclusion.evidenceProposed.clear();
    const maxS = plan.prePrepares.length ? plan.prePrepares[plan.prePrepares.length - 1]!.seq : plan.stable.seq;
    if (c.primary === c.id) {
      c.normal.nextSeq = Math.max(maxS, c.executed, c.stable.seq) + 1;
      for (const p of plan.prePrepares) {
        if (p.seq <= c.executed) continue;
        const slot = c.slot(p.seq);
        if (slot.committed) continue;
        const batch = p.digest === NULL_DIGEST ? NULL_BATCH : c.pool.get(p.digest)!;
        c.normal.acceptPrePrepare(slot, view, p.digest, batch, undefined);
        c.persistSlot(slot);
        c.broadcast({ type: 'prePrepare', view, seq: p.seq, digest: p.digest }, p.digest === NULL_DIGEST ? undefined : [{ digest: p.digest, batch }]);
      }
    }
    c.replayDeferred();
  }
}
