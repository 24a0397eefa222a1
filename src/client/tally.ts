// The byzantine client's ballot box: what a reply claims (checked for shape), the key replies
// must agree on, and the latest vote of each replica.

import { encode } from '../codec/index.ts';
import { sha256Sync, toHex } from '../crypto/index.ts';
import { WIRE_MAX_DEPTH } from '../wire/index.ts';
import { REPLY_LIMIT, toSession } from './policy.ts';
import type { AppSnapshot, SessionInfo } from './types.ts';

/** What a replica claims a request or read produced, once checked for shape. */
export interface Claim {
  index: number;
  digest: string;
  snapshot: AppSnapshot;
  members: string[];
  /** A session opened or resumed: its id and last applied seq. */
  session?: SessionInfo;
}

/** An error vote: its text, and for refusals a client can act on, the code and the whole body (sizes, limits). */
export type Vote = { claim: Claim } | { error: string; code?: string; body?: Record<string, unknown> };

/**
 * The votes of one request or read: the latest vote of each replica, grouped by match key.
 * A replica that answers again (the client retransmitted) replaces its earlier vote, so no
 * replica counts twice.
 */
export class VoteTally {
  readonly #votes = new Map<string, { key: string; vote: Vote }>();

  record(replica: string, key: string, vote: Vote): void {
    this.#votes.set(replica, { key, vote });
  }

  /** Distinct replicas heard from. */
  get size(): number {
    return this.#votes.size;
  }

  /** Replicas whose latest vote has this key, sorted. */
  voters(key: string): string[] {
    const out: string[] = [];
    for (const [replica, v] of this.#votes) if (v.key === key) out.push(replica);
    return out.sort();
  }

  /** Each key with its vote count and one of its votes (all votes of a key say the same). */
  keys(): Array<{ key: string; count: number; vote: Vote }> {
    const byKey = new Map<string, { key: string; count: number; vote: Vote }>();
    for (const v of this.#votes.values()) {
      const entry = byKey.get(v.key);
      if (entry) entry.count++;
      else byKey.set(v.key, { key: v.key, count: 1, vote: v.vote });
    }
    return [...byKey.values()];
  }

  /** The first error received (in order of each replica's first vote) among current votes with this key. */
  firstError(key: string): { replica: string; body: Record<string, unknown> } | undefined {
    for (const [replica, v] of this.#votes) {
      if (v.key === key && 'error' in v.vote) return { replica, body: v.vote.body ?? { message: v.vote.error } };
    }
    return undefined;
  }

  /** Replicas whose latest vote is a result with another key, sorted, with the digest they claimed. */
  dissent(key: string): Array<{ replica: string; digest: string }> {
    const out: Array<{ replica: string; digest: string }> = [];
    for (const [replica, v] of this.#votes) if (v.key !== key && 'claim' in v.vote) out.push({ replica, digest: v.vote.claim.digest });
    return out.sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  }
}

/**
 * Votes of an error: every error matches every other (the text may differ between replicas),
 * except the session table's refusals, which must agree on their code.
 */
export const ERROR_KEY = 'error';
export const REFUSAL_CODES = new Set(['session-expired', 'request-mismatch', 'stale', 'event-too-large']);

/**
 * What replies must agree on. The snapshot's hash is part of it although the state digest
 * already covers the state: the digest cannot be checked against the snapshot here, so
 * without it a faulty replica could pair the right digest with a made-up snapshot and be
 * counted as agreeing. Correct replicas send the same snapshot for the same index.
 */
export function matchKey(c: Claim): string {
  // JSON of the parts, not a concatenation: ids containing ',' must not make two lists look alike.
  // Within what a reply may be (REPLY_LIMIT): a state over the codec's 1 MiB default is still a vote.
  return JSON.stringify([c.index, c.digest, c.members, toHex(sha256Sync(encode(c.snapshot as never, { maxSize: REPLY_LIMIT, maxDepth: WIRE_MAX_DEPTH }))), c.session ?? null]);
}

/** A claim from untrusted bytes, or undefined when it is not shaped like one. */
export function toClaim(x: unknown, members: unknown): Claim | undefined {
  const c = x as Partial<Record<keyof Claim, unknown>> | null;
  if (!c || typeof c !== 'object' || !Number.isSafeInteger(c.index) || typeof c.digest !== 'string') return undefined;
  const snapshot = c.snapshot as Partial<AppSnapshot> | null;
  if (!snapshot || typeof snapshot !== 'object' || Array.isArray(snapshot) || typeof snapshot.status !== 'string') return undefined;
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === 'string' && m !== '')) return undefined;
  if (new Set(members).size !== members.length) return undefined;
  const claim: Claim = { index: c.index as number, digest: c.digest, snapshot: snapshot as AppSnapshot, members: members as string[] };
  if (c.session !== undefined) {
    const session = toSession(c.session);
    if (!session) return undefined;
    claim.session = session;
  }
  return claim;
}
