// The byzantine model's vote policy: every request and read goes to all replicas, and the client
// votes on their replies (any f of them may lie). The counts come from the fault model's
// descriptor (src/fault-models/byzantine.ts), which takes them from the protocol's quorum math.

import { open, type WireKind } from '../wire/index.ts';
import { disagreement } from './disagreement.ts';
import { ClientTimeoutError, rejection, ReplicasDisagreeError } from './errors.ts';
import { REPLY_LIMIT, type ClientCore, type Operation, type Quorums, type VotePolicy } from './policy.ts';
import { networkNote, noLink, sentToReplicas } from './reachability.ts';
import { ERROR_KEY, matchKey, REFUSAL_CODES, toClaim, VoteTally, type Claim, type Vote } from './tally.ts';
import type { DissentRecord } from './types.ts';

/** A request or read under way. */
interface Ballot extends Operation {
  /** `read` is the unordered read; `orderedRead` its fallback through the total order (which keeps its read's start). */
  kind: 'request' | 'read' | 'orderedRead';
  fallbackTimer: unknown;
  tally: VoteTally;
}

const DISSENT_LOG_LIMIT = 100;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Votes are keyed by (index, digest, members, snapshot). With n replicas and f = maxFaulty(n),
 * a result needs the reply quorum (f+1) of the bigger of the group and the claimed members, a
 * rejection f+1 errors, an unordered read the read quorum (2f+1 when n = 3f+1; else it falls
 * back to an ordered read, decided like a request). After a result, the client adopts the
 * member list it agreed on.
 */
export class ByzantineVotes implements VotePolicy {
  readonly #core: ClientCore;
  readonly #quorums: Quorums;
  /** A copy of the given replicas: only agreed replies change the group. */
  #members: string[];
  #ballot: Ballot | undefined;
  /** The last decided request or read, to notice replies that dissent after the decision. */
  #decided: { kind: 'reply' | 'readReply'; number: number; key: string; logged: Set<string> } | undefined;
  readonly #dissentLog: DissentRecord[] = [];

  constructor(core: ClientCore, quorums: Quorums) {
    this.#core = core;
    this.#quorums = quorums;
    this.#members = [...core.replicas];
  }

  /** As last agreed by the group's replies. */
  get replicas(): readonly string[] {
    return this.#members;
  }

  get dissentLog(): readonly DissentRecord[] {
    return this.#dissentLog;
  }

