import type { Divergence } from './divergence.ts';
import type { AnyStateMachine, InspectionEvent, Observer } from 'xstate';
import type { Batch, BftMessage } from '../../actors/byzantine/index.ts';
import type { AppExecutor } from '../app/index.ts';
import type { Clock } from '../clock.ts';
import type { Identity } from '../crypto/index.ts';
import type { Storage } from '../storage/index.ts';
import type { Transport } from '../transport/index.ts';
import type { PeerLinkState, SignalingState } from '../transport/diagnostics.ts';
import type { WireKind } from '../wire/index.ts';

export type FaultModel = 'crash' | 'byzantine';

export interface GroupMember {
  id: string;
  publicKey: Uint8Array;
}

export interface GroupConfig {
  faultModel: FaultModel;
  /** Initial members; later changes are ordered through the log. */
  members: GroupMember[];
  /** Byzantine model: the public key whose signed commands add and remove replicas (none: only evidence removes). */
  admin?: Uint8Array;
}

export interface ReplicaTuning {
  /** Protocol tick period (ms). */
  tickMs: number;
  /** Ticks without a leader before an election (randomized up to twice this). */
  electionTicks: number;
  heartbeatTicks: number;
  /**
   * Crash model: the heartbeat period of an idle leader (nothing to replicate or read for
   * electionTicks), in ticks; its followers then wait 3 such periods more before an election,
   * so a leader that fails while the group is idle is replaced that much later. Not above
   * heartbeatTicks (0, say): always heartbeatTicks. Default 50 (500 ms at tickMs 10: an idle leader sends 4 messages a second).
   */
  idleHeartbeatTicks: number;
  /** Most client requests ordered by one proposal. */
  maxBatch: number;
  /** Take an application snapshot (and compact the log) every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot, so slightly slow followers need no snapshot. */
  keepEntries: number;
  /**
   * The message limit: larger incoming messages are dropped before decoding, and every message
   * a replica builds is encoded within it (a reply too large to send goes without its snapshot).
   */
  maxMessageBytes: number;
  /**
   * The size budget of one client event (canonical encoding, bytes): larger requests are refused
   * with an error the client turns into EventTooLargeError. At most MAX_EVENT_BYTES (1 MiB) and a
   * quarter of maxMessageBytes, so that every message carrying an accepted event fits.
   */
  maxEventBytes: number;
  /** Demote a voter silent this long (ms) to learner and re-admit it once caught up; 0 = off. */
  removeSilentAfterMs: number;
  /** Byzantine: a checkpoint every this many batches (sequence numbers). */
  checkpointEvery: number;
  /** Byzantine: sequence numbers in flight past the stable checkpoint. */
  windowSize: number;
  /** Byzantine: a request not executed this long (ms) makes a backup suspect the primary. */
  requestTimeoutMs: number;
  /** Byzantine: a view change not done this long (ms) moves on to the next view (doubling). */
  viewChangeTimeoutMs: number;
  /** Byzantine: status and vote retransmission period (ms). */
  statusMs: number;
  /** State transfer and snapshot chunk size (bytes), both models. */
  stateChunkBytes: number;
  /**
   * Largest snapshot / state (bytes) a replica accepts by transfer, both models: the memory one
   * transfer may take. A larger one is refused and counted (`metrics.dropped['snapshot-too-large']`,
   * Byzantine `'state-too-large'`); the replica then stays behind. Default 4 GiB.
   */
  maxSnapshotBytes: number;
}

export const DEFAULT_TUNING: ReplicaTuning = {
  tickMs: 10,
  electionTicks: 15,
  heartbeatTicks: 3,
  idleHeartbeatTicks: 50,
  maxBatch: 512,
  snapshotEvery: 10_000,
  keepEntries: 1_000,
  maxMessageBytes: 16 * 1024 * 1024,
  maxEventBytes: 1024 * 1024,
  removeSilentAfterMs: 0,
  checkpointEvery: 64,
  windowSize: 256,
  requestTimeoutMs: 1_000,
  viewChangeTimeoutMs: 1_000,
  statusMs: 100,
  stateChunkBytes: 256 * 1024,
  maxSnapshotBytes: 4 * 1024 * 1024 * 1024,
};

