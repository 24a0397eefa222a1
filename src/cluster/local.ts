import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { Client } from '../client/index.ts';
import { generateIdentity, type Identity } from '../crypto/index.ts';
import { faultModelOf } from '../fault-models/index.ts';
import { ByzantineReplica, createReplica, signReconfiguration, type AnyReplica, type FaultModel, type GroupMember, type Replica, type ReplicaStatus, type ReplicaTuning } from '../replica/index.ts';
import { Simulation, SimulatedTransport, type LinkConfig } from '../sim/index.ts';
import { checkClientTiming, resolveTuning } from '../replica/tuning.ts';
import { BEHAVIOURS, SimulatedBehaviour, type Behaviour, type FloodOptions } from './behaviours/index.ts';
import { ClusterHaltedError, type ClusterClient, type ClusterReplica, type LocalClusterOptions } from './types.ts';

export { ClusterHaltedError, type ClusterClient, type ClusterReplica, type LocalClusterOptions };

/**
 * n replicas (r1 … rn) in one process over the simulated network: for tests, demos and
 * embedding. The virtual clock runs by itself, so `await` works as usual and a minute of
 * simulated time passes in milliseconds; the same seed and calls give the same run.
 */
export class LocalCluster<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly sim: Simulation;
  readonly faultModel: FaultModel;
  readonly f: number;
  readonly #machine: TMachine;
  readonly #tuning: Partial<ReplicaTuning>;
  readonly #clientOptions: { retryAfterMs?: number; giveUpAfterMs?: number; snapshots?: boolean };
  readonly #inspect: LocalClusterOptions['inspect'];
  readonly #sessions: LocalClusterOptions['sessions'];
  readonly #identities = new Map<string, Identity>();
  readonly #replicas = new Map<string, AnyReplica>();
  /** Byzantine model: the admin identity that signs reconfigurations, and behaviours set by tests. */
  #admin: Identity | undefined;
  #reconfigurations = 0;
  readonly #behaviours = new Map<string, { behaviour: Behaviour; flood: Partial<FloodOptions> | undefined }>();
  /** Byzantine model: each running replica's simulated behaviour (installed on its egress and executor). */
  readonly #simulated = new Map<string, SimulatedBehaviour>();
  /** Byzantine `twin`s: a second node per identity, fed copies of what reaches the original. */
  readonly #twins = new Map<string, { node: string; transport: SimulatedTransport | undefined }>();
  readonly #replicaIds: string[] = [];
  /** The members the group started with; replicas added later join through the log. */
  readonly #initialIds: string[] = [];
  #clients = 0;
  /** Set when the simulation halted (a task threw); `#halted` rejects with it. */
  #halt: ClusterHaltedError | undefined;
  readonly #halted: Promise<never>;
  readonly #haltListeners = new Set<(error: ClusterHaltedError) => void>();

  private constructor(options: LocalClusterOptions<TMachine>, sim: Simulation) {
    this.sim = sim;
    this.faultModel = options.faultModel ?? 'crash';
    this.f = options.f ?? 1;
    this.#machine = options.machine;
    this.#tuning = options.tuning ?? {};
    this.#clientOptions = options.client ?? {};
    this.#inspect = options.inspect;
    this.#sessions = options.sessions;
    this.#halted = new Promise<never>((_, reject) => {
      this.#haltListeners.add(reject);
    });
    this.#halted.catch(() => {});
  }

  /** Watches the virtual clock: a task that throws stops it, and the cluster says who and why. */
  #watch(): void {
    this.sim.clock.whenStopped().catch((cause: unknown) => {
      const replica = [...this.#replicas].find(([, r]) => r.failure !== undefined)?.[0];
      this.#halted_(replica, replica ? this.#replicas.get(replica)!.failure : cause);
    });
  }

  /** A replica stopped on a bug (or the clock did): every pending and later call rejects with it. */
  #halted_(replica: string | undefined, cause: unknown): void {
    if (this.#halt) return;
    this.#halt = new ClusterHaltedError(replica, cause);
    for (const listener of this.#haltListeners) listener(this.#halt);
  }

  /** Why the simulation halted (a replica's work threw), if it did. */
  get failure(): ClusterHaltedError | undefined {
    return this.#halt;
  }

  /** Calls `listener` once if the simulation halts; returns a function that removes it. */
  onHalt(listener: (error: ClusterHaltedError) => void): () => void {
    if (this.#halt) {
      listener(this.#halt);
      return () => {};
    }
    this.#haltListeners.add(listener);
    return () => this.#haltListeners.delete(listener);
  }

  /** `work`, or the halt error as soon as the simulation halts (it would never settle then). */
  #orHalt<T>(work: Promise<T>): Promise<T> {
    if (this.#halt) return Promise.reject(this.#halt);
    return Promise.race([work, this.#halted]);
  }

  static async create<TMachine extends AnyStateMachine>(options: LocalClusterOptions<TMachine>): Promise<LocalCluster<TMachine>> {
    validate(options);
    const sim = new Simulation({ seed: options.seed ?? 1, link: options.network ?? { latency: { min: 0.5, max: 2 } } });
    const cluster = new LocalCluster<TMachine>(options, sim);
    const n = faultModelOf(cluster.faultModel).groupSize(cluster.f);
    if (cluster.faultModel === 'byzantine') cluster.#admin = await generateIdentity({ seed: sim.random.fork('identity:admin').bytes(32) });
    for (let i = 1; i <= n; i++) await cluster.#newIdentity(`r${i}`);
    cluster.#initialIds.push(...cluster.#replicaIds);
    sim.clock.startAuto({ realTime: options.clock === 'real' });
    cluster.#watch();
    for (const id of [...cluster.#identities.keys()]) await cluster.#addNode(id);
    return cluster;
  }

  /** Replica ids, including added ones. */
  get replicaIds(): string[] {
    return [...this.#replicaIds];
  }

  replica(id: string): ClusterReplica {
    if (!this.#identities.has(id)) throw new RangeError(`no replica ${id}`);
    const cluster = this;
    const current = () => (this.sim.isUp(id) ? this.#replicas.get(id) : undefined);
    const need = () => {
      const r = current();
      if (!r) throw new Error(`replica ${id} is crashed`);
      return r;
    };
    return {
      id,
      get current() {
        return current();
      },
      status: () => {
        const r = cluster.#replicas.get(id);
        const s = r!.status();
        return current() ? { ...s, up: true } : { ...s, phase: 'crashed', running: false, up: false };
      },
      get app() {
        return need().app;
      },
      get protocol() {
        return need().protocol;
      },
      get metrics() {
        return cluster.#replicas.get(id)!.metrics;
      },
      get behaviour() {
        return cluster.#behaviours.get(id)?.behaviour ?? 'correct';
      },
    };
  }

  /** The replica currently leading (highest term among live leaders; byzantine: the primary of the highest view in normal operation), if any. */
  leader(): string | undefined {
    if (this.faultModel === 'byzantine') {
      let view = -1;
      let primary: string | undefined;
      for (const id of this.#replicaIds) {
        const s = this.sim.isUp(id) ? this.#replicas.get(id)?.status() : undefined;
        if (s?.phase === 'normal' && s.term > view) {
          view = s.term;
          primary = s.leader ?? undefined;
        }
      }
      return primary;
    }
    let best: ReplicaStatus | undefined;
    for (const id of this.#replicaIds) {
      const r = this.sim.isUp(id) ? this.#replicas.get(id) : undefined;
      const s = r?.status();
      if (s?.phase === 'leader' && (!best || s.term > best.term)) best = s;
    }
    return best?.id;
  }

  /** A client of the group; `options` override the cluster's `client` options for this one. */
  createClient(options: { snapshots?: boolean } = {}): ClusterClient<TMachine> {
    const id = `c${++this.#clients}`;
    // The client exists at once; its network node is attached as a task of the simulation.
    const transport = new SimulatedTransport();
    const make = (extra: { session?: number } = {}) => {
      const replicas = this.faultModel === 'byzantine' ? this.#currentMembers() : this.#replicaIds;
      return new Client<TMachine>({ id, transport, replicas, faultModel: this.faultModel, clock: this.sim.clock, machine: this.#machine, ...this.#clientOptions, ...options, ...extra });
    };
    let client = make();
    void this.sim.addNode(id, (env) => {
      transport.attach(env);
    });
    // Calls enter the simulation as tasks, so they happen at a definite point of the run.
    const call = <T>(fn: () => Promise<T>): Promise<T> => this.#orHalt(this.sim.clock.run(() => ({ p: fn() })).then((box) => box.p));
    return {
      id,
      send: (event) => call(() => client.send(event)),
      read: () => call(() => client.read()),
      readOutcome: () => call(() => client.readOutcome()),
      session: () => call(() => client.session()),
      get actor() {
        return client.actor;
      },
      get dissentLog() {
        return client.dissentLog;
      },
      restart: (options) => {
        const old = client;
        // Dropped without closing the shared transport: the new client takes over its messages.
        client = make(options);
        old.close();
      },
      close: () => client.close(),
    };
  }

  crash(id: string): void {
    this.#known(id);
    this.sim.crash(id);
  }

  /**
   * Starts a crashed replica again from its storage. Test tooling: `{ wipe: true }` first empties
   * its storage (a lost or replaced disk), so it starts knowing nothing.
   */
  async restart(id: string, options: { wipe?: boolean } = {}): Promise<void> {
    this.#known(id);
    if (options.wipe) {
      if (this.sim.isUp(id)) throw new Error(`restart ${id} with wipe: crash it first`);
      const storage = this.sim.storageOf(id);
      // As a task of the virtual clock, so the run replays exactly.
      await this.sim.clock.run(async () => {
        const keys = (await storage.scan()).map(([key]) => ({ type: 'delete' as const, key }));
        if (keys.length) await storage.batch(keys);
      });
    }
    return this.sim.restart(id);
  }

  partition(a: string[], b: string[]): void {
    this.sim.network.partition(a, b);
  }

  /** Cuts one replica off from everyone (replicas and clients). */
  isolate(id: string): void {
    this.sim.network.isolate(id, this.sim.nodeIds);
  }

  heal(): void {
    this.sim.network.heal();
  }

  /** Changes the network: loss, duplicate, reorder probabilities, latency. */
  network(config: Partial<LinkConfig>): void {
    this.sim.network.configure(config);
  }

  /** Waits (in virtual time) until predicate() holds; rejects after timeoutMs. */
  async waitFor(predicate: () => boolean, options: { timeoutMs?: number; stepMs?: number } = {}): Promise<void> {
    const deadline = this.sim.clock.now() + (options.timeoutMs ?? 10_000);
    while (!predicate()) {
      if (this.sim.clock.now() >= deadline) throw new Error(`waitFor: condition not reached within ${options.timeoutMs ?? 10_000} ms of cluster time`);
      await this.#orHalt(this.sim.clock.sleep(options.stepMs ?? 10));
    }
  }

  /** Waits for a leader and returns its id. */
  async waitForLeader(timeoutMs = 10_000): Promise<string> {
    await this.waitFor(() => this.leader() !== undefined, { timeoutMs });
    return this.leader()!;
  }

  /** Adds a replica: it joins as a learner, catches up, and is promoted to voter. Returns its id. */
  async addReplica(): Promise<string> {
    const id = `r${this.#identities.size + 1}`;
    const members = this.faultModel === 'byzantine' ? this.#currentMembers() : this.#crashMembers();
    // Key generation awaits WebCrypto: as a task the virtual clock waits for, so runs replay exactly.
    const identity = await this.sim.clock.run(() => this.#newIdentity(id));
    if (this.faultModel === 'byzantine') {
      for (const r of this.#replicas.values()) r.knowMember(id, identity.publicKey);
      // It starts knowing the current members, catches up by state transfer, and counts in quorums once the change is in force.
      await this.#addNode(id, members);
      await this.#reconfigure({ add: { id, key: identity.publicKey } });
      return id;
    }
    // Crash model: as over a network, with no side channel. The new replica is configured with
    // the current members (their keys); the others learn its key from the ordered config entry.
    await this.#addNode(id, members);
    const err = await this.#changeMembership({ add: id, publicKey: identity.publicKey });
    if (err) throw new Error(`addReplica: ${err}`);
    return id;
  }

  /** Removes a replica from the group (ordered through the log), then stops it. */
  async removeReplica(id: string): Promise<void> {
    this.#known(id);
    if (this.faultModel === 'byzantine') {
      await this.#reconfigure({ remove: id });
      await this.waitFor(() => this.#upReplicas().filter((r) => r.id !== id).every((r) => !r.status().members.includes(id)), { timeoutMs: 30_000 });
      if (this.sim.isUp(id)) this.sim.crash(id);
      const at = this.#replicaIds.indexOf(id);
      if (at >= 0) this.#replicaIds.splice(at, 1);
      return;
    }
    const err = await this.#changeMembership({ remove: id });
    if (err) throw new Error(`removeReplica: ${err}`);
    await this.waitFor(() => {
      const l = this.leader();
      const s = l ? this.#replicas.get(l)!.status() : undefined;
      return !!s && !s.members.includes(id) && !s.learners.includes(id) && s.commitIndex >= s.appliedIndex && l !== id;
    });
    if (this.sim.isUp(id)) this.sim.crash(id);
    const at = this.#replicaIds.indexOf(id);
    if (at >= 0) this.#replicaIds.splice(at, 1);
  }

  async transferLeadership(to: string): Promise<void> {
    this.#known(to);
    const err = await this.#orHalt(this.#onLeader((leader) => leader.transferLeadership(to)));
    if (err) throw new Error(`transferLeadership: ${err}`);
    await this.waitFor(() => this.leader() === to);
  }

  /**
   * Makes a replica misbehave (DESIGN.md §5; src/cluster/behaviours/): 'silent', 'equivocate',
   * 'forge', 'corrupt-signatures', 'wrong-result', 'replay', 'slow', 'twin', 'flood' (with
   * `options.flood`), 'substitute'; 'correct' ends it. The behaviour survives restarts of the
   * replica. It takes effect at once; `behaviourReady(id)` settles once it is ready.
   */
  async byzantine(id: string, behaviour: Behaviour, options: { flood?: Partial<FloodOptions> } = {}): Promise<void> {
    if (this.faultModel !== 'byzantine') throw new Error("cluster.byzantine needs faultModel 'byzantine'");
    this.#known(id);
    if (!BEHAVIOURS.includes(behaviour)) throw new RangeError(`cluster.byzantine: unknown behaviour ${String(behaviour)}; one of ${BEHAVIOURS.join(', ')}`);
    this.#behaviours.set(id, { behaviour, flood: options.flood });
    const simulated = this.#simulated.get(id);
    if (simulated && this.sim.isUp(id)) void simulated.set(behaviour, options.flood);
    if (behaviour === 'twin' && !this.#twins.has(id)) await this.#startTwin(id);
    if (behaviour !== 'twin' && this.#twins.has(id)) {
      const twin = this.#twins.get(id)!;
      this.#twins.delete(id);
      if (this.sim.isUp(twin.node)) this.sim.crash(twin.node);
    }
  }

  /** Settles once the behaviour set on `id` is ready ('flood': the proofs it quotes are signed). */
  behaviourReady(id: string): Promise<void> {
    this.#known(id);
    return this.#orHalt(this.#simulated.get(id)?.ready ?? Promise.resolve());
  }

  /** Byzantine: the replicas that are up and still members (by a live replica's view of the group). */
  #upReplicas(): AnyReplica[] {
    return this.#replicaIds.filter((id) => this.sim.isUp(id)).map((id) => this.#replicas.get(id)!);
  }

  /** Crash model: the voters and learners as the leader (else any live replica) has them. */
  #crashMembers(): string[] {
    const live = this.#upReplicas();
    const l = this.leader();
    const s = (live.find((r) => r.id === l) ?? live[0])?.status();
    return s ? [...s.members, ...s.learners] : [...this.#initialIds];
  }

  /** The current members as the live replicas in normal operation see them (the initial ones before any change). */
  #currentMembers(): string[] {
    for (const r of this.#upReplicas()) {
      const s = r.status();
      if (s.phase === 'normal') return s.members;
    }
    return [...this.#initialIds];
  }

  /** Signs a reconfiguration with the admin key and hands it to every live replica (ordered like a request). */
  async #reconfigure(change: { add: { id: string; key: Uint8Array } } | { remove: string }): Promise<void> {
    // Signing and each replica's check run as tasks the virtual clock waits for (exact replay).
    const nonce = ++this.#reconfigurations;
    const command = await this.sim.clock.run(() => signReconfiguration(this.#admin!, change, nonce));
    for (const r of this.#upReplicas()) {
      if (!(r instanceof ByzantineReplica)) continue;
      const err = await this.sim.clock.run(() => r.submitReconfiguration(command));
      if (err) throw new Error(`reconfiguration refused by ${r.id}: ${err}`);
    }
  }

  /** A second node with `id`'s keys: it hears what `id` hears and says what its own state makes it say. */
  async #startTwin(id: string): Promise<void> {
    const node = `${id}~twin`;
    const twin: { node: string; transport: SimulatedTransport | undefined } = { node, transport: undefined };
    this.#twins.set(id, twin);
    const identity = this.#identities.get(id)!;
    const initial = this.#members().filter((m) => this.#initialIds.includes(m.id));
    await this.sim.addNode(node, async (env) => {
      // It sends as itself; what it hears comes from its original's transport (copyTo).
      twin.transport = new SimulatedTransport(env, { hear: false });
      const replica = createReplica({
        machine: this.#machine,
        identity,
        id,
        group: { faultModel: 'byzantine', members: initial, ...(this.#admin ? { admin: this.#admin.publicKey } : {}) },
        transport: twin.transport,
        storage: env.storage,
        clock: env.clock,
        seed: env.random.nextUint32(),
        tuning: this.#tuning,
        onFailure: (err) => this.#halted_(node, err),
        ...(this.#sessions ? { sessions: this.#sessions } : {}),
      });
      for (const m of this.#members()) replica.knowMember(m.id, m.publicKey);
      await replica.start();
      return { stop: () => replica.stop() };
    });
  }

  /** Stops every replica and the clock; rejects with ClusterHaltedError if the simulation had halted. */
  async stop(): Promise<void> {
    if (this.#halt) {
      // Nothing runs any more: a graceful stop would wait for work that never finishes.
      for (const id of this.sim.nodeIds) if (this.sim.isUp(id)) this.sim.crash(id);
      await this.sim.stop().catch(() => {});
      throw this.#halt;
    }
    await this.sim.stop();
  }

  /** One change at a time: waits (in cluster time) while an earlier change is still being committed. */
  async #changeMembership(change: Parameters<Replica['changeMembership']>[0]): Promise<string | null> {
    const deadline = this.sim.clock.now() + 10_000;
    for (;;) {
      const err = await this.#onLeader((leader) => leader.changeMembership(change));
      const transient = err === 'another membership change is in progress' || err === 'the leader has not committed an entry of its term yet' || err === 'not the leader';
      if (!transient || this.sim.clock.now() >= deadline) return err;
      await this.sim.clock.sleep(20);
    }
  }

  async #onLeader<T>(fn: (leader: Replica) => Promise<T>): Promise<T> {
    if (this.faultModel !== 'crash') throw new Error('only the crash-fault group has a leader to ask');
    const id = await this.waitForLeader();
    const leader = this.#replicas.get(id)! as Replica;
    return (await this.sim.clock.run(() => ({ p: fn(leader) }))).p;
  }

  #known(id: string): void {
    if (!this.#identities.has(id)) throw new RangeError(`no replica ${id}`);
  }

  async #newIdentity(id: string): Promise<Identity> {
    const identity = await generateIdentity({ seed: this.sim.random.fork(`identity:${id}`).bytes(32) });
    this.#identities.set(id, identity);
    this.#replicaIds.push(id);
    return identity;
  }

  #members(): GroupMember[] {
    return [...this.#identities].map(([id, identity]) => ({ id, publicKey: identity.publicKey }));
  }

  /** Starts replica `id` as a simulated node; `startMembers` are the members it first knows (default: the initial group). */
  async #addNode(id: string, startMembers?: string[]): Promise<void> {
    const identity = this.#identities.get(id)!;
    const known = startMembers ?? this.#initialIds;
    const initial = this.#members().filter((m) => known.includes(m.id));
    let starts = 0;
    await this.sim.addNode(id, async (env) => {
      // A twin of this replica, if any, hears everything it hears.
      const transport = new SimulatedTransport(env, { copyTo: () => this.#twinHandler(id) });
      const seed = env.random.nextUint32();
      const simulated = this.faultModel === 'byzantine' ? new SimulatedBehaviour({ id, identity, seed, tuning: this.#tuning }) : undefined;
      const replica = createReplica({
        machine: this.#machine,
        identity,
        id,
        join: !initial.some((m) => m.id === id),
        group: { faultModel: this.faultModel, members: initial, ...(this.#admin ? { admin: this.#admin.publicKey } : {}) },
        transport,
        storage: env.storage,
        clock: env.clock,
        seed,
        tuning: this.#tuning,
        onFailure: (err) => this.#halted_(id, err),
        ...(this.#sessions ? { sessions: this.#sessions } : {}),
        ...(this.#inspect ? { inspect: (event: InspectionEvent) => inspectWith(this.#inspect!, id, event) } : {}),
        ...simulated?.seams,
      });
      // A restarted replica is given the current members' keys, as an operator would give it the
      // group; a crash-model replica's first start needs none (keys of added members come in the log).
      if (this.faultModel === 'byzantine' || starts++ > 0) for (const m of this.#members()) replica.knowMember(m.id, m.publicKey);
      this.#replicas.set(id, replica);
      if (simulated) {
        this.#simulated.set(id, simulated);
        const set = this.#behaviours.get(id);
        if (set) void simulated.set(set.behaviour, set.flood);
      }
      await replica.start();
      return { stop: () => replica.stop() };
    });
  }

  /** The handler of `id`'s twin, while the twin is up and listening. */
  #twinHandler(id: string): ((from: string, bytes: Uint8Array) => unknown) | undefined {
    const twin = this.#twins.get(id);
    const handler = twin?.transport?.handler;
    return handler && this.sim.isUp(twin.node) ? handler : undefined;
  }
}

/** Given a typed machine, the cluster's clients accept only its events (TypeScript). */
export function createLocalCluster<TMachine extends AnyStateMachine>(options: LocalClusterOptions<TMachine>): Promise<LocalCluster<TMachine>> {
  return LocalCluster.create(options);
}

function validate(o: LocalClusterOptions): void {
  if (!o || typeof o !== 'object') throw new TypeError('createLocalCluster needs an options object');
  if (!o.machine || typeof (o.machine as { transition?: unknown }).transition !== 'function') throw new TypeError('createLocalCluster: `machine` must be an XState machine');
  if (o.faultModel !== undefined) faultModelOf(o.faultModel, 'createLocalCluster');
  if (o.f !== undefined && !(Number.isInteger(o.f) && o.f >= 0 && o.f <= 10)) throw new TypeError('createLocalCluster: `f` must be an integer from 0 to 10');
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new TypeError('createLocalCluster: `seed` must be an integer');
  if (o.clock !== undefined && o.clock !== 'virtual' && o.clock !== 'real') throw new TypeError("createLocalCluster: `clock` is 'virtual' or 'real'");
  resolveTuning(o.tuning, 'createLocalCluster');
  checkClientTiming(o.client, 'createLocalCluster: client');
}

/** An inspection callback gets the replica's id too; an XState observer (e.g. @statelyai/inspect's) gets the event. */
function inspectWith(inspect: NonNullable<LocalClusterOptions['inspect']>, replica: string, event: InspectionEvent): void {
  if (typeof inspect === 'function') inspect(replica, event);
  else inspect.next?.(event);
}
