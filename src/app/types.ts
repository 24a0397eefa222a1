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

/**
 * One committed client request. `(client, session, seq)` identifies it for exactly-once
 * execution. `session: 0` opens a session instead (see `SESSION_EVENT`): `seq` is then a
 * number of the client's choosing that tells its attempts apart, and `event` is
 * `{ type: SESSION_EVENT }`, or `{ type: SESSION_EVENT, resume: id }` to resume session `id`.
 */
export interface AppRequest {
  client: string;
  /**
   * false: the result (and the session's cached copy of it) carries OMITTED_VIEW instead of the
   * state, so neither the reply nor a snapshot of the session table grows with the state.
   */
  snapshot?: false;
  /** The session id (the log index that opened it), or 0 to open one. */
  session: number;
  seq: number;
  event: AppEvent;
}

/** Why a request was not applied and has no cached result. */
export type RefusalCode =
  /** The session is not in the table (expired, evicted, never opened, or another client's): applied at most once before, never again. */
  | 'session-expired'
  /** The session's last applied seq is this one, but it was a different request. */
  | 'request-mismatch'
  /** The seq is below the session's last applied one. */
  | 'stale';

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
  /** When `status` is 'done': the machine's `output`. */
  output?: unknown;
}

export interface ApplyResult {
  index: number;
  /** The app state right after this entry. */
  snapshot: AppSnapshotView;
  /** Hex SHA-256 of the canonical encoding of the whole replicated state after this entry. */
  digest: string;
  /** True when (session, seq) was already applied: a cached result, nothing applied again. */
  duplicate: boolean;
  /** Set when the request was not applied and nothing cached answers it: why. */
  refused?: { code: RefusalCode; message: string };
  /**
   * For a request that opened or resumed a session: its id and the last seq applied in it
   * (0 for a new session; for a resumed one, as found before the resume fenced the next seq).
   */
  session?: { id: number; seq: number };
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
  /** Most sessions kept in the exactly-once table; the least recently active is evicted first. Default 1024. */
  maxClients?: number;
  /** The session lease: a session idle for longer than this (replicated ms) expires. Default 24 h. */
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
  /** The current app state as clients see it (plain data, a copy; includes `output` when done). */
  view(): AppSnapshotView;
  /** The session's last applied seq and cached result (null when none yet); undefined when the session is not in the table. */
  lastReply(client: string, session: number): { seq: number; result: ApplyResult | null } | undefined;
  /**
   * What the table answers for a request before it is ordered: a cached result (same request
   * at the session's last seq), a refusal (an older seq, or another request at the last seq),
   * or undefined: order it (the executor decides when it is applied, in log order).
   */
  answerFromCache(request: AppRequest): ApplyResult | undefined;
  stop(): void;
}