  start(kind: 'request' | 'read', number: number, body: Record<string, unknown>, session: number): Promise<unknown> {
    const startedAt = this.#core.clock.now();
    return new Promise((resolve, reject) => this.#openBallot({ kind, number, session, body, startedAt, resolve, reject }));
  }

  close(): void {
    const b = this.#ballot;
    if (!b) return;
    this.#endBallot(b);
    b.reject(new ClientTimeoutError('client closed'));
  }

  #openBallot(b: Pick<Ballot, 'kind' | 'number' | 'session' | 'body' | 'startedAt' | 'resolve' | 'reject'> & Partial<Pick<Ballot, 'sentBefore'>>): void {
    const ballot: Ballot = { sentBefore: sentToReplicas(this.#core.transport, this.#members), ...b, attempt: 0, timer: undefined, fallbackTimer: undefined, tally: new VoteTally() };
    this.#ballot = ballot;
    if (ballot.kind === 'read') {
      ballot.fallbackTimer = this.#core.clock.setTimeout(() => this.#fallBackToOrderedRead(ballot), this.#core.readFallbackMs);
    }
    this.#broadcast(ballot);
  }

  /** Sends (again) to every replica: each replies to each copy, and any may be faulty. */
  #broadcast(b: Ballot): void {
    b.attempt++;
    this.#core.clock.clearTimeout(b.timer);
    b.timer = this.#core.clock.setTimeout(() => this.#onBallotTimeout(b), this.#core.retryAfterMs);
    const kind: WireKind = b.kind === 'request' ? 'request' : 'read';
    for (const replica of this.#members) void this.#core.send(replica, kind, b.body, () => this.#ballot === b);
  }

  #onBallotTimeout(b: Ballot): void {
    if (this.#ballot !== b) return;
    const core = this.#core;
    const unreachable = noLink(core.transport, this.#members, core.clock.now() - b.startedAt, core.noLinkAfterMs, b.sentBefore);
    if (unreachable) {
      this.#endBallot(b);
      return b.reject(unreachable);
    }
    if (core.clock.now() - b.startedAt >= core.giveUpAfterMs) {
      this.#endBallot(b);
      const what = b.kind === 'request' ? 'the request may or may not have been applied' : 'no read result';
      const split = disagreement(b.tally.keys(), (k) => b.tally.voters(k), what);
      if (split) return b.reject(new ReplicasDisagreeError(split.message, split.groups));
      b.reject(new ClientTimeoutError(`no agreement after ${core.giveUpAfterMs} ms (${b.attempt} rounds); ${what}${networkNote(core.transport, this.#members)}`));
      return;
    }
    this.#broadcast(b);
  }

  /** The unordered read cannot or did not agree in time: read through the total order instead. */
  #fallBackToOrderedRead(b: Ballot): void {
    if (this.#ballot !== b || b.kind !== 'read') return;
    this.#endBallot(b);
    // A fresh nonce, so that late replies to the unordered read do not count as ordered ones.
    const nonce = this.#core.nextNonce();
    this.#openBallot({ kind: 'orderedRead', number: nonce, session: 0, body: { nonce, ordered: true }, startedAt: b.startedAt, sentBefore: b.sentBefore, resolve: b.resolve, reject: b.reject });
  }

  #endBallot(b: Ballot): void {
    this.#core.clock.clearTimeout(b.timer);
    this.#core.clock.clearTimeout(b.fallbackTimer);
    if (this.#ballot === b) this.#ballot = undefined;
  }

  /** Matching replies a claim needs: a reply claiming a bigger group must convince that group's f+1. */
  #resultQuorum(claim: Claim): number {
    return this.#quorums.replyQuorum(Math.max(this.#members.length, claim.members.length));
  }

  /**
   * Matching replies an unordered read needs: a quorum of the group (2f+1 when n = 3f+1;
   * 2 of 3 after an exclusion), so it meets every commit quorum in a correct replica, which
   * answers only once it executed everything it saw prepared: no older than a completed write.
   */
  #readQuorum(claim: Claim): number {
    return this.#quorums.readQuorum(Math.max(this.#members.length, claim.members.length));
  }

  async receive(from: string, bytes: Uint8Array): Promise<void> {
    if (!this.#members.includes(from)) return;
    const r = await open(bytes, from, { self: this.#core.id, memberKey: () => undefined, maxBytes: REPLY_LIMIT });
    // The group may have changed while the envelope was opened.
    if (!r.ok || !this.#members.includes(from)) return;
    const kind = r.message.kind;
    const body = r.message.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object') return;
    // Replicas never redirect in this model; anything but these three is ignored.
    if (kind !== 'reply' && kind !== 'readReply' && kind !== 'error') return;
    const number = kind === 'readReply' ? body.nonce : body.seq;

    let vote: Vote;
    let key: string;
    if (kind === 'error') {
      const code = typeof body.code === 'string' && REFUSAL_CODES.has(body.code) ? body.code : undefined;
      vote = code === undefined ? { error: String(body.message) } : { error: String(body.message), code, body };
      key = code === undefined ? ERROR_KEY : `${ERROR_KEY}:${code}`;
    } else {
      const claim = kind === 'reply' ? toClaim(body.result, body.members) : toClaim(body, body.members);
      if (!claim) return;
      try {
        key = matchKey(claim);
      } catch {
        return; // a snapshot that is not plain data
      }
      vote = { claim };
    }

    const b = this.#ballot;
    const forBallot =
      b !== undefined && b.number === number && (kind === 'readReply' ? b.kind !== 'request' : b.kind === 'request' && body.session === b.session);
    if (!forBallot) {
      // An answer to an earlier request or read: too late to count, not too late to show a liar.
      if ('claim' in vote) this.#logDissent(kind, number, from, key, vote.claim.digest);
      return;
    }
    b.tally.record(from, key, vote);
    this.#tallyChanged(b, key, vote);
  }

  #tallyChanged(b: Ballot, key: string, vote: Vote): void {
    if ('error' in vote) {
      // Up to f replicas may refuse a good request; f+1 include a correct one.
      if (b.tally.voters(key).length < this.#quorums.replyQuorum(this.#members.length)) return;
      const first = b.tally.firstError(key)!;
      this.#endBallot(b);
      b.reject(rejection(first.replica, first.body));
      return;
    }
    const quorum = b.kind === 'read' ? this.#readQuorum(vote.claim) : this.#resultQuorum(vote.claim);
    if (b.tally.voters(key).length >= quorum) return this.#accept(b, key, vote.claim);
    // every replica answered a request, no answer has its quorum: none will (answers are final)
    const split = b.kind === 'request' && b.tally.size >= this.#members.length ? disagreement(b.tally.keys(), (k) => b.tally.voters(k), 'the request may or may not have been applied') : undefined;
    if (split) {
      this.#endBallot(b);
      return b.reject(new ReplicasDisagreeError(split.message, split.groups));
    }
    if (b.kind === 'read' && !this.#readCanStillAgree(b)) this.#fallBackToOrderedRead(b);
  }

  /**
   * Whether some key can still gather its read quorum: every replica not heard from yet could
   * still join it, while those heard from are taken at their word (a correct replica does
   * not change its answer to the same read).
   */
  #readCanStillAgree(b: Ballot): boolean {
    const n = this.#members.length;
    const silent = n - b.tally.size;
    if (silent >= 2 * this.#quorums.maxFaulty(n) + 1) return true; // a key not seen yet could still win
    return b.tally.keys().some((k) => 'claim' in k.vote && silent + k.count >= this.#readQuorum(k.vote.claim));
  }

  #accept(b: Ballot, key: string, claim: Claim): void {
    this.#endBallot(b);
    const dissent = b.tally.dissent(key);
    const replyKind = b.kind === 'request' ? 'reply' : 'readReply';
    this.#decided = { kind: replyKind, number: b.number, key, logged: new Set() };
    for (const d of dissent) this.#logDissent(replyKind, b.number, d.replica, undefined, d.digest);
    // Enough replicas vouch for this member list: the group was reconfigured, follow it.
    if (!sameList(claim.members, this.#members)) this.#members = [...claim.members];
    if (!claim.session) this.#core.publish(claim.snapshot, claim.index);
    b.resolve({ index: claim.index, snapshot: claim.snapshot, digest: claim.digest, agreed: b.tally.voters(key), dissent, ...(claim.session ? { session: claim.session } : {}) });
  }

  /**
   * Logs a reply to the last decided request or read that disagrees with the decision, at the
   * decision or later. `key` undefined: the caller already knows it dissents.
   */
  #logDissent(kind: WireKind, number: unknown, replica: string, key: string | undefined, digest: string): void {
    const d = this.#decided;
    if (!d || d.kind !== kind || d.number !== number || key === d.key) return;
    const id = JSON.stringify([replica, digest]);
    if (d.logged.has(id)) return; // the same reply again (a retransmission's answer)
    d.logged.add(id);
    this.#dissentLog.push(kind === 'reply' ? { seq: d.number, replica, digest } : { nonce: d.number, replica, digest });
    if (this.#dissentLog.length > DISSENT_LOG_LIMIT) this.#dissentLog.splice(0, this.#dissentLog.length - DISSENT_LOG_LIMIT);
  }
}
