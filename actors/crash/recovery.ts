import type { Membership, RaftMessage, RecoveryRecord } from './types.ts';

/**
 * Recovery of a replica that starts without its state (a wiped or replaced disk), after
 * Viewstamped Replication Revisited §4.3. Such a replica may have voted and acknowledged
 * entries before it lost them: if it voted or acknowledged again from an empty log, an entry
 * committed with its help could be left on fewer than a quorum and be lost. So it:
 *
 * 1. `query`: sends `recover(nonce)` to everyone it knows and answers nothing else (no votes,
 *    no pre-votes, no acknowledgements, no terms adopted), until the answers to this nonce
 *    settle it:
 *    - leader rule: answers from `n - quorum + 1` voters (f+1 when n = 2f+1) other than
 *      itself, of the membership the leader of the highest term among the answers reports,
 *      including that leader's own. Every quorum of that membership meets these answers, so the
 *      highest term among them is at least the term of any entry committed before the loss, and
 *      that term's leader holds every committed entry. It adopts that term with its vote on
 *      that leader, and records the leader's last (index, term) as the target to catch up to;
 *    - genesis rule (the group's creation, where every replica starts empty): no answer holds
 *      anything, and either `n - quorum + 1` of the other initial members answer empty while
 *      not recovering themselves, or every other initial member answers empty. A committed entry
 *      was first held by a quorum of the initial members, and such a replica keeps it unless its
 *      own disk is lost, after which it recovers it (leader rule) before it answers "not
 *      recovering" again; the first rule's answers meet that quorum, so nothing was committed.
 *      The second rule holds while fewer than a quorum of the initial members are without
 *      their state at once (so at most f when n = 2f+1), and lets a group whose members all
 *      start empty (and all recover) begin once every member is up.
 * 2. `catchUp`: follows the leader like any follower (what it acknowledges now, it holds
 *    durably), still without voting, until its log holds the target entry. If a leader of a
 *    newer term appears meanwhile, it asks again and takes that leader's position as target.
 *
 * The adopted term, vote and target are made durable before anything else is sent, and the
 * target stays stored until caught up, so a restart in the middle resumes catching up.
 *
 * Left open: a vote cast just before the loss in a term higher than every answer, for a
 * candidate not among the answers (only possible with f >= 2), is forgotten; if that
 * candidate's requests reach the other voters only after the recovery, the replica could vote
 * twice in that term. Protecting against it needs every vote to be durable somewhere else.
 */
export type RecoveryInit = { stage: 'query'; peers: string[]; initialMembers: string[] } | { stage: 'catchUp'; target: RecoveryRecord };

type Reply = Extract<RaftMessage, { type: 'recoverReply' }>;

export type RecoveryDecision = { kind: 'genesis' } | { kind: 'leader'; leader: string; term: number; index: number; lastTerm: number };

/** Ticks between retransmissions of `recover`. */
const RETRY_TICKS = 5;

export class Recovery {
  stage: 'query' | 'catchUp';
  nonce = 0;
  target: RecoveryRecord | null;
  /** Latest answer per replica to the current nonce. */
  readonly replies = new Map<string, Reply>();
  readonly peers: Set<string>;
  readonly initialMembers: string[];
  /** Term at which we last asked (catchUp asks again when a newer leader appears). */
  askedAtTerm = -1;
  #sinceAsk = 0;

  constructor(init: RecoveryInit, readonly self: string) {
    this.stage = init.stage;
    this.target = init.stage === 'catchUp' ? { ...init.target } : null;
    this.peers = new Set(init.stage === 'query' ? init.peers.filter((p) => p !== self) : []);
    this.initialMembers = init.stage === 'query' ? [...init.initialMembers] : [];
  }

  /** Whether to send `recover` now (and to whom), given the term and ticks. */
  due(term: number, tick: boolean): boolean {
    if (tick) this.#sinceAsk++;
    if (this.stage === 'catchUp' && term <= this.target!.leaderTerm) return false;
    if (this.askedAtTerm === term && this.#sinceAsk < RETRY_TICKS) return false;
    return true;
  }

  /** Starts a round of asking: a fresh nonce when the term moved (old answers are about an older leader). */
  asked(term: number, freshNonce: () => number): number {
    if (this.nonce === 0 || this.askedAtTerm !== term) {
      this.nonce = freshNonce();
      this.replies.clear();
    }
    this.askedAtTerm = term;
    this.#sinceAsk = 0;
    return this.nonce;
  }

  addPeers(membership: Membership): void {
    for (const id of [...membership.voters, ...membership.learners]) if (id !== this.self) this.peers.add(id);
  }

  /** Records an answer to the current nonce; in the query stage, returns the decision once there is one. */
  record(from: string, m: Reply): RecoveryDecision | null {
    if (m.nonce !== this.nonce || from === this.self) return null;
    this.replies.set(from, m);
    if (!m.recovering) this.addPeers(m.membership);
    return this.stage === 'query' ? decide(this.self, this.replies, this.initialMembers, this.peers) : null;
  }

  /** A group of one that knows no other member: nobody to ask, its disk was all there was. */
  alone(): boolean {
    return this.stage === 'query' && this.peers.size === 0 && this.initialMembers.every((id) => id === this.self);
  }
}

/** Answers needed so that every quorum of n voters meets them: n - quorum + 1 (f+1 when n = 2f+1). */
export function answersNeeded(n: number): number {
  return n - (Math.floor(n / 2) + 1) + 1;
}

/** The query stage's rules (see the class comment). */
export function decide(self: string, replies: ReadonlyMap<string, Reply>, initialMembers: readonly string[], peers: ReadonlySet<string> = new Set()): RecoveryDecision | null {
  const settled = [...replies].filter(([, r]) => !r.recovering);
  const holding = [...replies].filter(([, r]) => !r.empty);
  if (holding.length === 0) {
    const others = initialMembers.filter((id) => id !== self);
    if (others.length === 0) {
      // Started alone but it knows members (the group grew): they hold whatever was committed
      // since, so only every one of them answering empty and settled shows there was nothing.
      const known = [...peers].filter((id) => id !== self);
      return known.every((id) => replies.get(id)?.recovering === false) ? { kind: 'genesis' } : null;
    }
    const settledEmpty = others.filter((id) => replies.get(id)?.recovering === false).length;
    if (settledEmpty >= answersNeeded(initialMembers.length)) return { kind: 'genesis' };
    if (others.every((id) => replies.has(id))) return { kind: 'genesis' };
    return null;
  }
  if (settled.length === 0) return null;
  const top = Math.max(...settled.map(([, r]) => r.term));
  const leader = settled.find(([, r]) => r.leader && r.term === top);
  if (!leader) return null;
  const [leaderId, l] = leader;
  const voters = l.membership.voters;
  const answered = voters.filter((id) => id !== self && replies.get(id)?.recovering === false).length;
  if (answered < answersNeeded(voters.length)) return null;
  return { kind: 'leader', leader: leaderId, term: top, index: l.lastIndex, lastTerm: l.lastTerm };
}
