/**
 * The application executor: runs the user's XState machine on a replica, fed committed
 * entries in log order, so that every replica reaches byte-identical state.
 */
import { createActor, type Actor, type ActorOptions, type AnyActorRef, type Snapshot, type AnyStateMachine, type EventObject, type Observer, type SnapshotFrom, type Subscription } from 'xstate';
import { CodecError, decode, encode } from '../codec/index.ts';
import { sha256Sync, toHex } from '../crypto/index.ts';
import { requestDigest, sessionProblem, SessionTable, type SessionEntry } from './clients.ts';
import { hookScheduler, ReplicatedClock } from './clock.ts';
import { deterministicIds, refuseUnreplicatedLogic, reviveAncestorRefs, rootActorId, type ActorIds } from './determinism.ts';
import { AppDataError, checkEvent, clonePlain, faultSnapshot, faultText, frozenView, OMITTED_VIEW, persistActor, persistShell, SNAPSHOT_LIMITS, STATE_LIMITS } from './persist.ts';
import { StateTree } from './state-tree.ts';
import type { AppActor, AppExecutor, AppExecutorOptions, AppRequest, AppSnapshotView, ApplyResult, RefusalCode } from './types.ts';

const DEFAULT_MAX_CLIENTS = 1024;
const DEFAULT_CLIENT_IDLE_EXPIRY = 24 * 60 * 60 * 1000;
/** Names the snapshot format; bump the version when the layout changes. */
const SNAPSHOT_FORMAT = 'statechorus/app-state';
const SNAPSHOT_VERSION = 3; // 2: sessions, 3: actorIds
const DIGEST_VERSION = 4; // 2: sessions, 3: actorIds, 4: tree hashes of the app and of cached results

type AnyActor = Actor<AnyStateMachine>;

/** One app actor with its own replicated clock: replaced as a whole by a restore or a fault. */
interface World {
  actor: AnyActor;
  clock: ReplicatedClock;
  /** Ids of actors spawned without one (see determinism.ts). */
  ids: ActorIds;
  /** The actor starts at the first applied entry, so initial `after` timers count from its time. */
  started: boolean;
}

