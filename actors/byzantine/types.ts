/**
 * Data of the Byzantine-fault (PBFT-style) protocol: batches, messages between replicas,
 * transferable proofs, and the effects the pure protocol hands to the runtime.
 *
 * Sequence numbers (`seq`) number batches; one batch holds many items, and each request or
 * noop item gets its own application index when executed.
 */

/**
 * A signed statement anyone can check: the payload bytes of a signed envelope and its
 * signature. Certificates (prepared, committed, stable checkpoint), view changes and
 * evidence of misbehaviour are made of these.
 */
export interface Proof {
  p: Uint8Array;
  s: Uint8Array;
}

/**
 * A proof whose signature the runtime has checked against `from`'s key, with its messages
 * decoded and shape-checked. The core only ever sees verified proofs.
 */
export interface VerifiedProof extends Proof {
  from: string;
  messages: BftMessage[];
}

/** A group member: id and Ed25519 public key (newcomers learn the keys from checkpoints). */
export interface Member {
  id: string;
  key: Uint8Array;
}

/** An admin-signed reconfiguration command (`p` decodes to `{ add: Member }` or `{ remove: id }`). */
export type ConfigCommand = { add: Member } | { remove: string };

/** One ordered thing inside a batch. */
export type BatchItem =
  /** A client's request, received by every replica from the client itself. */
  | { k: 'req'; client: string; session: number; seq: number; event: { type: string; [key: string]: unknown }; snapshot?: false }
  /** Advances replicated time (delayed transitions) without a client event. */
  | { k: 'noop' }
  /** An ordered read (the fallback when unordered read replies disagree). */
  | { k: 'read'; client: string; nonce: number }
  /** Adds or removes a replica: signed by the group's admin key. */
  | { k: 'cfg'; cmd: VerifiedProof }
  /** Evidence that `accused` is faulty: every correct replica checks it before ordering it. */
  | { k: 'evidence'; accused: string; proof: Evidence };

export type Evidence =
  /** Two signed votes of the same kind, view and seq with different digests. */
  | { kind: 'equivocation'; a: VerifiedProof; b: VerifiedProof }
  /** A signed checkpoint digest that contradicts a stable certificate for the same seq. */
  | { kind: 'checkpoint'; bad: VerifiedProof; cert: VerifiedProof[] }
  /** A signed commit whose execution digest for `seq` contradicts a quorum of signed commits that agree (execution-evidence.ts). */
  | { kind: 'execution'; seq: number; bad: VerifiedProof; cert: VerifiedProof[] };

export interface Batch {
  /** Replicated time chosen by the primary (checked against the backups' clocks). */
  time: number;
  items: BatchItem[];
}

/** The digest of the empty batch a new view fills a gap with. */
export const NULL_DIGEST = 'null';

/** The configuration: members in a fixed order (the primary of view v is members[v mod n]). */
export interface Config {
  epoch: number;
  members: Member[];
  /** Changes ordered but not yet in force: each applies after checkpoint `at`. */
  pending: Array<{ at: number; change: ConfigCommand }>;
  /**
   * The nonce of the last admin command executed (absent before the first): a command with this
   * nonce or a lower one is refused when executed, by every replica alike, however late its replay.
   */
  adminNonce?: number;
}

/** One prepared certificate as carried by a view change, referring into its proof table. */
export interface PreparedClaim {
  seq: number;
  view: number;
  digest: string;
  prePrepare: number;
  prepares: number[];
}

export type BftMessage =
  | { type: 'prePrepare'; view: number; seq: number; digest: string }
  | { type: 'prepare'; view: number; seq: number; digest: string }
  /** `exec`: the sender's app-state digest after the last batch it executed (execution-evidence.ts). */
  | { type: 'commit'; view: number; seq: number; digest: string; exec?: { seq: number; digest: string } }
  | { type: 'checkpoint'; seq: number; digest: string }
  /**
   * Moves to `view`: the sender's stable checkpoint with its certificate and every slot
   * after it that it prepared, each with its certificate (indexes into `proofs`).
   */
  | { type: 'viewChange'; view: number; stable: { seq: number; digest: string; cert: number[] }; prepared: PreparedClaim[]; proofs: VerifiedProof[] }
  /** The new primary's proof of its view: 2f+1 signed view changes and the pre-prepares they imply. */
  | { type: 'newView'; view: number; viewChanges: VerifiedProof[]; prePrepares: Array<{ seq: number; digest: string }> }
  /** Periodic: where the sender is, so peers can help it catch up. */
  | { type: 'status'; view: number; executed: number; stable: number; changing: boolean }
  /** Committed slots with their commit certificates (for a replica that missed them). */
  | { type: 'entries'; slots: Array<{ seq: number; view: number; digest: string; commits: number[] }>; proofs: VerifiedProof[] }
  /** A stable checkpoint's certificate, so a lagging replica can start a state transfer. */
  | { type: 'stableCert'; seq: number; digest: string; cert: VerifiedProof[] }
  /** A pre-prepare of the primary's, passed on to a replica whose prepare disagrees with it. */
  | { type: 'relay'; proof: VerifiedProof }
  /** Evidence against a replica, for the primary to order. */
  | { type: 'accuse'; accused: string; evidence: Evidence }
  /** State transfer: asks for part of the snapshot of checkpoint `seq`. */
  | { type: 'fetchState'; seq: number; digest: string; offset: number }
  | { type: 'stateChunk'; seq: number; digest: string; offset: number; total: number; data: Uint8Array }
  /** Signed by the group's admin key: a reconfiguration to order (carried inside a batch item). */
  | { type: 'reconfigure'; change: ConfigCommand; nonce: number };

