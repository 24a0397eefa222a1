import { RaftLog } from './log.ts';
import { Recovery, type RecoveryInit } from './recovery.ts';
import type { Entry, HardState, Membership, MemberKey, RaftConfig, RaftEffect, RaftMessage, RecoveryRecord, Role, SnapshotMeta } from './types.ts';

/** Leader's view of one follower. */
interface Progress {
  match: number;
  next: number;
  /** probe: one append at a time until the follower's log is found; replicate: pipelined; snapshot: waiting for an install. */
  state: 'probe' | 'replicate' | 'snapshot';
  probeSent: boolean;
  /** Last index of each append in flight (pipelining window). */
  inflight: number[];
  /** The highest commit index this follower was told that it can use (it has the entries). */
  commitSent: number;
  pendingSnapshot: number;
  snapshotElapsed: number;
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  /** Heard from at all since this progress was created (the replica was added or we became leader). */
  heard: boolean;
  lastHeardTick: number;
}

interface PendingRead {
  ids: string[];
  index: number;
  round: number;
  acks: Set<string>;
}

export interface RaftInit {
  config: RaftConfig;
  hardState: HardState;
  /** Membership at the snapshot (or the initial one when there is no snapshot). */
  membership: Membership;
  snapshot: (SnapshotMeta & { time: number }) | null;
  /** Log entries after the snapshot, in order. */
  entries: Entry[];
  /** Seed for randomized election timeouts (from the runtime's PRNG: the protocol stays pure). */
  seed: number;
  /** The replica starts without its state (or stopped while catching up after that): recover first (recovery.ts). */
  recovery?: RecoveryInit;
  /**
   * Differs between starts of this replica (the runtime gives its clock's time at start): mixed
   * into recovery nonces, so with a fixed seed a late answer to an earlier start's question is
   * not taken for an answer to this one's.
   */
  incarnation?: number;
}

/**
 * `add` may carry the new member's public key (it travels in the config entry); `nonce` marks an
 * admin-signed change, taken only above the last one applied (a replayed command is refused).
 */
export type MembershipChange = { add: string; key?: Uint8Array; nonce?: number } | { remove: string; nonce?: number } | { promote: string } | { demote: string };

/**
 * The Raft-style protocol as plain state and step functions, after etcd's raft: no I/O, no
 * timers. Callers feed it ticks, messages and proposals; it appends effects to `effects`,
 * which the runtime carries out in order (persist before send). The XState machine in
 * machine.ts wraps it so its role is a statechart state.
 */
