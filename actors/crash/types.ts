/**
 * Data of the crash-fault (Raft-style) protocol: log entries, messages between replicas, and
 * the effects the pure protocol hands to the runtime.
 */

/** Who votes (voters) and who only receives the log (learners: new replicas catching up, or excluded silent ones). */
export interface Membership {
  voters: string[];
  learners: string[];
  /**
   * Public keys of members added through the log (the initial members' are in every replica's
   * configuration): the ordered change carries them, so the group grows over the network with no
   * side channel. Sorted by id; only for current voters and learners. Absent when empty.
   */
  keys?: MemberKey[];
  /** The nonce of the last admin-signed change applied: an older signed command is not taken again. */
  adminNonce?: number;
}

export interface MemberKey {
  id: string;
  key: Uint8Array;
}

export type EntryKind = 'noop' | 'request' | 'config';

export interface Entry {
  index: number;
  term: number;
  /** Replicated time (ms) chosen by the leader; never decreases along the log. */
  time: number;
  kind: EntryKind;
  /** request: the client's request; config: the new Membership; noop: null. */
  data: unknown;
}

export interface HardState {
  term: number;
  vote: string | null;
  commit: number;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  membership: Membership;
}

export type RaftMessage =
  | { type: 'vote'; term: number; pre: boolean; lastIndex: number; lastTerm: number; transfer: boolean }
  | { type: 'voteReply'; term: number; pre: boolean; granted: boolean }
  | { type: 'append'; term: number; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number }
  | {
      type: 'appendReply';
      term: number;
      success: boolean;
      /** On success: the follower's last index matching the leader. On failure: the prevIndex it rejected. */
      matchIndex: number;
      /** On failure: the first index of the conflicting term (or the follower's last index + 1 when hintTerm is 0). */
      hintIndex: number;
      hintTerm: number;
    }
  /** Keeps followers' leases; carries a commit index the follower's log is known to match, and a read-index round. */
  /** `every`: sent by an idle leader, whose next heartbeat comes within that many ticks (followers wait longer before an election). */
  | { type: 'heartbeat'; term: number; commit: number; readRound: number; every?: number }
  | { type: 'heartbeatReply'; term: number; readRound: number }
  | { type: 'snapshot'; term: number; meta: SnapshotMeta; data: Uint8Array }
  | { type: 'timeoutNow'; term: number }
  /** Sent by a replica that started without its state (recovery.ts); `term` is the sender's and changes nothing. */
  | { type: 'recover'; term: number; nonce: number }
  /** The answer: what the sender holds, whether it leads, and whether it is recovering itself. */
  | {
      type: 'recoverReply';
      term: number;
      nonce: number;
      leader: boolean;
      recovering: boolean;
      /** Term 0, no entries, no snapshot: this replica never took part in anything. */
      empty: boolean;
      lastIndex: number;
      lastTerm: number;
      membership: Membership;
    };

/**
 * Kept durable while a replica that lost its state catches up: the log position of the leader
 * that answered its recovery. Until it holds the entry (index, term), it neither votes nor
 * grants pre-votes: that leader's log held every entry committed before the state was lost.
 */
export interface RecoveryRecord {
  leaderTerm: number;
  index: number;
  term: number;
}

export type RaftEffect =
  /**
   * Make durable before any later effect: hard state, log truncation (drop indexes > truncateAfter),
   * new entries. With `overlap` (a leader's own new entries and nothing else that must be durable
   * first), the runtime may carry out later effects while the write is under way, and reports
   * with a `persisted` event when it is done: the leader counts itself toward a commit only then.
   */
  | { type: 'persist'; hardState?: HardState; truncateAfter?: number; entries?: Entry[]; overlap?: boolean; recovery?: RecoveryRecord | null }
  | { type: 'send'; to: string; message: RaftMessage }
  /** Committed entries, in log order, to apply to the application. */
  | { type: 'apply'; entries: Entry[] }
  /** Leader: send the latest local snapshot to a follower behind the compacted log. */
  | { type: 'sendSnapshot'; to: string; term: number }
  /** Follower: replace application state and log with this snapshot (persist it first). */
  | { type: 'installSnapshot'; meta: SnapshotMeta; data: Uint8Array }
  /** The log up to and including `upTo` is covered by a snapshot and may be deleted from storage. */
  | { type: 'compact'; upTo: number }
  /** Linearizable reads: answer once applied index >= index. */
  | { type: 'readReady'; ids: string[]; index: number }
  /** Requests or reads this replica cannot serve because it is not the leader. */
  | { type: 'notLeader'; requestIds: string[]; readIds: string[]; leader: string | null };

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface RaftConfig {
  id: string;
  /** Ticks without hearing a leader before an election (randomized in [electionTicks, 2*electionTicks)). */
  electionTicks: number;
  heartbeatTicks: number;
  /**
   * Heartbeat period of an idle leader (nothing to replicate, commit known everywhere, no read,
   * no learner, for electionTicks): it says so in its heartbeats, and its followers (and its own
   * check-quorum) allow 3 such periods more before they give up on it. Not above heartbeatTicks (0): off.
   */
  idleHeartbeatTicks: number;
  /** Max entries per append message. */
  maxEntriesPerAppend: number;
  /** Max encoded bytes of entries per append message (one entry always goes); Infinity = no cap. */
  maxAppendBytes: number;
  /** Encoded size of an entry, for maxAppendBytes (the runtime supplies it: the core does no encoding). */
  entrySize?: (entry: Entry) => number;
  /** Max append messages in flight per follower (pipelining). */
  maxInflight: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Demote a voter silent this many ticks to learner, promote it back when caught up; 0 = off. */
  removeSilentAfterTicks: number;
  /** A learner within this many entries of the leader's last index counts as caught up. */
  catchUpMargin: number;
}

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id'> = {
  electionTicks: 10,
  heartbeatTicks: 2,
  idleHeartbeatTicks: 0,
  maxEntriesPerAppend: 256,
  maxAppendBytes: Infinity,
  maxInflight: 32,
  preVote: true,
  checkQuorum: true,
  removeSilentAfterTicks: 0,
  catchUpMargin: 16,
};