export interface ReplicaOptions {
  machine: AnyStateMachine;
  identity: Identity;
  /** This replica's member id; defaults to the member whose public key is the identity's. */
  id?: string;
  /**
   * This replica is being added to a running group (add-member): its `id` is not among
   * `group.members` (the current members it first talks to). Without it such an id is refused.
   */
  join?: boolean;
  group: GroupConfig;
  transport: Transport;
  storage?: Storage;
  clock?: Clock;
  /** Seed for the protocol's randomized timeouts (the simulator passes one for replay). */
  seed?: number;
  /**
   * XState inspection of the protocol actor and the application actor (and its children): a
   * function or an observer, such as `createBrowserInspector().inspect` of @statelyai/inspect.
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  tuning?: Partial<ReplicaTuning>;
  /**
   * Called once if the replica stops because its own work threw (a bug: bad input is dropped and
   * counted, never thrown). The local cluster uses it to report the stop instead of running on.
   */
  onFailure?: (error: unknown) => void;
  /**
   * Bounds of the exactly-once session table (part of the replicated state: every replica of
   * a group must use the same): `maxClients` sessions (default 1024; the least recently active
   * is evicted) and `clientIdleExpiry`, the lease in replicated ms (default 24 h).
   */
  sessions?: { maxClients?: number; clientIdleExpiry?: number };
  /**
   * What actually goes out for each message to a client (both models) and, in the Byzantine
   * model, each signed bundle (one per recipient). By default the bytes go as they are, at once. A seam for tracing or
   * shaping traffic; the local cluster's simulated behaviours (src/cluster/behaviours/) use it.
   */
  egress?: Egress;
  /**
   * Wraps the application executor the replica builds (instrumentation, say). The simulated
   * 'wrong-result' behaviour uses it; whatever it returns is what the replica executes with.
   */
  wrapExecutor?: (executor: AppExecutor) => AppExecutor;
}

/** Bytes to transmit, now or after `delayMs`. */
export interface Sending {
  bytes: Uint8Array;
  delayMs: number;
}

/** One signed protocol bundle about to go to one member. */
export interface OutgoingBundle {
  to: string;
  messages: BftMessage[];
  /** The envelope as it would go out: the signed payload `p`, its signature `s` and the `attachments` beside it. */
  bytes: Uint8Array;
  p: Uint8Array;
  s: Uint8Array;
  attachments: Uint8Array[];
  /** The batches attached, by digest. */
  batches: Map<string, Batch>;
  /** The group's other members. */
  others: string[];
}

/** A reply or read reply about to go to a client (link-authenticated, not signed). */
export interface OutgoingToClient {
  to: string;
  kind: WireKind;
  body: unknown;
  bytes: Uint8Array;
  /** The group's other members. */
  others: string[];
}

/** See ReplicaOptions.egress: each function returns what to transmit instead of `out.bytes`. */
export interface Egress {
  bundle?(out: OutgoingBundle): Promise<Sending[]>;
  client?(out: OutgoingToClient): Promise<Sending[]>;
}

export interface ReplicaStatus {
  id: string;
  faultModel: FaultModel;
  phase: string;
  /** Raft term; under the Byzantine model, the view. */
  term: number;
  /** Byzantine: the view (same as term). */
  view?: number;
  /** Byzantine: highest batch sequence number executed, and the stable checkpoint's. */
  executedSeq?: number;
  stableSeq?: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  /** Voting members. */
  members: string[];
  /** Members that receive the log without voting: new ones catching up, or silent ones excluded by the policy. */
  learners: string[];
  excluded: string[];
  snapshotIndex: number;
  digest: string;
  running: boolean;
  /** Crash model: set when this replica's digest differed from the leader's at an equal applied index (it then serves no reads). */
  diverged?: Divergence;
  /** A network transport: each signaling server (connected / connecting / failed, with the last error). */
  signaling?: SignalingState[];
  /** A network transport: the link to each peer (up / connecting / failed, with the reason, e.g. a failed key check). */
  links?: PeerLinkState[];
}

export interface ReplicaMetrics {
  messagesIn: number;
  messagesOut: number;
  /**
   * Dropped input by reason (too-large, undecodable, bad-signature, unknown-sender,
   * event-too-large, …), and output this replica could not send in full: `snapshot-omitted`
   * (a reply sent without its snapshot) and `unsendable` (a message over maxMessageBytes).
   */
  dropped: Record<string, number>;
  requests: number;
  duplicateRequests: number;
  redirects: number;
  proposals: number;
  entriesApplied: number;
  reads: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  snapshotsSent: number;
  signatures: number;
  verifications: number;
  storageWrites: number;
  /** Byzantine model: misbehaviour this replica saw, by what (equivocation, bad view change, …). */
  misbehaviour: Record<string, number>;
}
