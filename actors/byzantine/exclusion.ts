/**
 * Exclusion: checkable evidence of misbehaviour (equivocation, a checkpoint or execution digest
 * contradicting a quorum; see evidence.ts and execution-evidence.ts) is recorded, told to the
 * others and ordered by a primary; executed, it removes the accused at the next boundary.
 * Misbehaviour without such proof is only counted (`caught`).
 */
import type { BftCore } from './core.ts';
import { checkEvidence } from './evidence.ts';
import { ExecutionLedger } from './execution-evidence.ts';
import { isMember } from './quorum.ts';
import type { Evidence, VerifiedProof } from './types.ts';

export class Exclusion {
  /** Evidence held against each replica, until it is excluded (repeated so a later primary orders it). */
  readonly accusations = new Map<string, Evidence>();
  /** Accused whose evidence is in a batch of this view. */
  readonly evidenceProposed = new Set<string>();
  /** Execution digests signed in commits (wrong execution is evidence within a batch or two). */
  readonly exec = new ExecutionLedger();

  constructor(private readonly core: BftCore) {}

  /** A pre-prepare another replica showed us: evidence if its primary signed another for the same slot. */
  onRelay(proof: VerifiedProof): void {
    const c = this.core;
    for (const m of proof.messages) {
      if (m.type !== 'prePrepare') continue;
      const slot = c.slots.get(m.seq);
      if (!slot || slot.view !== m.view || slot.digest === m.digest || !slot.ppProof || slot.ppProof.from !== proof.from) continue;
      this.accuse(proof.from, { kind: 'equivocation', a: slot.ppProof, b: proof }, true);
    }
  }

  /** Records checkable evidence against a replica, tells the others, and (as primary) orders it. */
  accuse(accused: string, evidence: Evidence, detectedHere: boolean): void {
    const c = this.core;
    if (this.accusations.has(accused) || accused === c.id) return;
    if (checkEvidence(accused, evidence, c.group) !== null) return;
    this.accusations.set(accused, evidence);
    this.caught(accused, evidence.kind === 'equivocation' ? 'equivocation' : evidence.kind === 'execution' ? 'execution digest contradicts a quorum' : 'checkpoint digest contradicts a stable certificate');
    if (detectedHere) c.send(c.others(), { type: 'accuse', accused, evidence });
    // A primary proven faulty would not order the evidence against itself: move on at once.
    if (accused === c.primary && !c.changing && isMember(c.group, c.id)) c.viewChanger.start(c.view + 1);
  }

  caught(replica: string, what: string): void {
    const c = this.core;
    c.misbehaviour.push({ replica, what });
    if (c.misbehaviour.length > 256) c.misbehaviour.shift();
    c.emit({ type: 'misbehaviour', replica, what });
  }

  /** A signed execution claim: evidence against whoever contradicts a quorum that agrees. */
  recordExec(from: string, exec: { seq: number; digest: string }, proof: VerifiedProof): void {
    const c = this.core;
    if (exec.seq <= c.stable.seq || exec.seq > c.executed + c.cfg.windowSize) return;
    for (const { accused, evidence } of this.exec.record(from, exec, proof, c.group)) this.accuse(accused, evidence, true);
  }
}
