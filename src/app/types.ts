/**
 * Types of the application executor: what the replication protocol feeds it (committed
 * requests in log order) and what it hands back (per-entry results and state digests).
 */
import type { AnyStateMachine, InspectionEvent, Observer, SnapshotFrom, Subscribable, Subscription } from 'xstate';

/** A client's event: plain serializable data with a string `type`. */
export interface AppEvent {
  type: string;
  [key: string]: unknown;
}

/** One committed client request. `(client, seq)` identifies it for exactly-once execution. */
export interface AppRequest {
  client: string;
  seq: number;
  event: AppEvent;
}

/**
 * What the machine receives in `event.$meta` with every client event: fields chosen by the
 * ordering (the same on every replica), never by the replica that executes it.
 */
export interface AppMeta {
  /** Log index of the entry. */
  index: number;
  /** Replicated time of the entry (ms). */
  time: number;
  /** A uint32 derived from the previous state digest and the index. */
  random: number;
  /**
   * The id of the client that sent the event: derived from its public key over WebRTC, and
   * checked by the replicas, so a machine can authorize by it (who may move, who owns what).
   */
  client: string;
}

/** The application state as clients see it: plain data, a deep copy. */
export interface AppSnapshotView {
  value: unknown;
  context: unknown;
  status: string;
  /** When `status` is 'error': a description of the error (see `createAppExecutor`). */
  error?: string;
}

export interface ApplyResult {
  index: number;
  /** The app state right after this entry. */
  snapshot: AppSnapshotView;
  /** Hex SHA-256 of the canonical encoding of the whole replicated state after this entry. */
  digest: string;
  /** True when (client, seq) was already applied: a cached result, nothing applied again. */
  duplicate: boolean;
  /**
   * True when the request's seq is below the client's last applied seq: the result is the
   * client's latest cached one (a newer request's), since older results are not kept.
   */
  stale?: boolean;
}

/**
 * A read-only view of the local app actor: `getSnapshot()` and `subscribe()`, enough for
 * XState tooling such as `useSelector`. Subscribers get the snapshot once per applied
 * entry (and after a restore); they are never sent `error` or `complete`, because a
 * restore can bring an errored or finished app back to life.
 */
export interface AppActor<TSnapshot> extends Subscribable<TSnapshot> {
  readonly id: string;
  getSnapshot(): TSnapshot;
  subscribe(observer: Observer<TSnapshot>): Subscription;
  subscribe(next: (value: TSnapshot) => void, error?: (error: unknown) => void, complete?: () => void): Subscription;
}

export interface AppExecutorOptions {
  /** Most clients kept in the exactly-once table; the least recently active go first. Default 1024. */
  maxClients?: number;
  /** A client idle for longer than this (replicated ms) is dropped from the table. Default 24 h. */
  clientIdleExpiry?: number;
  /** Input of the machine (must be the same plain data on every replica). */
  input?: unknown;
  /** XState inspection of the app actor and its children. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

export interface AppExecutor<TMachine extends AnyStateMachine = AnyStateMachine> {
  /** Read-only ref of the local app (what `replica.app` exposes); survives `restore`. */
  readonly actor: AppActor<SnapshotFrom<TMachine>>;
  readonly appliedIndex: number;
  /** Replicated time of the last applied entry. */
  readonly time: number;
  /** Digest of the current state (hex). */
  readonly digest: string;
  applyRequest(index: number, time: number, request: AppRequest): ApplyResult;
  /** Advances replicated time (fires due `after` timers) without an event. */
  applyNoop(index: number, time: number): void;
  /** Earliest pending delayed event's due time, so the leader can order a time-advance entry. */
  nextTimerDue(): number | undefined;
  /** Canonical bytes of the whole replicated state. */
  snapshot(): Uint8Array;
  /** Replaces the state with a `snapshot()`; throws a clear error on bad bytes, keeping the old state. */
  restore(bytes: Uint8Array): void;
  lastReply(client: string): { seq: number; result: ApplyResult } | undefined;
  stop(): void;
}
