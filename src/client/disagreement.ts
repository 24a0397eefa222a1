/**
 * Saying that replicas disagree, instead of timing out: correct replicas that executed the
 * same request agree byte for byte, so replies that cannot gather a quorum mean some
 * replicas are faulty, or the app is not deterministic (see README, Things to know).
 */

export interface DisagreeGroup {
  replicas: string[];
  digest: string;
  index: number;
}

/**
 * Each distinct answer, largest first, and the text "replicas disagree: r1,r2 → digest
 * ab12… at index 7; r3 → digest cd34… at index 7"; undefined with fewer than two answers.
 */
export function disagreement(
  keys: Array<{ key: string; vote: { claim: { digest: string; index: number } } | { error: string } }>,
  voters: (key: string) => string[],
  what: string,
): { message: string; groups: DisagreeGroup[] } | undefined {
  const groups = keys
    .filter((k): k is { key: string; vote: { claim: { digest: string; index: number } } } => 'claim' in k.vote)
    .map((k) => ({ replicas: voters(k.key), digest: k.vote.claim.digest, index: k.vote.claim.index }))
    .sort((a, b) => b.replicas.length - a.replicas.length || (a.replicas[0]! < b.replicas[0]! ? -1 : 1));
  if (groups.length < 2) return undefined;
  const text = groups.map((g) => `${g.replicas.join(',')} → digest ${g.digest.slice(0, 12)} at index ${g.index}`).join('; ');
  return { message: `replicas disagree: ${text} (no quorum; ${what})`, groups };
}