/**
 * Creates the executor of `machine` for one replica.
 *
 * Determinism. The actor runs on a replicated clock (XState's `clock` option): its time is
 * the time of the entry being applied, chosen by the leader and ordered with the entry.
 * Before an entry with time T (request or noop) is applied, every pending delayed event with
 * due time <= T fires, in (due, seq) order, each with the clock at its own due time; after a
 * request's event, those due by T fire too (zero delays). A time below the last applied one
 * counts as the last one (replicated time never goes back). The actor is started at the
 * first applied entry, so delays of the initial state count from that entry's time.
 *
 * `$meta`. The machine receives each client event with a reserved field
 * `$meta: { index, time, random, client }`: the entry's log index, its replicated time, the
 * id of the client that sent it (authenticated by the replicas), and `random`,
 * a uint32 = the first 4 bytes (big-endian) of SHA-256(previous state digest (32 bytes) ||
 * index as a 64-bit big-endian integer). It is the same on every replica and not chosen by
 * anyone, but predictable: do not use it for secrets. Events that already carry `$meta` are
 * refused (see `checkEvent`). Delayed events fired by the clock carry no `$meta`.
 *
 * Exactly-once: sessions (Raft thesis §6.3). A client first orders a request with session 0
 * and event `{ type: SESSION_EVENT }`: it opens a session whose id is that entry's index
 * (result `session: { id, seq: 0 }`). Its requests then carry (session, seq). The state
 * keeps, per session, its client, last applied seq, SHA-256 of that request's event and the
 * result. A request with seq above the last one is applied. One with the last seq and the
 * same event returns the cached result with `duplicate: true`; with another event it is
 * refused (`refused.code: 'request-mismatch'`): a cached reply answers only the request it
 * belongs to. A lower seq is refused as `stale`. A session not in the table (or opened by
 * another client) is refused as `session-expired`. Refused and cached requests are not
 * applied, but the entry still advances the index and time.
 * Sessions expire by a replicated rule: one idle (no request applied, not opened or resumed)
 * for more than `clientIdleExpiry` replicated ms leaves the table when an entry with a later
 * time is applied (the lease), and when more than `maxClients` sessions are open the least
 * recently active leaves (LRU). Since an unknown session is refused and never applied, an
 * expired session's retry cannot execute twice; the client learns that its last request's
 * outcome is unknown (SessionExpiredError). Retried openings may open extra sessions; unused,
 * they expire like any other.
 * Resume: `{ type: SESSION_EVENT, resume: id }` with session 0 returns `session: { id, seq }`
 * (seq: the last applied) and fences seq + 1 (recorded as applied with no request, so a copy
 * of the previous run's request still in flight is refused as a mismatch, never applied); the
 * resumed client continues at seq + 2. A session not in the table is refused as expired.
 * The opening's seq is the client's attempt number (increasing, also across its restarts);
 * the session keeps the last resume's (`resumed`): a resume not above it (a retransmission, or
 * a late copy from an earlier run) fences nothing and answers as the first copy did, so the
 * client's next number never collides with a second fence.
 *
 * Digest: SHA-256 of the canonical encoding of
 * `{ v: 3, index, time, app, timers: [[due, seq, id, event], …], timerSeq, actorIds, clients }` where
 * `app` is SHA-256 of the canonical encoding of the persisted snapshot (XState's
 * `getPersistedSnapshot()`, errors as text), `timers` the pending delayed events in firing
 * order, `timerSeq` the seq of the next one, `actorIds` the next id for an actor spawned
 * without one (see determinism.ts), and `clients` the root of a fixed hash tree over
 * the session table whose leaves are each session's `[session, client, seq, time,
 * requestDigest, index, SHA-256(encode([index, snapshot]))]` (see SessionTable.digest). The app is encoded again
 * only when an event was delivered or a timer fired, a request re-hashes one path of the
 * client tree, and the digest itself is computed on demand (a run of noops costs none until
 * someone asks).
 *
 * Snapshots. XState's persisted snapshot leaves scheduled events out, and `createActor`
 * cannot take them back (the system's scheduler is built empty). So the executor hooks the
 * system's `scheduler.schedule` to learn what each timer carries (source, target, event,
 * delay, id), names actors by their path of child ids, and on restore schedules the pending
 * events again through the same scheduler with their original due time and seq. A restore
 * checks that XState re-persists the app byte for byte and that the digest comes out as the
 * snapshot says, or throws and keeps the old state.
 *
 * The machine must be deterministic apart from what the executor replicates: promise,
 * callback and observable actors are refused (see `refuseUnreplicatedLogic`); no Math.random
 * or Date.now in actions. Every replica must run
 * the same machine, XState version and options.
 *
 * Failures of the app are deterministic: an action that throws puts the actor in status
 * 'error' (XState's behaviour; the error is kept as text: `Name: message`, or only the name
 * for engine-raised TypeError/RangeError/…, whose wording differs between JS engines); later
 * events are recorded but not delivered. A state that is not plain data (a Date in context,
 * a child from inline logic) turns into the same kind of error state, with the reason.
 */
export function createAppExecutor<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options: AppExecutorOptions = {},
): AppExecutor<TMachine> {
  return new Executor(machine, options) as unknown as AppExecutor<TMachine>;
}

class Executor implements AppExecutor {
  readonly actor: AppActor<SnapshotFrom<AnyStateMachine>>;
  private world: World;
  private clients: SessionTable;
  private index = 0;
  private now = 0;
  /** Persisted snapshot of the app (plain data, frozen), its tree hash and what clients see of it. */
  private persisted: Record<string, unknown> = {};
  private appHash: Uint8Array = new Uint8Array(32);
  private appView: AppSnapshotView = frozenView({ status: 'active' });
  /** Tree hashes of the app's parts, kept by identity: a request re-hashes what it changed. */
  private readonly tree = new StateTree({ maxSize: STATE_LIMITS.maxSize!, maxDepth: STATE_LIMITS.maxDepth!, rootName: STATE_LIMITS.rootName! });
  /** Set when an event was delivered or a timer fired: the app must be persisted again. */
  private appDirty = true;
  /** Digest of the current state, computed on demand (noops in a row need none). */
  private digestBytes: Uint8Array = new Uint8Array(32);
  private digestHex = '';
  private digestValid = false;
  private stopped = false;
  private readonly observers = new Set<Observer<unknown>>();
  private readonly maxClients: number;
  private readonly idleExpiry: number;
  private readonly seed = new Uint8Array(40);

