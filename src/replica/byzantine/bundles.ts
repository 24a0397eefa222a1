import { VOTE_TYPES, type Batch, type BftEffect, type BftMessage } from '../../../actors/byzantine/index.ts';

/** What a Byzantine replica sends in one instant, grouped: one signed bundle per group. */
export interface OutGroup {
  to: string[];
  messages: BftMessage[];
  batches: Map<string, Batch>;
}

/** Votes to the same recipients share one bundle; a message with nested proofs goes alone. */
export function addToGroups(groups: OutGroup[], effect: Extract<BftEffect, { type: 'send' }>): void {
  const key = effect.to.join(',');
  let g = VOTE_TYPES.has(effect.message.type) ? groups.find((x) => x.to.join(',') === key && x.messages.every((m) => VOTE_TYPES.has(m.type))) : undefined;
  if (!g) {
    g = { to: effect.to, messages: [], batches: new Map() };
    groups.push(g);
  }
  // The latest status supersedes an earlier one (receivers refuse a bundle with two).
  const older = effect.message.type === 'status' ? g.messages.findIndex((m) => m.type === 'status') : -1;
  if (older >= 0) g.messages[older] = effect.message;
  else g.messages.push(effect.message);
  for (const b of effect.batches ?? []) g.batches.set(b.digest, b.batch);
}

/** Digests of the batches a bundle's messages refer to. */
export function referencedDigests(messages: BftMessage[]): Set<string> {
  const out = new Set<string>();
  for (const m of messages) {
    if (m.type === 'prePrepare') out.add(m.digest);
    else if (m.type === 'viewChange') for (const c of m.prepared) out.add(c.digest);
    else if (m.type === 'newView') for (const p of m.prePrepares) out.add(p.digest);
    else if (m.type === 'entries') for (const e of m.slots) out.add(e.digest);
  }
  return out;
}