export type BftMessageType = BftMessage['type'];

/** Votes travel together in one signed bundle; the rest each go alone (their proofs nest). */
export const VOTE_TYPES: ReadonlySet<BftMessageType> = new Set(['prePrepare', 'prepare', 'commit', 'checkpoint', 'status']);

/** What a replica keeps durable about one slot (what it voted for must survive a crash). */
export interface SlotRecord {
  seq: number;
  /** The pre-prepare it accepted: view, digest and batch. */
  view: number;
  digest: string;
  batch: Batch;
  /** The primary's signed pre-prepare, once known. */
  prePrepare?: Proof;
  /** Set once it prepared (before it sends its commit): the certificate a view change must carry. */
  prepared?: { view: number; digest: string; prePrepare: Proof; prepares: Proof[] };
}

export interface HardState {
  view: number;
  /** True once it sent a view change for `view` and has not yet seen its new view. */
  changing: boolean;
  /** What the installed new view decided for the seqs it re-proposed (a pre-prepare must match). */
  plan?: Array<{ seq: number; digest: string }>;
}

/** The new view a primary sent: kept durable, so after a restart it can still show it to a replica that missed it. */
export interface SentNewView {
  view: number;
  message: BftMessage;
  batches: Array<{ digest: string; batch: Batch }>;
}

export interface StableCheckpoint {
  seq: number;
  digest: string;
  /** 2f+1 signed checkpoint messages for (seq, digest); empty for the genesis checkpoint. */
  cert: VerifiedProof[];
}

export type BftEffect =
  /** Make durable before any later effect. */
  | { type: 'persist'; hard?: HardState; slots?: SlotRecord[]; dropSlotsUpTo?: number; stable?: StableCheckpoint; newView?: SentNewView }
  /** A message to the listed replicas, with the batches it refers to (sent beside it, unsigned, bound by digest). */
  | { type: 'send'; to: string[]; message: BftMessage; batches?: Array<{ digest: string; batch: Batch }> }
  /** Execute a committed batch (slots in order). `config` is in force for it. */
  | { type: 'execute'; seq: number; batch: Batch; boundary: boolean }
  /** Unordered reads may be answered once execution reaches `index` (seq). */
  | { type: 'readsReady'; ids: string[] }
  /** Take the state transfer: fetch the snapshot of this stable checkpoint from these replicas. */
  | { type: 'fetchState'; seq: number; digest: string; from: string[] }
  /** Snapshots of checkpoints below seq are no longer needed. */
  | { type: 'dropSnapshotsBelow'; seq: number }
  /** A replica was excluded or removed, or added (for the runtime's key table and observers). */
  | { type: 'configChanged'; config: Config }
  /** Misbehaviour seen (for counters and tests). */
  | { type: 'misbehaviour'; replica: string; what: string };

export interface BftConfig {
  id: string;
  /** Checkpoint every this many sequence numbers. */
  checkpointEvery: number;
  /** Log window: sequence numbers accepted in (stable, stable + windowSize]. */
  windowSize: number;
  /** Most items per batch. */
  maxBatch: number;
  /** Most encoded bytes of items per batch (one item always goes); with `itemSize` from the runtime (the core does no encoding). */
  maxBatchBytes?: number;
  itemSize?(item: BatchItem): number;
  /** A known request not executed within this many ticks makes a backup start a view change. */
  requestTimeoutTicks: number;
  /** A view change not completed within this many ticks moves on to the next view (doubling each time). */
  viewChangeTimeoutTicks: number;
  /** Rebroadcast votes for unfinished slots and a status this often (repair after loss). */
  statusTicks: number;
  /** Known requests never ordered are forgotten after this many ticks (the client gave up or will retry). */
  forgetRequestTicks: number;
  /** A batch time more than this far ahead of the backup's clock is refused (ms). */
  maxClockSkewMs: number;
  /** Digest of a batch (the runtime passes SHA-256 of its canonical encoding). */
  hashBatch(batch: Batch): string;
  /**
   * Digest of a checkpoint: the app state digest, the configuration in force for slot `seq`
   * (`before`, whose members signed this checkpoint) and the one right after it (`config`).
   */
  hashCheckpoint(c: { seq: number; appDigest: string; config: Config; before: Config }): string;
}