  constructor(
    private readonly machine: AnyStateMachine,
    private readonly options: AppExecutorOptions,
  ) {
    refuseUnreplicatedLogic(machine, 'statechorus: cannot replicate this machine');
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.idleExpiry = options.clientIdleExpiry ?? DEFAULT_CLIENT_IDLE_EXPIRY;
    if (!Number.isSafeInteger(this.maxClients) || this.maxClients < 1) {
      throw new RangeError(`createAppExecutor: maxClients must be a positive integer, got ${String(options.maxClients)}`);
    }
    if (typeof this.idleExpiry !== 'number' || !(this.idleExpiry > 0)) {
      throw new RangeError(`createAppExecutor: clientIdleExpiry must be a positive number of ms, got ${String(options.clientIdleExpiry)}`);
    }
    this.clients = this.newTable();
    this.world = this.newWorld(undefined);
    this.settleApp();
    this.actor = this.facade();
  }

  get appliedIndex(): number {
    return this.index;
  }

  get time(): number {
    return this.now;
  }

  get digest(): string {
    this.ensureDigest();
    return this.digestHex;
  }

  applyRequest(index: number, time: number, request: AppRequest): ApplyResult {
    this.checkEntry(index, time);
    checkRequest(request);
    const random = this.random(index); // from the state before this entry
    const t = this.begin(index, time);

    if (request.session === 0) return this.openSession(index, t, request);
    const known = this.clients.get(request.client, request.session);
    const hash = requestDigest(request.event);
    const cached = known === undefined ? this.refusal('session-expired', request) : this.fromTable(known, request, hash);
    if (cached !== undefined) {
      this.finish();
      return this.withDigest(cached);
    }

    const meta = { index, time: t, random, client: request.client };
    const world = this.world;
    if (world.actor.getSnapshot().status === 'active') {
      world.actor.send({ ...request.event, $meta: meta });
      world.clock.advance(t);
      this.appDirty = true;
    }
    this.settleApp();

    const snapshot = this.viewFor(request);
    const result: ApplyResult = { index, snapshot, digest: '', duplicate: false };
    this.clients.record({ session: request.session, client: request.client, seq: request.seq, time: t, request: hash, result, ...(known!.resumed ? { resumed: known!.resumed } : {}) });
    this.finish();
    return this.withDigest(result);
  }

  answerFromCache(request: AppRequest): ApplyResult | undefined {
    if (request.session === 0) return undefined;
    const known = this.clients.get(request.client, request.session);
    if (known === undefined || request.seq > known.seq) return undefined;
    return this.fromTable(known, request, requestDigest(request.event));
  }

  /** The table's answer to a seq at or below the session's last one; undefined for a new seq. */
  private fromTable(known: SessionEntry, request: AppRequest, hash: Uint8Array): ApplyResult | undefined {
    if (request.seq > known.seq) return undefined;
    if (request.seq === known.seq && known.result !== null && known.request !== null && sameBytes(known.request, hash)) {
      return { ...known.result, duplicate: true };
    }
    if (request.seq === known.seq) return this.refusal('request-mismatch', request);
    return this.refusal('stale', request, known.seq);
  }

  private refusal(code: RefusalCode, request: AppRequest, last?: number): ApplyResult {
    const message =
      code === 'session-expired'
        ? `session ${request.session} of client "${request.client}" has expired (or never existed): the request was not applied now; an earlier copy may have been`
        : code === 'request-mismatch'
          ? `request ${request.seq} of session ${request.session} differs from the one applied under that number`
          : `request ${request.seq} is older than session ${request.session}'s last applied request ${String(last)}`;
    return { index: this.index, snapshot: this.appView, digest: '', duplicate: true, refused: { code, message } };
  }

