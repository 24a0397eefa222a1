/**
 * The view change, as pure functions over signed messages: checking a replica's view-change
 * message (its stable checkpoint and prepared certificates), choosing what the new view
 * re-proposes, and checking a new primary's proof of its view. The core (core.ts) decides
 * when to change views; these decide what is valid.
 */
import { isMember, primaryOf, quorumSize } from './quorum.ts';
import { NULL_DIGEST, type BftMessage, type Config, type StableCheckpoint, type VerifiedProof } from './types.ts';

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
