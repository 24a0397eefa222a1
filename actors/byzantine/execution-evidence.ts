import { isMember, quorumSize } from './quorum.ts';
import type { Config, Evidence, VerifiedProof } from './types.ts';

/**
 * Wrong execution, provable within a batch or two.
 *
 * Each replica's commit carries `exec`: its app-state digest after the last batch it executed
 * (`{ seq, digest }`). Execution is deterministic, so correct replicas sign equal digests for
 * equal seqs. Once a quorum (2f+1) of signed commits agree on the digest after batch `seq`,
 * a signed commit of another member with a different digest for `seq` is evidence anyone can
 * check: a quorum holds f+1 correct replicas, which agree with every correct one. It costs no
 * extra signature (the commits are signed anyway) and needs no checkpoint: a replica that
 * executes wrongly is exposed by the commits of the next batches, not at the next checkpoint.
 */

export type ExecutionEvidence = Extract<Evidence, { kind: 'execution' }>;

/** How many recent seqs of claims are kept (claims lag execution by a batch or two). */
const KEEP_SEQS = 64;

/** The execution claim for `seq` in a signed bundle, if it holds one. */
export function execClaim(proof: VerifiedProof, seq: number): string | undefined {
  for (const m of proof.messages) if (m.type === 'commit' && m.exec && m.exec.seq === seq) return m.exec.digest;
  return undefined;
}

/** Null when the evidence holds (signatures were checked by the runtime), or why not. */
export function checkExecutionEvidence(accused: string, e: ExecutionEvidence, config: Config): string | null {
  if (e.bad.from !== accused) return 'the contradicted commit is not signed by the accused';
  const bad = execClaim(e.bad, e.seq);
  if (bad === undefined) return 'no execution digest in the accused proof';
  let agreed: string | undefined;
  const signers = new Set<string>();
  for (const p of e.cert) {
    if (!isMember(config, p.from) || p.from === accused) continue;
    const d = execClaim(p, e.seq);
    if (d === undefined || d === bad) continue;
    agreed ??= d;
    if (d === agreed) signers.add(p.from);
  }
  return signers.size >= quorumSize(config.members.length) ? null : 'the agreeing digests are not a quorum';
}

/** Signed execution claims from commits, per seq and sender; turns contradictions of a quorum into evidence. */
export class ExecutionLedger {
  /** This replica's digests after the batches it executed recently. */
  readonly #own = new Map<number, string>();
  #latest = 0;
  readonly #claims = new Map<number, Map<string, { digest: string; proof: VerifiedProof }>>();

  executed(seq: number, digest: string): void {
    this.#own.set(seq, digest);
    this.#latest = Math.max(this.#latest, seq);
    if (this.#own.size > KEEP_SEQS) this.#own.delete(this.#own.keys().next().value!);
  }

  /**
   * What a commit for slot `seq` carries: the digest after batch seq-1, or after the last batch
   * executed if that is earlier. Replicas at the same pace thus claim the same seq, so a quorum
   * forms on each seq and one contradicting claim stands out.
   */
  claimFor(seq: number): { seq: number; digest: string } | undefined {
    const at = Math.min(seq - 1, this.#latest);
    const digest = this.#own.get(at);
    return digest === undefined ? undefined : { seq: at, digest };
  }

  /**
   * Records `from`'s signed claim; returns evidence against every member whose claim for that
   * seq contradicts a quorum that agrees (at most once per sender and seq: only new claims trigger).
   */
  record(from: string, claim: { seq: number; digest: string }, proof: VerifiedProof, config: Config): Array<{ accused: string; evidence: ExecutionEvidence }> {
    if (!isMember(config, from)) return [];
    let bySender = this.#claims.get(claim.seq);
    if (!bySender) {
      if (this.#claims.size >= KEEP_SEQS) {
        const lowest = Math.min(...this.#claims.keys());
        if (claim.seq < lowest) return [];
        this.#claims.delete(lowest);
      }
      this.#claims.set(claim.seq, (bySender = new Map()));
    }
    if (bySender.has(from)) return [];
    bySender.set(from, { digest: claim.digest, proof });
    const counts = new Map<string, VerifiedProof[]>();
    for (const [id, c] of bySender) {
      if (!isMember(config, id)) continue;
      const list = counts.get(c.digest) ?? [];
      list.push(c.proof);
      counts.set(c.digest, list);
    }
    const out: Array<{ accused: string; evidence: ExecutionEvidence }> = [];
    for (const [digest, cert] of counts) {
      if (cert.length < quorumSize(config.members.length)) continue;
      for (const [id, c] of bySender) if (c.digest !== digest) out.push({ accused: id, evidence: { kind: 'execution', seq: claim.seq, bad: c.proof, cert } });
    }
    return out;
  }

  /** Claims for seqs below `seq` are no longer needed (a stable checkpoint covers them). */
  prune(seq: number): void {
    for (const s of [...this.#claims.keys()]) if (s < seq) this.#claims.delete(s);
  }
}