  /** Opens a session (id = this entry's index) or resumes one (fencing the next seq). */
  private openSession(index: number, t: number, request: AppRequest): ApplyResult {
    const resume = request.event.resume;
    let result: ApplyResult;
    if (resume === undefined) {
      this.clients.record({ session: index, client: request.client, seq: 0, time: t, request: null, result: null });
      result = { index, snapshot: this.viewFor(request), digest: '', duplicate: false, session: { id: index, seq: 0 } };
    } else {
      const known = typeof resume === 'number' ? this.clients.get(request.client, resume) : undefined;
      if (known === undefined) {
        result = this.refusal('session-expired', { ...request, session: typeof resume === 'number' ? resume : -1 });
      } else if (request.seq <= (known.resumed ?? 0)) {
        // A retransmitted resume (or a late copy from an earlier run) must not fence again: the
        // client may already number its requests from the first copy's answer. It answers as
        // the first did while the fence stands, and fences nothing.
        const last = known.request === null ? known.seq - 1 : known.seq;
        result = { index, snapshot: this.viewFor(request), digest: '', duplicate: false, session: { id: known.session, seq: last } };
      } else {
        this.clients.record({ ...known, seq: known.seq + 1, time: t, request: null, resumed: request.seq });
        result = { index, snapshot: this.viewFor(request), digest: '', duplicate: false, session: { id: known.session, seq: known.seq } };
      }
    }
    this.finish();
    return this.withDigest(result);
  }

  /** The state a result carries: the app's, or none when the request asked for none. */
  private viewFor(request: AppRequest): AppSnapshotView {
    return request.snapshot === false ? OMITTED_VIEW : this.appView;
  }

  private withDigest(result: ApplyResult): ApplyResult {
    if (result.duplicate && result.refused === undefined) return result; // a cached result keeps its own digest
    this.ensureDigest();
    result.digest = this.digestHex;
    return result;
  }

  applyNoop(index: number, time: number): void {
    this.checkEntry(index, time);
    this.begin(index, time);
    this.finish();
  }

  nextTimerDue(): number | undefined {
    return this.world.clock.nextDue();
  }

  view(): AppSnapshotView {
    return this.appView;
  }

  lastReply(client: string, session: number): { seq: number; result: ApplyResult | null } | undefined {
    const entry = this.clients.get(client, session);
    return entry === undefined ? undefined : { seq: entry.seq, result: entry.result };
  }

  snapshot(): Uint8Array {
    this.assertRunning('snapshot');
    this.ensureDigest();
    const paths = actorPaths(this.world.actor);
    const timers = this.world.clock.timers.map((timer, i) => {
      const call = timer.scheduled;
      if (call === undefined) {
        throw new Error(
          `snapshot: pending timer ${i} (due ${timer.due}) was not set through XState's scheduler, so it cannot be carried in a snapshot`,
        );
      }
      const source = paths.get(call.source);
      const target = paths.get(call.target);
      if (source === undefined || target === undefined) {
        throw new Error(`snapshot: pending delayed event "${call.id}" involves an actor that is no longer in the app's actor tree`);
      }
      return { due: timer.due, seq: timer.seq, source, target, event: call.event, id: call.id, delay: call.delay };
    });
    const clients = [];
    for (const e of this.clients.values()) {
      const result = e.result === null ? null : { index: e.result.index, snapshot: e.result.snapshot, digest: e.result.digest };
      clients.push({ session: e.session, client: e.client, seq: e.seq, time: e.time, request: e.request, result, ...(e.resumed ? { resumed: e.resumed } : {}) });
    }
    return encode(
      {
        format: SNAPSHOT_FORMAT,
        version: SNAPSHOT_VERSION,
        index: this.index,
        time: this.now,
        timerSeq: this.world.clock.seq,
        actorIds: this.world.ids.next,
        app: this.persisted,
        timers,
        clients,
        digest: this.digestHex,
      },
      SNAPSHOT_LIMITS,
    );
  }

