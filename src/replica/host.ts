import { createActor, type Actor, type AnyStateMachine, type InputFrom } from 'xstate';
import { createAppExecutor, type AppExecutor } from '../app/index.ts';
import { realClock, type Clock } from '../clock.ts';
import { memoryStorage, type Storage } from '../storage/index.ts';
import { newMetrics, resolveMemberId, SerialQueue, validateOptions } from './common.ts';
import { resolveTuning } from './tuning.ts';
import type { ReplicaMetrics, ReplicaOptions, ReplicaStatus, ReplicaTuning } from './types.ts';
import type { PeerLinkState, SignalingState } from '../transport/diagnostics.ts';
import { open, type IngressResult, type WireKind, type WireMessage } from '../wire/index.ts';
import { sealForClient } from './egress.ts';
import { statusNonce } from './requests.ts';

/** What a protocol runtime plugs into the host. */
export interface ProtocolHooks<TMachine extends AnyStateMachine> {
  /** The protocol statechart. */
  machine: TMachine;
  /** Reads durable state: the protocol actor's input. */
  load(): Promise<InputFrom<TMachine>>;
  /** Incoming bytes from the transport, with the peer it names. */
  receive(from: string, bytes: Uint8Array): Promise<void>;
  /** Carries out whatever the protocol has to say. */
  drain(): Promise<void>;
  /** One protocol tick at `now` (called inside the work queue). */
  tick(now: number): Promise<void>;
}

/**
 * What every replica runtime (crash and Byzantine) is made of: its options, identity and
 * member keys, clock, storage, the application executor, the serial work queue, the protocol
 * tick, drop counters and the transport. The runtimes add only their protocol.
 */
export class ReplicaHost<TMachine extends AnyStateMachine> {
  readonly id: string;
  readonly options: ReplicaOptions;
  readonly tuning: ReplicaTuning;
  readonly clock: Clock;
  readonly storage: Storage;
  readonly memberKeys = new Map<string, Uint8Array>();
  readonly executor: AppExecutor;
  readonly metrics: ReplicaMetrics = newMetrics();
  running = false;
  actor: Actor<TMachine> | undefined;
  /** One piece of work at a time; a piece that throws (a bug) stops the replica. */
  readonly queue = new SerialQueue((err) => {
    const wasRunning = this.running;
    this.running = false;
    if (wasRunning) this.options.onFailure?.(err);
  });
  #tickHandle: unknown;

  constructor(options: ReplicaOptions, extraKeys: Array<[string, Uint8Array]> = []) {
    validateOptions(options);
    this.options = options;
    this.tuning = resolveTuning(options.tuning, 'createReplica');
    this.clock = options.clock ?? realClock();
    this.storage = options.storage ?? memoryStorage();
    for (const m of options.group.members) this.memberKeys.set(m.id, m.publicKey);
    for (const [id, key] of extraKeys) this.memberKeys.set(id, key);
    this.id = resolveMemberId(options, this.memberKeys);
    // A replica joining a running group is not among the initial members: it learns the
    // membership later (from the log, a snapshot or a checkpoint).
    this.memberKeys.set(this.id, options.identity.publicKey);
    const executor = createAppExecutor(options.machine, { ...options.sessions, ...(options.inspect ? { inspect: options.inspect } : {}) });
    this.executor = options.wrapExecutor ? options.wrapExecutor(executor) : executor;
  }

  /** The transport's signaling and link states for status() (none on the simulated network). */
  networkStatus(): { signaling?: SignalingState[]; links?: PeerLinkState[] } {
    const d = this.options.transport.diagnostics?.();
    return d ? { signaling: d.signaling, links: d.peers } : {};
  }

  /** Records a member's key (signatures from it verify) and keeps a link to it. */
  learnMember(id: string, publicKey: Uint8Array): void {
    const known = this.memberKeys.get(id);
    this.memberKeys.set(id, publicKey);
    if (known === undefined && id !== this.id) this.options.transport.connect?.([id]);
  }

  /** Loads durable state, starts the protocol, the transport and the tick. */
  async start(hooks: ProtocolHooks<TMachine>): Promise<void> {
    if (this.running) return;
    const input = await hooks.load();
    const actor = createActor(hooks.machine, { input, ...(this.options.inspect ? { inspect: this.options.inspect } : {}) } as never) as Actor<TMachine>;
    this.actor = actor;
    // XState keeps an error thrown inside the protocol step in the actor; stop the replica with it
    // (a bug, never bad input) instead of letting it escape as an uncaught exception.
    actor.subscribe({ error: (err) => this.queue.fail(err) });
    actor.start();
    this.running = true;
    this.options.transport.onMessage((from, bytes) => hooks.receive(from, bytes));
    try {
      await this.options.transport.start?.({
        id: this.id,
        identity: this.options.identity,
        peerKey: (id) => this.memberKeys.get(id),
        peers: this.options.group.members.map((m) => m.id).filter((id) => id !== this.id),
      });
    } catch (err) {
      // Signaling unreachable, say: start() rejects with the cause rather than run unreachable.
      await this.stop();
      throw err;
    }
    await this.enqueue(() => hooks.drain());
    this.#scheduleTick(hooks);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimeout(this.#tickHandle);
    await this.queue.idle();
    this.actor?.stop();
    this.executor.stop();
    await this.options.transport.close?.();
  }

