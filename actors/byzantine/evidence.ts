import { checkExecutionEvidence } from './execution-evidence.ts';
import { isMember, quorumSize } from './quorum.ts';
import type { BftMessage, Config, Evidence, VerifiedProof } from './types.ts';

type Vote = Extract<BftMessage, { type: 'prePrepare' | 'prepare' | 'commit' }>;

/**
 * Evidence anyone can check that a replica is faulty. Signatures were checked by the runtime
 * (a VerifiedProof is signed by `from`); here only the content is judged, so every correct
 * replica reaches the same verdict. Returns null when the evidence holds, or why not.
 */
export function checkEvidence(accused: string, e: Evidence, config: Config): string | null {
  if (!isMember(config, accused)) return `${accused} is not a member`;
  if (e.kind === 'equivocation') {
    if (e.a.from !== accused || e.b.from !== accused) return 'the proofs are not signed by the accused';
    return findConflict(e.a, e.b) ? null : 'the proofs do not conflict';
  }
  if (e.kind === 'execution') return checkExecutionEvidence(accused, e, config);
  if (e.bad.from !== accused) return 'the contradicted checkpoint is not signed by the accused';
  const bad = e.bad.messages.find((m) => m.type === 'checkpoint');
  if (!bad || bad.type !== 'checkpoint') return 'no checkpoint in the accused proof';
  const signers = new Set<string>();
  for (const p of e.cert) {
    if (!isMember(config, p.from) || p.from === accused) continue;
    if (p.messages.some((m) => m.type === 'checkpoint' && m.seq === bad.seq && m.digest !== bad.digest && m.digest === certDigest(e.cert, bad.seq))) signers.add(p.from);
  }
  return signers.size >= quorumSize(config.members.length) ? null : 'the certificate is not a quorum';
}

function certDigest(cert: VerifiedProof[], seq: number): string | undefined {
  for (const p of cert) for (const m of p.messages) if (m.type === 'checkpoint' && m.seq === seq) return m.digest;
  return undefined;
}

/** Two votes of one kind, view and seq with different digests, one in each proof. */
export function findConflict(a: VerifiedProof, b: VerifiedProof): [Vote, Vote] | undefined {
  for (const x of a.messages) {
    if (x.type !== 'prePrepare' && x.type !== 'prepare' && x.type !== 'commit') continue;
    for (const y of b.messages) {
      if (y.type === x.type && y.view === x.view && y.seq === x.seq && y.digest !== x.digest) return [x, y as Vote];
    }
  }
  return undefined;
}