  restore(bytes: Uint8Array): void {
    this.assertRunning('restore');
    const state = parseSnapshot(bytes);
    const world = this.restoreWorld(state);
    try {
      let persisted: Record<string, unknown>;
      try {
        persisted = persistActor(world.actor);
      } catch (err) {
        throw new Error(`restore: the restored app cannot be persisted again: ${faultText(err)}`);
      }
      const appBytes = encode(persisted, STATE_LIMITS);
      if (!sameBytes(appBytes, encode(state.app, STATE_LIMITS))) {
        throw new Error("restore: XState did not restore the app's persisted snapshot exactly (the machine differs from the one that took the snapshot?)");
      }
      const clients = this.newTable();
      for (const c of state.clients) {
        clients.record({
          session: c.session,
          client: c.client,
          seq: c.seq,
          time: c.time,
          request: c.request,
          result: c.result === null ? null : { ...c.result, duplicate: false },
          ...(c.resumed ? { resumed: c.resumed } : {}),
        });
      }
      const appHash = this.tree.hash(persisted).hash;
      const digest = this.computeDigest(state.index, state.time, appHash, world, clients);
      if (toHex(digest) !== state.digest) {
        throw new Error(
          `restore: the restored state has digest ${toHex(digest)}, the snapshot says ${state.digest} ` +
            '(corrupted snapshot, or maxClients / clientIdleExpiry differ from the replica that took it)',
        );
      }
      const old = this.world;
      this.world = world;
      this.clients = clients;
      this.index = state.index;
      this.now = state.time;
      this.setApp(persisted, appHash);
      this.appDirty = false;
      this.digestBytes = digest;
      this.digestHex = state.digest;
      this.digestValid = true;
      dispose(old);
    } catch (err) {
      dispose(world);
      throw err;
    }
    this.notify();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    dispose(this.world);
    this.observers.clear();
  }

  // ------------------------------------------------------------------ entries

  private checkEntry(index: number, time: number): void {
    this.assertRunning('apply');
    if (!Number.isSafeInteger(index) || index <= this.index) {
      throw new RangeError(`app executor: entry index must be an integer above the applied index ${this.index}, got ${String(index)}`);
    }
    if (typeof time !== 'number' || !Number.isFinite(time)) {
      throw new RangeError(`app executor: entry time must be a finite number of ms, got ${String(time)}`);
    }
  }

  /** Starts the app if needed, fires due timers, moves index and time, expires idle clients. */
  private begin(index: number, time: number): number {
    const t = time > this.now ? time : this.now;
    const world = this.world;
    if (!world.started) {
      world.started = true;
      world.clock.current = t;
      world.actor.start();
      this.appDirty = true;
    }
    if (world.clock.advance(t)) this.appDirty = true;
    this.index = index;
    this.now = t;
    this.clients.expire(t);
    return t;
  }

  /** Settles the app (eagerly: a fault must turn into an error state at the same entry everywhere); the digest can wait. */
  private finish(): void {
    this.settleApp();
    this.digestValid = false;
    this.notify();
  }

  private ensureDigest(): void {
    if (this.digestValid) return;
    this.digestBytes = this.computeDigest(this.index, this.now, this.appHash, this.world, this.clients);
    this.digestHex = toHex(this.digestBytes);
    this.digestValid = true;
  }

  /** `$meta.random` of the entry at `index`: derived from the digest before it. */
  private random(index: number): number {
    this.ensureDigest();
    const seed = this.seed;
    seed.set(this.digestBytes, 0);
    const hi = Math.floor(index / 0x100000000);
    const lo = index >>> 0;
    seed[32] = hi >>> 24;
    seed[33] = hi >>> 16;
    seed[34] = hi >>> 8;
    seed[35] = hi;
    seed[36] = lo >>> 24;
    seed[37] = lo >>> 16;
    seed[38] = lo >>> 8;
    seed[39] = lo;
    const h = sha256Sync(seed);
    return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
  }