export class RaftCore {
  readonly cfg: RaftConfig;
  readonly id: string;
  role: Role = 'follower';
  term: number;
  vote: string | null;
  leader: string | null = null;
  commit: number;
  /** Highest index handed to the runtime for applying. */
  applied: number;
  readonly log = new RaftLog();
  membership: Membership;
  /** Membership at the snapshot: the fallback when a truncation removes every config entry. */
  #snapshotMembership: Membership;
  /** Our own entries (as leader) written but not yet reported durable: indexes #unsyncedFrom..#unsyncedTo. */
  #unsyncedFrom: number | undefined;
  readonly #incarnationSalt: number;
  #unsyncedTo = 0;
  /** Replicated time of the last entry (entries never go back in time). */
  lastTime: number;
  now = 0;
  effects: RaftEffect[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Leader: ticks since there was anything to replicate or read (idle heartbeats after electionTicks of it). */
  quietTicks = 0;
  /** Follower: the idle heartbeat period its leader announced (0: the leader is busy). */
  leaderIdleTicks = 0;
  randomizedElectionTimeout = 0;
  tickCount = 0;
  votes = new Map<string, boolean>();
  progress = new Map<string, Progress>();
  /** Index of the latest config entry; a new change waits until it is committed. */
  pendingConfigIndex = 0;
  transferee: string | null = null;
  transferElapsed = 0;
  reads: PendingRead[] = [];
  readsAwaitingCommit: string[] = [];
  readRound = 0;
  /** Set while this replica recovers lost state: it neither votes nor campaigns (recovery.ts). */
  recovery: Recovery | null = null;
  #rng: number;

  constructor(init: RaftInit) {
    this.cfg = init.config;
    this.id = init.config.id;
    this.#rng = init.seed >>> 0 || 1;
    this.#incarnationSalt = mix32(init.incarnation ?? 0);
    this.term = init.hardState.term;
    this.vote = init.hardState.vote;
    this.membership = cloneMembership(init.membership);
    this.#snapshotMembership = cloneMembership(init.membership);
    this.lastTime = 0;
    if (init.snapshot) {
      this.log.snapshotIndex = init.snapshot.index;
      this.log.snapshotTerm = init.snapshot.term;
      this.membership = cloneMembership(init.snapshot.membership);
      this.#snapshotMembership = cloneMembership(init.snapshot.membership);
      this.lastTime = init.snapshot.time;
    }
    this.log.append(init.entries);
    for (const e of init.entries) {
      if (e.kind === 'config') {
        this.membership = cloneMembership(e.data as Membership);
        this.pendingConfigIndex = e.index;
      }
      this.lastTime = Math.max(this.lastTime, e.time);
    }
    this.applied = this.log.snapshotIndex;
    this.commit = Math.min(Math.max(init.hardState.commit, this.log.snapshotIndex), this.log.lastIndex);
    this.#resetElectionTimeout();
    // Entries committed before a restart are applied again on top of the snapshot.
    this.#emitApply();
    if (init.recovery) {
      this.recovery = new Recovery(init.recovery, this.id);
      if (this.recovery.alone()) {
        this.recovery = null;
        this.#persist({ recovery: null });
      } else this.#recoveryProgress(false);
    }
  }

  // ---- inputs -------------------------------------------------------------------------

  tick(now: number): void {
    this.now = Math.max(this.now, now);
    this.tickCount++;
    if (this.recovery) this.#recoveryProgress(true);
    else if (this.role === 'leader') this.#tickLeader();
    else this.#tickElection();
  }

  propose(requests: ReadonlyArray<{ id: string; data: unknown }>, now: number): void {
    this.now = Math.max(this.now, now);
    if (this.role !== 'leader' || this.transferee !== null) {
      this.#emit({ type: 'notLeader', requestIds: requests.map((r) => r.id), readIds: [], leader: this.transferee ?? this.leader });
      return;
    }
    this.#appendAsLeader(requests.map((r) => ({ kind: 'request' as const, data: r.data })));
  }

  /**
   * Leader: orders an empty entry stamped `now`, so replicated time reaches the application
   * (its delayed transitions fire at that log position) even when no client is sending.
   */
  advanceTime(now: number): void {
    this.now = Math.max(this.now, now);
    if (this.role !== 'leader' || this.transferee !== null || now <= this.lastTime) return;
    this.#appendAsLeader([{ kind: 'noop', data: null }]);
  }

  /** Term and membership at an applied index, for the metadata of a snapshot taken there. */
  snapshotMetaAt(index: number): SnapshotMeta | undefined {
    const term = this.log.term(index);
    if (term === undefined || index > this.applied) return undefined;
    return { index, term, membership: this.#membershipAt(index, { index: this.log.snapshotIndex, term: this.log.snapshotTerm, membership: this.#snapshotMembership }) };
  }

  read(ids: string[]): void {
    if (ids.length === 0) return;
    if (this.role !== 'leader') {
      this.#emit({ type: 'notLeader', requestIds: [], readIds: ids, leader: this.leader });
      return;
    }
    // A new leader does not know the commit index until it commits an entry of its own term.
    if (this.log.term(this.commit) !== this.term) {
      this.readsAwaitingCommit.push(...ids);
      return;
    }
    this.#startRead(ids);
  }

  /** The runtime took and persisted a snapshot at meta.index: compact the log before it. */
  snapshotTaken(meta: SnapshotMeta & { time: number }, keepEntries = 0): void {
    const upTo = Math.min(meta.index, this.applied) - keepEntries;
    if (upTo <= this.log.snapshotIndex) return;
    const term = this.log.term(upTo);
    if (term === undefined) return;
    this.log.compact(upTo, term);
    this.#snapshotMembership = this.#membershipAt(upTo, meta);
    this.#emit({ type: 'compact', upTo });
  }

  /** The runtime served a chunk of the snapshot `from` is fetching: it is alive, do not time the transfer out. */
  snapshotProgress(from: string): void {
    const pr = this.role === 'leader' ? this.progress.get(from) : undefined;
    if (pr?.state === 'snapshot') pr.snapshotElapsed = 0;
  }

  transferLeadership(to: string): string | null {
    if (this.role !== 'leader') return 'not the leader';
    if (to === this.id) return 'already the leader';
    if (!this.membership.voters.includes(to)) return `${to} is not a voter`;
    this.transferee = to;
    this.transferElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex) this.#send(to, { type: 'timeoutNow', term: this.term });
    else this.#sendAppend(to);
    return null;
  }

  /** Proposes a single-replica membership change; returns an error text when it cannot. */
  changeMembership(change: MembershipChange, now: number): string | null {
    this.now = Math.max(this.now, now);
    if (this.role !== 'leader') return 'not the leader';
    if (this.pendingConfigIndex > this.commit) return 'another membership change is in progress';
    if (this.log.term(this.commit) !== this.term) return 'the leader has not committed an entry of its term yet';
    const next = applyChange(this.membership, change);
    if (typeof next === 'string') return next;
    this.#appendAsLeader([{ kind: 'config', data: next }]);
    return null;
  }

  receive(from: string, m: RaftMessage): void {
    if (m.type === 'recover') return this.#answerRecover(from, m);
    if (m.type === 'recoverReply') return this.#onRecoverReply(from, m);
    if (this.recovery) {
      // Knowing nothing yet, it takes part in nothing; catching up, it follows but never votes.
      if (this.recovery.stage === 'query' || m.type === 'vote' || m.type === 'timeoutNow') return;
      // The leader believes we hold entries we lost: an acknowledgement of our former self, delivered
      // after it forgot them, restored its record. Ask it again to forget it.
      if (m.type === 'heartbeat' && m.term >= this.term && m.commit > this.log.lastIndex) this.#send(from, { type: 'recover', term: this.term, nonce: this.recovery.nonce });
      this.#step(from, m);
      this.#recoveryProgress(false);
      return;
    }
    this.#step(from, m);
  }

  #step(from: string, m: Exclude<RaftMessage, { type: 'recover' | 'recoverReply' }>): void {
    if (m.term > this.term) {
      if (m.type === 'vote' && !m.transfer && this.#inLease()) return; // a healthy leader is not unseated
      if ((m.type === 'vote' && m.pre) || (m.type === 'voteReply' && m.pre && m.granted)) {
        // Pre-votes ask about a future term without moving to it.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.#becomeFollower(m.term, from);
      } else {
        this.#becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      // Tell a stale leader or candidate about the newer term so it steps down.
      if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.#send(from, { type: 'appendReply', term: this.term, success: false, matchIndex: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'vote' && m.pre) {
        this.#send(from, { type: 'voteReply', term: this.term, pre: true, granted: false });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
        return this.#handleVote(from, m);
      case 'voteReply':
        return this.#handleVoteReply(from, m);
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        if (this.role !== 'follower') this.#becomeFollower(this.term, from);
        this.leader = from;
        this.electionElapsed = 0;
        if (m.type !== 'heartbeat') this.leaderIdleTicks = 0;
        if (m.type === 'append') return this.#handleAppend(from, m);
        if (m.type === 'heartbeat') return this.#handleHeartbeat(from, m);
        return this.#handleSnapshot(from, m);
      case 'appendReply':
        return this.#handleAppendReply(from, m);
      case 'heartbeatReply':
        return this.#handleHeartbeatReply(from, m);
      case 'timeoutNow':
        if (this.#isVoter(this.id)) this.#campaign(false, true);
        return;
    }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  takeEffects(): RaftEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  // ---- elections ----------------------------------------------------------------------

  /** Ticks beyond the usual that a leader is waited for: three of its announced idle periods. */
  #idleGrace(): number {
    if (this.role === 'leader') return this.#idle() ? 3 * this.cfg.idleHeartbeatTicks : 0;
    return 3 * this.leaderIdleTicks;
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout + this.#idleGrace() && this.#isVoter(this.id)) {
      this.#campaign(this.cfg.preVote, false);
    }
  }

  #campaign(pre: boolean, transfer: boolean): void {
    this.electionElapsed = 0;
    this.#resetElectionTimeout();
    if (pre) {
      this.role = 'preCandidate';
      this.leader = null;
    } else {
      this.role = 'candidate';
      this.term++;
      this.vote = this.id;
      this.leader = null;
      this.#persistHardState();
    }
    this.votes = new Map([[this.id, true]]);
    if (this.#quorumReached()) {
      if (pre) return this.#campaign(false, false);
      return this.#becomeLeader();
    }
    const term = pre ? this.term + 1 : this.term;
    for (const v of this.membership.voters) {
      if (v === this.id) continue;
      this.#send(v, { type: 'vote', term, pre, lastIndex: this.log.lastIndex, lastTerm: this.log.lastTerm, transfer });
    }
  }

  #handleVote(from: string, m: Extract<RaftMessage, { type: 'vote' }>): void {
    const upToDate = this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (m.pre) {
      // Grant a pre-vote for a future term when the candidate's log is good enough and we lack a live leader.
      const granted = m.term > this.term && upToDate && (this.leader === null || m.transfer || !this.cfg.checkQuorum || !this.#inLease());
      this.#send(from, { type: 'voteReply', term: granted ? m.term : this.term, pre: true, granted });
      return;
    }
    const canVote = this.vote === from || (this.vote === null && this.leader === null);
    const granted = canVote && upToDate;
    if (granted) {
      this.vote = from;
      this.electionElapsed = 0;
      this.#persistHardState(); // the vote is durable before it is sent
    }
    this.#send(from, { type: 'voteReply', term: this.term, pre: false, granted });
  }

  #handleVoteReply(from: string, m: Extract<RaftMessage, { type: 'voteReply' }>): void {
    if ((m.pre && this.role !== 'preCandidate') || (!m.pre && this.role !== 'candidate')) return;
    if (!this.#isVoter(from)) return;
    this.votes.set(from, m.granted);
    if (this.#quorumReached()) {
      if (m.pre) this.#campaign(false, false);
      else this.#becomeLeader();
      return;
    }
    let rejects = 0;
    for (const g of this.votes.values()) if (!g) rejects++;
    if (rejects >= quorumSize(this.membership.voters.length)) this.#becomeFollower(this.term, null);
  }

  #quorumReached(): boolean {
    let granted = 0;
    for (const [id, g] of this.votes) if (g && this.#isVoter(id)) granted++;
    return granted >= quorumSize(this.membership.voters.length);
  }

  #becomeFollower(term: number, leader: string | null): void {
    const wasLeader = this.role === 'leader';
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
      this.#persistHardState();
    }
    this.role = 'follower';
    if (leader !== this.leader) this.leaderIdleTicks = 0;
    this.leader = leader;
    this.electionElapsed = 0;
    this.#resetElectionTimeout();
    this.progress.clear();
    this.transferee = null;
    if (wasLeader) this.#failPendingReads();
  }

  #becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.heartbeatElapsed = 0;
    this.quietTicks = 0;
    this.electionElapsed = 0;
    this.transferee = null;
    this.progress.clear();
    for (const id of this.#peers()) this.progress.set(id, newProgress(this.log.lastIndex + 1, this.tickCount));
    // No membership change until an entry of this term commits (single-server change safety).
    this.pendingConfigIndex = Math.max(this.pendingConfigIndex, this.log.lastIndex);
    this.#appendAsLeader([{ kind: 'noop', data: null }]);
  }

  #inLease(): boolean {
    return this.cfg.checkQuorum && this.leader !== null && this.electionElapsed < this.cfg.electionTicks + this.#idleGrace();
  }

  /** Leader: nothing to replicate or read for electionTicks; heartbeats may slow to idleHeartbeatTicks. */
  #idle(): boolean {
    return this.cfg.idleHeartbeatTicks > this.cfg.heartbeatTicks && this.quietTicks >= this.cfg.electionTicks;
  }

  /** Leader: whether anything is under way that needs the usual heartbeat (a follower behind, a read, a learner, a transfer). */
  #busy(): boolean {
    if (this.reads.length > 0 || this.readsAwaitingCommit.length > 0 || this.transferee !== null || this.membership.learners.length > 0) return true;
    if (this.pendingConfigIndex > this.commit) return true;
    for (const pr of this.progress.values()) if (pr.match < this.log.lastIndex || pr.commitSent < this.commit || pr.state !== 'replicate') return true;
    return false;
  }

  #resetElectionTimeout(): void {
    // xorshift32: deterministic from the seed the runtime gave.
    let x = this.#rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rng = x >>> 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + (this.#rng % this.cfg.electionTicks);
  }

  // ---- leader: replication ------------------------------------------------------------

  #tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    const wasIdle = this.#idle();
    this.quietTicks = this.#busy() ? 0 : this.quietTicks + 1;
    const idle = this.#idle();
    if (idle && !wasIdle) this.heartbeatElapsed = this.cfg.idleHeartbeatTicks; // tell the followers at once
    if (this.electionElapsed >= this.cfg.electionTicks + this.#idleGrace()) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.#checkQuorum()) {
        this.#becomeFollower(this.term, null);
        return;
      }
    }
    if (this.transferee !== null && ++this.transferElapsed > this.cfg.electionTicks) this.transferee = null; // took too long: abort
    if (this.heartbeatElapsed >= (idle ? this.cfg.idleHeartbeatTicks : this.cfg.heartbeatTicks)) {
      this.heartbeatElapsed = 0;
      this.#broadcastHeartbeat(0);
    }
    for (const [id, pr] of this.progress) {
      if (pr.state === 'snapshot' && ++pr.snapshotElapsed > this.cfg.electionTicks * 4) {
        // The snapshot or its answer was lost: probe again (which resends it if still needed).
        pr.state = 'probe';
        pr.probeSent = false;
        this.#sendAppend(id);
      }
    }
    this.#autoMembership();
  }

  /** True when a quorum of voters was heard from since the last check; resets the marks. */
  #checkQuorum(): boolean {
    let active = this.#isVoter(this.id) ? 1 : 0;
    for (const [id, pr] of this.progress) {
      if (pr.recentActive && this.#isVoter(id)) active++;
      pr.recentActive = false;
    }
    return active >= quorumSize(this.membership.voters.length);
  }

  #appendAsLeader(items: Array<{ kind: Entry['kind']; data: unknown }>): void {
    const time = Math.max(this.lastTime, this.now);
    this.lastTime = time;
    const entries: Entry[] = [];
    let index = this.log.lastIndex;
    for (const item of items) {
      const e: Entry = { index: ++index, term: this.term, time, kind: item.kind, data: item.data };
      entries.push(e);
      if (e.kind === 'config') {
        this.membership = cloneMembership(e.data as Membership);
        this.pendingConfigIndex = e.index;
        for (const id of this.#peers()) if (!this.progress.has(id)) this.progress.set(id, newProgress(this.log.lastIndex + 1, this.tickCount));
        for (const id of [...this.progress.keys()]) if (!this.#isMember(id)) this.progress.delete(id);
      }
    }
    this.log.append(entries);
    // The appends go out while our own write is under way (as etcd's raft does); we count
    // ourselves toward a commit only once the runtime reports the write done.
    this.#persist({ entries }, true);
    this.#unsyncedFrom ??= entries[0]!.index;
    this.#unsyncedTo = index;
    for (const id of this.progress.keys()) this.#sendAppend(id);
    this.#maybeCommit(); // a single voter commits alone
  }

  /** The runtime finished writing our own entries up to `index` (see the `overlap` persist effect). */
  persisted(index: number): void {
    if (this.#unsyncedFrom === undefined || index < this.#unsyncedFrom) return;
    if (index >= this.#unsyncedTo) this.#unsyncedFrom = undefined;
    else this.#unsyncedFrom = index + 1;
    if (this.role === 'leader') this.#maybeCommit();
  }

  /**
   * Sends the follower what it lacks. `sendIfEmpty` (from heartbeat replies) sends an append
   * even with nothing new, at the follower's expected position: if appends in flight were
   * lost, the follower rejects it and the leader backs off to resend them; without it an idle
   * group would never notice the loss and the last write would not commit.
   */
  #sendAppend(to: string, sendIfEmpty = false): void {
    const pr = this.progress.get(to);
    if (!pr || pr.state === 'snapshot') return;
    if (pr.state === 'probe' && pr.probeSent) return;
    const windowFull = pr.state === 'replicate' && pr.inflight.length >= this.cfg.maxInflight;
    if (windowFull && !sendIfEmpty) return;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      // What the follower needs is compacted away: send a snapshot instead.
      pr.state = 'snapshot';
      pr.pendingSnapshot = this.log.snapshotIndex;
      pr.snapshotElapsed = 0;
      pr.inflight = [];
      this.#emit({ type: 'sendSnapshot', to, term: this.term });
      return;
    }
    const entries = windowFull ? [] : this.#entriesFor(pr.next);
    if (pr.state === 'replicate' && entries.length === 0 && !sendIfEmpty) return;
    this.#send(to, { type: 'append', term: this.term, prevIndex, prevTerm, entries, commit: this.commit });
    pr.commitSent = Math.max(pr.commitSent, Math.min(this.commit, prevIndex + entries.length));
    if (pr.state === 'probe') {
      pr.probeSent = true;
    } else if (entries.length > 0) {
      const last = entries[entries.length - 1]!.index;
      pr.next = last + 1;
      pr.inflight.push(last);
    }
  }

  /** Entries from `from`, bounded by count and by encoded size (at least one, so progress never stops). */
  #entriesFor(from: number): Entry[] {
    const entries = this.log.slice(from, this.log.lastIndex, this.cfg.maxEntriesPerAppend);
    const budget = this.cfg.maxAppendBytes;
    if (!this.cfg.entrySize || !Number.isFinite(budget)) return entries;
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) {
      bytes += this.cfg.entrySize(entries[i]!);
      if (bytes > budget && i > 0) return entries.slice(0, i);
    }
    return entries;
  }

  #broadcastHeartbeat(readRound: number): void {
    const every = readRound === 0 && this.#idle() ? { every: this.cfg.idleHeartbeatTicks } : {};
    for (const [id, pr] of this.progress) {
      this.#send(id, { type: 'heartbeat', term: this.term, commit: Math.min(pr.match, this.commit), readRound, ...every });
      pr.commitSent = Math.max(pr.commitSent, Math.min(pr.match, this.commit));
    }
  }

  /** The leader's progress record of a follower that just answered, marked as heard from. */
  #heardFrom(from: string): Progress | undefined {
    if (this.role !== 'leader') return undefined;
    const pr = this.progress.get(from);
    if (!pr) return undefined;
    pr.recentActive = true;
    pr.heard = true;
    pr.lastHeardTick = this.tickCount;
    return pr;
  }

  #handleAppendReply(from: string, m: Extract<RaftMessage, { type: 'appendReply' }>): void {
    const pr = this.#heardFrom(from);
    if (!pr) return;
    if (!m.success) {
      // While a snapshot is on its way, rejections of earlier appends are stale: acting on
      // them would send the snapshot again and again.
      if (pr.state === 'snapshot') return;
      const rejected = m.matchIndex;
      // Stale rejections (of appends overtaken since, or a stale-term notice) change nothing.
      if (rejected <= pr.match || (pr.state === 'probe' && rejected !== pr.next - 1)) return;
      // Fast backtracking: skip a whole conflicting term at a time (Raft thesis §5.3).
      let next = m.hintIndex;
      if (m.hintTerm > 0) {
        for (let i = Math.min(rejected, this.log.lastIndex); i > this.log.snapshotIndex; i--) {
          const t = this.log.term(i)!;
          if (t === m.hintTerm) {
            next = i + 1;
            break;
          }
          if (t < m.hintTerm) break;
        }
      }
      pr.next = Math.max(pr.match + 1, Math.min(next, rejected, this.log.lastIndex + 1));
      pr.commitSent = Math.min(pr.commitSent, pr.match); // the rejected append told it nothing
      pr.state = 'probe';
      pr.probeSent = false;
      pr.inflight = [];
      this.#sendAppend(from);
      return;
    }
    if (m.matchIndex > pr.match) pr.match = m.matchIndex;
    if (pr.next <= pr.match) pr.next = pr.match + 1;
    while (pr.inflight.length && pr.inflight[0]! <= m.matchIndex) pr.inflight.shift();
    if (pr.state === 'probe') {
      pr.state = 'replicate';
      pr.next = pr.match + 1;
      pr.inflight = [];
    } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.state = 'replicate';
      pr.next = pr.match + 1;
      pr.inflight = [];
    }
    this.#maybeCommit();
    if (this.transferee === from && pr.match === this.log.lastIndex) this.#send(from, { type: 'timeoutNow', term: this.term });
    this.#sendAppend(from);
    this.#tellCommit(from);
  }

  /**
   * A follower holding committed entries it has not been told are committed, with no append in
   * flight to tell it: an empty append does now, so it applies them at once instead of at the
   * next heartbeat (etcd's leader does the same when its commit index moves).
   */
  #tellCommit(id: string): void {
    const pr = this.progress.get(id);
    if (!pr || pr.state !== 'replicate' || pr.inflight.length > 0) return;
    if (Math.min(pr.match, this.commit) > pr.commitSent) this.#sendAppend(id, true);
  }

  #handleHeartbeatReply(from: string, m: Extract<RaftMessage, { type: 'heartbeatReply' }>): void {
    const pr = this.#heardFrom(from);
    if (!pr) return;
    // A lost append must not stall the pipeline: re-probe, or check the follower's position.
    if (pr.state === 'probe') pr.probeSent = false;
    if (pr.match < this.log.lastIndex) this.#sendAppend(from, true);
    if (m.readRound > 0) this.#ackReads(from, m.readRound);
  }

  #maybeCommit(): void {
    const matches: number[] = [];
    for (const v of this.membership.voters) {
      if (v === this.id) matches.push(this.#unsyncedFrom === undefined ? this.log.lastIndex : Math.min(this.log.lastIndex, this.#unsyncedFrom - 1));
      else matches.push(this.progress.get(v)?.match ?? 0);
    }
    if (matches.length === 0) return;
    matches.sort((a, b) => b - a);
    const q = matches[quorumSize(matches.length) - 1]!;
    // Only entries of the current term commit by counting (Raft §5.4.2).
    if (q > this.commit && this.log.term(q) === this.term) {
      const hadCommittedInTerm = this.log.term(this.commit) === this.term;
      this.commit = q;
      this.#emitApply();
      for (const id of this.progress.keys()) this.#tellCommit(id);
      if (!hadCommittedInTerm && this.readsAwaitingCommit.length) {
        const ids = this.readsAwaitingCommit;
        this.readsAwaitingCommit = [];
        this.#startRead(ids);
      }
      this.#afterCommitMembership();
    }
  }

  // ---- followers ----------------------------------------------------------------------

  #handleAppend(from: string, m: Extract<RaftMessage, { type: 'append' }>): void {
    if (m.prevIndex < this.commit) {
      // Already committed here; tell the leader where we are.
      this.#send(from, { type: 'appendReply', term: this.term, success: true, matchIndex: this.commit, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const prevTerm = this.log.term(m.prevIndex);
    if (prevTerm !== m.prevTerm) {
      let hintIndex: number;
      let hintTerm: number;
      if (prevTerm === undefined) {
        hintIndex = this.log.lastIndex + 1;
        hintTerm = 0;
      } else {
        hintTerm = prevTerm;
        hintIndex = this.log.firstIndexOfTerm(m.prevIndex);
      }
      this.#send(from, { type: 'appendReply', term: this.term, success: false, matchIndex: m.prevIndex, hintIndex, hintTerm });
      return;
    }
    // Find the first entry we do not already have (or that conflicts), keep the rest.
    let firstNew = m.entries.length;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (this.log.term(e.index) !== e.term) {
        firstNew = i;
        break;
      }
    }
    if (firstNew < m.entries.length) {
      const fresh = m.entries.slice(firstNew);
      const truncateAfter = fresh[0]!.index - 1;
      const truncating = truncateAfter < this.log.lastIndex;
      if (truncating) this.log.truncateAfter(truncateAfter);
      this.log.append(fresh);
      if (truncating) this.#recomputeMembership();
      for (const e of fresh) {
        if (e.kind === 'config') {
          this.membership = cloneMembership(e.data as Membership);
          this.pendingConfigIndex = e.index;
        }
        this.lastTime = Math.max(this.lastTime, e.time);
      }
      this.#persist(truncating ? { truncateAfter, entries: fresh } : { entries: fresh });
    }
    const lastNew = m.prevIndex + m.entries.length;
    const commit = Math.min(m.commit, lastNew);
    if (commit > this.commit) {
      this.commit = commit;
      this.#emitApply();
    }
    this.#send(from, { type: 'appendReply', term: this.term, success: true, matchIndex: lastNew, hintIndex: 0, hintTerm: 0 });
  }

  #handleHeartbeat(from: string, m: Extract<RaftMessage, { type: 'heartbeat' }>): void {
    this.leaderIdleTicks = m.every ?? 0;
    const commit = Math.min(m.commit, this.log.lastIndex);
    if (commit > this.commit) {
      this.commit = commit;
      this.#emitApply();
    }
    this.#send(from, { type: 'heartbeatReply', term: this.term, readRound: m.readRound });
  }

  #handleSnapshot(from: string, m: Extract<RaftMessage, { type: 'snapshot' }>): void {
    const meta = m.meta;
    if (meta.index <= this.commit) {
      this.#send(from, { type: 'appendReply', term: this.term, success: true, matchIndex: this.commit, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (this.log.term(meta.index) === meta.term) {
      // We already hold that entry: just move the commit index.
      this.commit = meta.index;
      this.#emitApply();
    } else {
      this.log.entries = [];
      this.log.snapshotIndex = meta.index;
      this.log.snapshotTerm = meta.term;
      this.membership = cloneMembership(meta.membership);
      this.#snapshotMembership = cloneMembership(meta.membership);
      this.pendingConfigIndex = meta.index;
      this.commit = meta.index;
      this.applied = meta.index;
      this.#emit({ type: 'installSnapshot', meta, data: m.data });
      this.#persistHardState();
    }
    this.#send(from, { type: 'appendReply', term: this.term, success: true, matchIndex: meta.index, hintIndex: 0, hintTerm: 0 });
  }

  // ---- recovery of lost state (recovery.ts) ---------------------------------------------

  /** Anyone may ask; a leader forgets what it knew of the asker's log (it is gone) and probes it afresh. */
  #answerRecover(from: string, m: Extract<RaftMessage, { type: 'recover' }>): void {
    const pr = this.role === 'leader' ? this.progress.get(from) : undefined;
    if (pr) Object.assign(pr, { match: 0, next: this.log.lastIndex + 1, state: 'probe', probeSent: false, inflight: [], commitSent: 0, pendingSnapshot: 0 });
    this.#send(from, {
      type: 'recoverReply',
      term: this.term,
      nonce: m.nonce,
      leader: this.role === 'leader',
      recovering: this.recovery !== null,
      empty: this.term === 0 && this.log.lastIndex === 0,
      lastIndex: this.log.lastIndex,
      lastTerm: this.log.lastTerm,
      membership: cloneMembership(this.membership),
    });
  }

  #onRecoverReply(from: string, m: Extract<RaftMessage, { type: 'recoverReply' }>): void {
    const r = this.recovery;
    if (!r) return;
    const decision = r.record(from, m);
    if (r.stage === 'catchUp') {
      // A leader newer than the one we are catching up to: its log is the one to hold now.
      if (m.nonce !== r.nonce || !m.leader || m.recovering || m.term < this.term || m.term <= r.target!.leaderTerm) return;
      if (m.term > this.term) this.#becomeFollower(m.term, from);
      this.leader = from;
      r.target = { leaderTerm: m.term, index: m.lastIndex, term: m.lastTerm };
      this.#persist({ recovery: { ...r.target } });
      this.#recoveryProgress(false);
      return;
    }
    if (!decision) return;
    if (decision.kind === 'genesis') {
      this.recovery = null;
      this.#persist({ recovery: null }); // the hard state written marks the storage as this replica's
      return;
    }
    this.role = 'follower';
    this.term = decision.term;
    this.leader = decision.leader;
    this.vote = decision.leader; // that term has its leader: never a second vote in it
    this.electionElapsed = 0;
    r.stage = 'catchUp';
    r.askedAtTerm = decision.term;
    r.target = { leaderTerm: decision.term, index: decision.index, term: decision.lastTerm };
    this.#persist({ recovery: { ...r.target } }); // durable before anything else goes out
    this.#recoveryProgress(false);
  }

  /** Asks (again) when due; ends the recovery once the log holds the target entry. */
  #recoveryProgress(tick: boolean): void {
    const r = this.recovery!;
    if (r.stage === 'catchUp') {
      const t = r.target!;
      if (this.leader !== null && this.vote === null) {
        this.vote = this.leader;
        this.#persistHardState();
      }
      if (this.log.snapshotIndex >= t.index || this.log.term(t.index) === t.term) {
        this.recovery = null;
        this.#persist({ recovery: null });
        return;
      }
    }
    if (!r.due(this.term, tick)) return;
    const nonce = r.asked(this.term, () => {
      this.#resetElectionTimeout();
      return (this.#rng ^ this.#incarnationSalt) >>> 0 || 1;
    });
    for (const id of new Set([...r.peers, ...this.#peers()])) this.#send(id, { type: 'recover', term: this.term, nonce });
  }

  // ---- linearizable reads (read index) --------------------------------------------------

  #startRead(ids: string[]): void {
    const index = this.commit;
    if (quorumSize(this.membership.voters.length) <= (this.#isVoter(this.id) ? 1 : 0)) {
      this.#emit({ type: 'readReady', ids, index });
      return;
    }
    const round = ++this.readRound;
    this.reads.push({ ids, index, round, acks: new Set(this.#isVoter(this.id) ? [this.id] : []) });
    this.#broadcastHeartbeat(round);
  }

  #ackReads(from: string, round: number): void {
    if (!this.#isVoter(from)) return;
    const q = quorumSize(this.membership.voters.length);
    // An answer to round r confirms leadership after every earlier round was started too.
    for (const r of this.reads) if (r.round <= round) r.acks.add(from);
    while (this.reads.length && this.reads[0]!.acks.size >= q) {
      const r = this.reads.shift()!;
      this.#emit({ type: 'readReady', ids: r.ids, index: r.index });
    }
  }

  #failPendingReads(): void {
    const ids = [...this.readsAwaitingCommit, ...this.reads.flatMap((r) => r.ids)];
    this.reads = [];
    this.readsAwaitingCommit = [];
    if (ids.length) this.#emit({ type: 'notLeader', requestIds: [], readIds: ids, leader: this.leader });
  }

  // ---- membership ---------------------------------------------------------------------

  #afterCommitMembership(): void {
    // A leader that removed or demoted itself hands over once the change is committed.
    if (this.role === 'leader' && this.pendingConfigIndex <= this.commit && !this.#isVoter(this.id)) {
      this.#becomeFollower(this.term, null);
    }
  }

  /** Optional policy: demote voters silent too long, promote learners that caught up. */
  #autoMembership(): void {
    if (this.pendingConfigIndex > this.commit || this.log.term(this.commit) !== this.term) return;
    const last = this.log.lastIndex;
    for (const id of this.membership.learners) {
      const pr = this.progress.get(id);
      // Caught up means: it has answered since it was added, holds the entry that added it,
      // is near the end of the log, and was heard from lately. A learner that never answered
      // (match 0) must not become a voter: it could leave the group without a quorum.
      if (!pr || !pr.heard || pr.match === 0 || pr.match < last - this.cfg.catchUpMargin) continue;
      if (this.tickCount - pr.lastHeardTick > this.cfg.heartbeatTicks * 4) continue;
      this.changeMembership({ promote: id }, this.now);
      return;
    }
    if (this.cfg.removeSilentAfterTicks <= 0) return;
    for (const id of this.membership.voters) {
      if (id === this.id) continue;
      const pr = this.progress.get(id);
      if (!pr || this.tickCount - pr.lastHeardTick <= this.cfg.removeSilentAfterTicks) continue;
      // Only if the replicas still heard from form a majority of the smaller voter set.
      const remaining = this.membership.voters.filter((v) => v !== id);
      const alive = remaining.filter((v) => v === this.id || this.tickCount - (this.progress.get(v)?.lastHeardTick ?? -Infinity) <= this.cfg.electionTicks).length;
      if (remaining.length === 0 || alive < quorumSize(remaining.length)) continue;
      this.changeMembership({ demote: id }, this.now);
      return;
    }
  }

  #recomputeMembership(): void {
    for (let i = this.log.lastIndex; i > this.log.snapshotIndex; i--) {
      const e = this.log.entry(i)!;
      if (e.kind === 'config') {
        this.membership = cloneMembership(e.data as Membership);
        this.pendingConfigIndex = e.index;
        return;
      }
    }
    this.membership = cloneMembership(this.#snapshotMembership);
    this.pendingConfigIndex = this.log.snapshotIndex; // the discarded config entry is gone
  }

  #membershipAt(index: number, fallback: SnapshotMeta): Membership {
    for (let i = index; i > this.log.snapshotIndex; i--) {
      const e = this.log.entry(i);
      if (e?.kind === 'config') return cloneMembership(e.data as Membership);
    }
    return cloneMembership(fallback.membership);
  }

  #isVoter(id: string): boolean {
    return this.membership.voters.includes(id);
  }

  #isMember(id: string): boolean {
    return this.membership.voters.includes(id) || this.membership.learners.includes(id);
  }

  #peers(): string[] {
    return [...this.membership.voters, ...this.membership.learners].filter((id) => id !== this.id);
  }

  // ---- effects ------------------------------------------------------------------------

  #emit(effect: RaftEffect): void {
    this.effects.push(effect);
  }

  #send(to: string, message: RaftMessage): void {
    this.effects.push({ type: 'send', to, message });
  }

  #persistHardState(): void {
    this.#persist({});
  }

  /**
   * Adds to the trailing persist effect when nothing was emitted since, so one write carries it
   * all. `overlap` only if everything in the write may be under way while later effects run.
   */
  #persist(p: { truncateAfter?: number; entries?: Entry[]; recovery?: RecoveryRecord | null }, overlap = false): void {
    const last = this.effects[this.effects.length - 1];
    if (last?.type === 'persist') {
      if (!overlap) delete last.overlap;
      last.hardState = this.hardState();
      if (p.recovery !== undefined) last.recovery = p.recovery;
      if (p.truncateAfter !== undefined) {
        last.truncateAfter = Math.min(last.truncateAfter ?? Infinity, p.truncateAfter);
        last.entries = (last.entries ?? []).filter((e) => e.index <= p.truncateAfter!);
      }
      if (p.entries) last.entries = [...(last.entries ?? []), ...p.entries];
      return;
    }
    this.effects.push({ type: 'persist', hardState: this.hardState(), ...p, ...(overlap ? { overlap: true } : {}) });
  }

  #emitApply(): void {
    if (this.commit <= this.applied) return;
    const entries = this.log.slice(this.applied + 1, this.commit);
    this.applied = this.commit;
    if (entries.length) this.#emit({ type: 'apply', entries });
  }
}