  enqueue<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.queue.run(fn);
  }

  /**
   * Ingress, the same for both models: a message is opened at once (size, decode, sender,
   * signature; verification runs off the JS thread) and handled in arrival order; one that does
   * not open is dropped and counted. `memberKey` is whose signatures count as members'.
   */
  receive(from: string, bytes: Uint8Array, memberKey: (id: string) => Uint8Array | undefined, handle: (opened: Extract<IngressResult, { ok: true }>) => Promise<void> | void): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.metrics.messagesIn++;
    const opened = open(bytes, from, { self: this.id, memberKey, maxBytes: this.tuning.maxMessageBytes });
    return this.enqueue(async () => {
      const r = await opened;
      if (!r.ok) return this.drop(r.drop);
      if (r.signed) this.metrics.verifications++;
      await handle(r);
    });
  }

  /**
   * A message to a client (or a prober): unsigned, within the message limit (see egress.ts), and
   * through `options.egress.client` when one is set. `others`: the group's other members, for it.
   */
  async sendToClient(to: string, kind: WireKind, body: unknown, others?: () => string[]): Promise<void> {
    const bytes = await sealForClient(this.id, to, kind, body, this.tuning.maxMessageBytes, this.metrics);
    const rewritten = bytes && this.toClient(to, kind, body, bytes, others);
    if (rewritten) await rewritten;
  }

  /** Sealed bytes to a client, through `options.egress.client` when one is set (else sent at once, nothing awaited). */
  toClient(to: string, kind: WireKind, body: unknown, bytes: Uint8Array, others?: () => string[]): Promise<void> | void {
    const rewrite = this.options.egress?.client;
    if (!rewrite) return this.transmit(to, bytes);
    return rewrite({ to, kind, body, bytes, others: others?.() ?? [] }).then((out) => {
      for (const v of out) this.transmit(to, v.bytes, v.delayMs);
    });
  }

  /** Answers a `status` request with what `status()` reports (the CLI's `status` asks every member). */
  answerStatus(msg: WireMessage, status: () => unknown, others?: () => string[]): Promise<void> | void {
    const nonce = statusNonce(msg.body);
    if (nonce === undefined) return this.drop('malformed');
    return this.sendToClient(msg.from, 'statusReply', { nonce, status: status() }, others);
  }

  /** Bad input is dropped and counted by reason, never thrown. */
  drop(reason: string): void {
    this.metrics.dropped[reason] = (this.metrics.dropped[reason] ?? 0) + 1;
  }

  transmit(to: string, bytes: Uint8Array, delayMs = 0): void {
    if (!this.running) return;
    this.metrics.messagesOut++;
    if (delayMs > 0) this.clock.setTimeout(() => this.running && this.options.transport.send(to, bytes), delayMs);
    else this.options.transport.send(to, bytes);
  }

  /**
   * Work that runs once at the end of the current instant, after what is already queued, however
   * often it is asked for in between (batching requests, signing the outbox).
   */
  endOfInstant(work: () => Promise<void>): () => void {
    let scheduled = false;
    return () => {
      if (scheduled) return;
      scheduled = true;
      this.clock.setTimeout(
        () =>
          this.enqueue(async () => {
            scheduled = false;
            if (this.running) await work();
          }),
        0,
      );
    };
  }

  #scheduleTick(hooks: ProtocolHooks<TMachine>): void {
    if (!this.running) return;
    this.#tickHandle = this.clock.setTimeout(() => {
      if (!this.running) return undefined;
      const done = this.enqueue(() => hooks.tick(this.clock.now()));
      this.#scheduleTick(hooks);
      return done;
    }, this.tuning.tickMs);
  }
}

/**
 * A replica of either model as users see it: start, stop, status, the application and protocol
 * actors, metrics. Each model's runtime (replica.ts, byzantine.ts) brings its protocol through
 * `hooks()`; the host does the rest.
 */
export abstract class ReplicaRuntime<TMachine extends AnyStateMachine> {
  readonly id: string;
  /** Options, keys, clock, storage, the app executor, the work queue, the tick: shared by both models. */
  protected readonly host: ReplicaHost<TMachine>;

  constructor(options: ReplicaOptions, extraKeys: Array<[string, Uint8Array]> = []) {
    this.host = new ReplicaHost(options, extraKeys);
    this.id = this.host.id;
  }

  get metrics(): ReplicaMetrics {
    return this.host.metrics;
  }

  /** The local application actor (possibly lagging the group): getSnapshot, subscribe. */
  get app(): AppExecutor['actor'] {
    return this.host.executor.actor;
  }

  /** The protocol statechart's actor, for inspection. */
  get protocol(): Actor<TMachine> {
    if (!this.host.actor) throw new Error('replica not started');
    return this.host.actor;
  }

  /** The error that stopped processing, if any (a bug, never bad input). */
  get failure(): unknown {
    return this.host.queue.failure;
  }

  /** Loads durable state, starts the protocol, the transport and the tick. */
  start(): Promise<void> {
    return this.host.start(this.hooks());
  }

  stop(): Promise<void> {
    return this.host.stop();
  }

  abstract status(): ReplicaStatus;

  protected abstract hooks(): ProtocolHooks<TMachine>;
}