  /**
   * Persists and hashes the app again if it may have changed (paying only for what changed,
   * see state-tree.ts); a state that cannot be replicated becomes an error state.
   */
  private settleApp(): void {
    if (!this.appDirty) return;
    this.appDirty = false;
    let tree: { out: object; hash: Uint8Array };
    try {
      tree = this.tree.hash(persistShell(this.world.actor));
    } catch (err) {
      if (!(err instanceof CodecError || err instanceof AppDataError)) throw err;
      tree = this.tree.hash(faultSnapshot(this.world.actor, faultText(err)));
      const persisted = tree.out as Record<string, unknown>;
      // the same error state a restore of this snapshot gives
      const world = this.newWorld(persisted);
      world.clock.current = this.now;
      world.clock.seq = this.world.clock.seq;
      world.ids.next = this.world.ids.next;
      world.started = true;
      world.actor.start();
      dispose(this.world);
      this.world = world;
    }
    this.setApp(tree.out as Record<string, unknown>, tree.hash);
  }

  private setApp(persisted: Record<string, unknown>, hash: Uint8Array): void {
    this.persisted = persisted;
    this.appHash = hash;
    this.appView = frozenView(persisted);
  }

  /** The session table, its cached results hashed as trees ([index, snapshot]) sharing the app's. */
  private newTable(): SessionTable {
    return new SessionTable(this.maxClients, this.idleExpiry, (result) => this.tree.hash([result.index, result.snapshot]).hash);
  }

  private computeDigest(index: number, time: number, appHash: Uint8Array, world: World, clients: SessionTable): Uint8Array {
    const clock = world.clock;
    const timers = clock.timers.map((t) => [t.due, t.seq, t.scheduled?.id ?? null, t.scheduled?.event ?? null]);
    return sha256Sync(
      encode(
        { v: DIGEST_VERSION, index, time, app: appHash, timers, timerSeq: clock.seq, actorIds: world.ids.next, clients: clients.digest() },
        STATE_LIMITS,
      ),
    );
  }

  // ------------------------------------------------------------------ actors

  private newWorld(snapshot: Record<string, unknown> | undefined): World {
    const clock = new ReplicatedClock();
    const actorOptions: ActorOptions<AnyStateMachine> = { clock, id: rootActorId(this.machine) };
    if (snapshot === undefined) actorOptions.input = this.options.input;
    // a copy: XState revives actor refs in the context in place
    else actorOptions.snapshot = clonePlain(snapshot) as unknown as Snapshot<unknown>;
    if (this.options.inspect !== undefined) actorOptions.inspect = this.options.inspect;
    const actor: AnyActor = createActor(this.machine, actorOptions);
    hookScheduler(actor, clock);
    const ids: ActorIds = { next: 0 };
    deterministicIds(actor, ids);
    // The error is in the snapshot; with no error observer XState rethrows it globally.
    actor.subscribe({ error: () => {} });
    return { actor, clock, ids, started: false };
  }

  private restoreWorld(state: ParsedSnapshot): World {
    const fresh = state.index === 0 && state.app.status !== 'error';
    const world = this.newWorld(fresh ? undefined : state.app);
    try {
      world.clock.current = state.time;
      if (!fresh) {
        reviveAncestorRefs(world.actor, state.app);
        world.started = true;
        world.actor.start();
        const refs = actorRefsByPath(world.actor);
        for (const [i, t] of state.timers.entries()) {
          const source = refs.get(t.source.join('\u0000'));
          const target = refs.get(t.target.join('\u0000'));
          if (source === undefined || target === undefined) {
            throw new Error(`restore: pending delayed event ${i} ("${t.id}") involves actor "${(source === undefined ? t.source : t.target).join('/')}", which the restored app does not have`);
          }
          world.clock.forced = { due: t.due, seq: t.seq };
          world.actor.system.scheduler.schedule(source, target, t.event, t.delay, t.id);
          if (world.clock.forced !== undefined) {
            world.clock.forced = undefined;
            throw new Error("restore: XState's scheduler did not set a timer for a pending delayed event (an XState version this executor does not know?)");
          }
        }
      } else if (state.timers.length > 0) {
        throw new Error('restore: a snapshot at index 0 cannot have pending delayed events');
      }
      world.clock.seq = state.timerSeq;
      world.ids.next = state.actorIds;
      return world;
    } catch (err) {
      dispose(world);
      throw err;
    }
  }