export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function newProgress(next: number, tick: number): Progress {
  return { match: 0, next, state: 'probe', probeSent: false, inflight: [], commitSent: 0, pendingSnapshot: 0, snapshotElapsed: 0, recentActive: false, heard: false, lastHeardTick: tick };
}

function cloneMembership(m: Membership): Membership {
  return withExtras([...m.voters], [...m.learners], m.keys?.map((k) => ({ ...k })) ?? [], m.adminNonce);
}

/** A membership with its optional parts present only when set (so plain ones compare equal as before). */
function withExtras(voters: string[], learners: string[], keys: MemberKey[], adminNonce: number | undefined): Membership {
  return { voters, learners, ...(keys.length > 0 ? { keys } : {}), ...(adminNonce !== undefined ? { adminNonce } : {}) };
}

function applyChange(m: Membership, change: MembershipChange): Membership | string {
  const voters = new Set(m.voters);
  const learners = new Set(m.learners);
  const nonce = 'nonce' in change ? change.nonce : undefined;
  if (nonce !== undefined && nonce <= (m.adminNonce ?? -1)) return `a signed change with nonce ${nonce} or later was applied already (last: ${m.adminNonce})`;
  let keys = m.keys ?? [];
  if ('add' in change) {
    if (voters.has(change.add) || learners.has(change.add)) return `${change.add} is already a member`;
    learners.add(change.add); // new replicas catch up as learners, then are promoted
    keys = keys.filter((k) => k.id !== change.add);
    if (change.key) keys = [...keys, { id: change.add, key: change.key }].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  } else if ('remove' in change) {
    if (!voters.has(change.remove) && !learners.has(change.remove)) return `${change.remove} is not a member`;
    voters.delete(change.remove);
    learners.delete(change.remove);
    if (voters.size === 0) return 'cannot remove the last voter';
  } else if ('promote' in change) {
    if (!learners.has(change.promote)) return `${change.promote} is not a learner`;
    learners.delete(change.promote);
    voters.add(change.promote);
  } else if ('demote' in change) {
    if (!voters.has(change.demote)) return `${change.demote} is not a voter`;
    if (voters.size === 1) return 'cannot demote the last voter';
    voters.delete(change.demote);
    learners.add(change.demote);
  } else {
    return 'unknown membership change';
  }
  keys = keys.filter((k) => voters.has(k.id) || learners.has(k.id));
  return withExtras([...voters].sort(), [...learners].sort(), keys, nonce ?? m.adminNonce);
}

/** 32 well-mixed bits of a non-negative number (murmur3's finalizer over its low and high words). */
function mix32(n: number): number {
  let h = (n >>> 0) ^ Math.imul(Math.floor(n / 2 ** 32) >>> 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
