import type { AnyStateMachine, InspectionEvent } from 'xstate';
import type { Clock } from '../clock.ts';
import type { Identity } from '../crypto/index.ts';
import type { Storage } from '../storage/index.ts';
import type { Transport } from '../transport/index.ts';

export type FaultModel = 'crash' | 'byzantine';

export interface GroupMember {
  id: string;
  publicKey: Uint8Array;
}

export interface GroupConfig {
  faultModel: FaultModel;
  /** Initial members; later changes are ordered through the log. */
  members: GroupMember[];
}

export interface ReplicaTuning {
  /** Protocol tick period (ms). */
  tickMs: number;
  /** Ticks without a leader before an election (randomized up to twice this). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Most client requests ordered by one proposal. */
  maxBatch: number;
  /** Take an application snapshot (and compact the log) every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot, so slightly slow followers need no snapshot. */
  keepEntries: number;
  /** Larger incoming messages are dropped before decoding. */
  maxMessageBytes: number;
  /** Demote a voter silent this long (ms) to learner and re-admit it once caught up; 0 = off. */
  removeSilentAfterMs: number;
}

export const DEFAULT_TUNING: ReplicaTuning = {
  tickMs: 10,
  electionTicks: 15,
  heartbeatTicks: 3,
  maxBatch: 512,
  snapshotEvery: 10_000,
  keepEntries: 1_000,
  maxMessageBytes: 16 * 1024 * 1024,
  removeSilentAfterMs: 0,
};

export interface ReplicaOptions {
  machine: AnyStateMachine;
  identity: Identity;
  /** This replica's member id; defaults to the member whose public key is the identity's. */
  id?: string;
  group: GroupConfig;
  transport: Transport;
  storage?: Storage;
  clock?: Clock;
  /** Seed for the protocol's randomized timeouts (the simulator passes one for replay). */
  seed?: number;
  inspect?: (event: InspectionEvent) => void;
  tuning?: Partial<ReplicaTuning>;
}

export interface ReplicaStatus {
  id: string;
  faultModel: FaultModel;
  phase: string;
  term: number;
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
}

export interface ReplicaMetrics {
  messagesIn: number;
  messagesOut: number;
  /** Dropped input by reason (too-large, undecodable, bad-signature, unknown-sender, …). */
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
}