  private facade(): AppActor<SnapshotFrom<AnyStateMachine>> {
    const self = this;
    return {
      id: 'app',
      getSnapshot: () => self.world.actor.getSnapshot(),
      subscribe(
        nextOrObserver?: Observer<unknown> | ((value: unknown) => void),
        error?: (error: unknown) => void,
        complete?: () => void,
      ): Subscription {
        const observer: Observer<unknown> =
          typeof nextOrObserver === 'function' || nextOrObserver === undefined
            ? { next: nextOrObserver, error, complete }
            : nextOrObserver;
        self.observers.add(observer);
        return { unsubscribe: () => void self.observers.delete(observer) };
      },
    } as AppActor<SnapshotFrom<AnyStateMachine>>;
  }

  private notify(): void {
    if (this.observers.size === 0) return;
    const snapshot = this.world.actor.getSnapshot();
    for (const observer of [...this.observers]) {
      try {
        observer.next?.(snapshot);
      } catch (err) {
        // an observer's bug must not stop the replica; report it as XState does
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  private assertRunning(what: string): void {
    if (this.stopped) throw new Error(`app executor: cannot ${what}, the executor is stopped`);
  }
}

function dispose(world: World): void {
  world.actor.stop();
  world.clock.clear();
}

function checkRequest(request: AppRequest): void {
  if (typeof request !== 'object' || request === null) throw new TypeError('app executor: a request must be an object { client, session, seq, event }');
  if (typeof request.client !== 'string') throw new TypeError(`app executor: request.client must be a string, got ${typeof request.client}`);
  if (!Number.isSafeInteger(request.session) || request.session < 0) {
    throw new TypeError(`app executor: request.session must be a non-negative integer (0 opens a session), got ${String(request.session)}`);
  }
  if (!Number.isSafeInteger(request.seq) || request.seq < 0) {
    throw new TypeError(`app executor: request.seq must be a non-negative integer, got ${String(request.seq)}`);
  }
  if (request.snapshot !== undefined && request.snapshot !== false) {
    throw new TypeError(`app executor: request.snapshot must be false or absent, got ${String(request.snapshot)}`);
  }
  const problem = checkEvent(request.event) ?? sessionProblem(request.session, request.event);
  if (problem !== null) throw new TypeError(`app executor: refused event from client "${request.client}": ${problem}`);
}

/** Path (child ids from the root) of every actor in the tree. */
function actorPaths(root: AnyActorRef): Map<AnyActorRef, string[]> {
  const out = new Map<AnyActorRef, string[]>();
  const walk = (ref: AnyActorRef, path: string[]): void => {
    out.set(ref, path);
    const children = (ref.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined)?.children;
    if (children === undefined || children === null) return;
    for (const id of Object.keys(children)) walk(children[id]!, [...path, id]);
  };
  walk(root, []);
  return out;
}

function actorRefsByPath(root: AnyActorRef): Map<string, AnyActorRef> {
  const out = new Map<string, AnyActorRef>();
  for (const [ref, path] of actorPaths(root)) out.set(path.join('\u0000'), ref);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ------------------------------------------------------------------ snapshot parsing

interface ParsedTimer {
  due: number;
  seq: number;
  source: string[];
  target: string[];
  event: EventObject;
  id: string;
  delay: number;
}

interface ParsedClient {
  session: number;
  client: string;
  seq: number;
  time: number;
  request: Uint8Array | null;
  result: { index: number; snapshot: AppSnapshotView; digest: string } | null;
  resumed?: number;
}

interface ParsedSnapshot {
  index: number;
  time: number;
  timerSeq: number;
  actorIds: number;
  app: Record<string, unknown> & { status: string };
  timers: ParsedTimer[];
  clients: ParsedClient[];
  digest: string;
}

class SnapshotError extends Error {
  constructor(where: string, detail: string) {
    super(`restore: bad snapshot: ${where}: ${detail}`);
    this.name = 'SnapshotError';
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

function parseSnapshot(bytes: Uint8Array): ParsedSnapshot {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('restore: expects the Uint8Array returned by snapshot()');
  const decoded = decode(bytes, SNAPSHOT_LIMITS);
  if (!decoded.ok) throw new SnapshotError('bytes', `not a canonical encoding (${decoded.error.message})`);
  const s = record(decoded.value, 'snapshot');
  if (s.format !== SNAPSHOT_FORMAT) throw new SnapshotError('format', `expected "${SNAPSHOT_FORMAT}", got ${JSON.stringify(s.format) ?? 'nothing'}`);
  if (s.version !== SNAPSHOT_VERSION) throw new SnapshotError('version', `this executor reads version ${SNAPSHOT_VERSION}, got ${String(s.version)}`);
  const app = record(s.app, 'app');
  if (typeof app.status !== 'string') throw new SnapshotError('app.status', 'must be a string');
  const timers = array(s.timers, 'timers').map((x, i): ParsedTimer => {
    const t = record(x, `timers[${i}]`);
    const event = record(t.event, `timers[${i}].event`);
    if (typeof event.type !== 'string') throw new SnapshotError(`timers[${i}].event.type`, 'must be a string');
    return {
      due: num(t.due, `timers[${i}].due`),
      seq: int(t.seq, `timers[${i}].seq`),
      source: strings(t.source, `timers[${i}].source`),
      target: strings(t.target, `timers[${i}].target`),
      event: event as EventObject,
      id: str(t.id, `timers[${i}].id`),
      delay: num(t.delay, `timers[${i}].delay`),
    };
  });
  const clients = array(s.clients, 'clients').map((x, i): ParsedClient => {
    const c = record(x, `clients[${i}]`);
    const request = c.request;
    if (request !== null && !(request instanceof Uint8Array && request.length === 32)) throw new SnapshotError(`clients[${i}].request`, 'must be null or 32 bytes');
    let result: ParsedClient['result'] = null;
    if (c.result !== null) {
      const r = record(c.result, `clients[${i}].result`);
      const view = record(r.snapshot, `clients[${i}].result.snapshot`);
      if (typeof view.status !== 'string') throw new SnapshotError(`clients[${i}].result.snapshot.status`, 'must be a string');
      const digest = str(r.digest, `clients[${i}].result.digest`);
      if (!HEX64.test(digest)) throw new SnapshotError(`clients[${i}].result.digest`, 'must be 64 lower-case hex digits');
      result = { index: int(r.index, `clients[${i}].result.index`), snapshot: view as unknown as AppSnapshotView, digest };
    }
    const session = int(c.session, `clients[${i}].session`);
    if (session === 0) throw new SnapshotError(`clients[${i}].session`, 'must be positive');
    // Absent in snapshots of sessions never resumed (and in those taken before resumes were deduplicated).
    const resumed = c.resumed === undefined ? undefined : int(c.resumed, `clients[${i}].resumed`);
    return { session, client: str(c.client, `clients[${i}].client`), seq: int(c.seq, `clients[${i}].seq`), time: num(c.time, `clients[${i}].time`), request, result, ...(resumed ? { resumed } : {}) };
  });
  const digest = str(s.digest, 'digest');
  if (!HEX64.test(digest)) throw new SnapshotError('digest', 'must be 64 lower-case hex digits');
  return {
    index: int(s.index, 'index'),
    time: num(s.time, 'time'),
    timerSeq: int(s.timerSeq, 'timerSeq'),
    actorIds: int(s.actorIds, 'actorIds'),
    app: app as ParsedSnapshot['app'],
    timers,
    clients,
    digest,
  };
}

function record(x: unknown, where: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) throw new SnapshotError(where, 'must be an object');
  return x as Record<string, unknown>;
}

function array(x: unknown, where: string): unknown[] {
  if (!Array.isArray(x)) throw new SnapshotError(where, 'must be an array');
  return x;
}

function num(x: unknown, where: string): number {
  if (typeof x !== 'number' || Number.isNaN(x)) throw new SnapshotError(where, 'must be a number');
  return x;
}

function int(x: unknown, where: string): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) throw new SnapshotError(where, 'must be a non-negative integer');
  return x as number;
}

function str(x: unknown, where: string): string {
  if (typeof x !== 'string') throw new SnapshotError(where, 'must be a string');
  return x;
}

function strings(x: unknown, where: string): string[] {
  const a = array(x, where);
  for (const s of a) if (typeof s !== 'string') throw new SnapshotError(where, 'must be an array of strings');
  return a as string[];
}
