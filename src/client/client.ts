import { inspectEvent, MAX_EVENT_BYTES, SESSION_EVENT } from '../app/index.ts';
import { realClock, type Clock } from '../clock.ts';
import { faultModelOf } from '../fault-models/index.ts';
import type { Transport } from '../transport/index.ts';
import { EventTooLargeError, seal, type WireKind } from '../wire/index.ts';
import { checkClientTiming } from '../replica/tuning.ts';
import { ClientActor } from './actor.ts';
import { ClientTimeoutError, RequestRejectedError, SessionExpiredError } from './errors.ts';
import type { ClientCore, VotePolicy } from './policy.ts';
import { NO_LINK_AFTER_MS } from './reachability.ts';
import type { AppSnapshot, DissentRecord, Outcome, ReadOutcome, SessionInfo } from './types.ts';
import type { AnyStateMachine, EventFromLogic } from 'xstate';

export { ClientTimeoutError, EventTooLargeError, ReplicasDisagreeError, RequestMismatchError, RequestRejectedError, SessionExpiredError } from './errors.ts';
export type { AppSnapshot, DissentRecord, Outcome, ReadOutcome, SessionInfo } from './types.ts';

export interface ClientOptions<TMachine extends AnyStateMachine = AnyStateMachine> {
  /**
   * This client's id on the network (its identity id for WebRTC; a name in the simulator).
   * May be left out when the transport names it once started (a group client's new identity).
   */
  id?: string;
  transport: Transport;
  /** Replica ids of the group. */
  replicas: string[];
  /**
   * `crash`: one reply from the leader decides. `byzantine`: every message goes to all
   * replicas and the client votes on their replies (see Client). Required (or `group` of
   * createClient): there is no default, since a client voting as crash against a Byzantine
   * group would accept a single reply.
   */
  faultModel: 'crash' | 'byzantine';
  clock?: Clock;
  /** Resend after this long without an answer (ms): to another replica (crash), to all (byzantine). */
  retryAfterMs?: number;
  /** Give up after this long (ms); the request may or may not have been applied. */
  giveUpAfterMs?: number;
  /**
   * Byzantine only: an unordered read that has not gathered 2f+1 matching replies after this
   * long (ms) falls back to an ordered read. Default: 2 * retryAfterMs.
   */
  readFallbackMs?: number;
  /**
   * Resume this session (an id from `client.session()` of an earlier run) instead of opening
   * a new one: the first send (or `session()`) learns through the log which request of that
   * session was applied last, and fences the next number, so a request of the earlier run
   * still in flight can no longer be applied. If the session has expired, that first call
   * fails with SessionExpiredError and the client opens a new session on the next.
   */
  session?: number;
  /**
   * Deprecated, not needed: requests are numbered per session, and each client opens a new
   * session (a restarted client too), so numbers of an earlier run never collide. Kept for
   * compatibility: the first session's requests are numbered from startSeq + 1 (default 0).
   */
  startSeq?: number;
  /**
   * The event size budget (canonical encoding, bytes; default and most 1 MiB): `send` rejects a
   * larger event with EventTooLargeError before anything is sent. A group configured with a lower
   * `tuning.maxEventBytes` refuses larger events itself; the client reports that the same way.
   */
  maxEventBytes?: number;
  /** The group's machine (and its input): `client.actor` then starts from its initial state and evaluates matches/hasTag/can. */
  machine?: TMachine;
  input?: unknown;
  /**
   * A network transport: a request with no link to any replica for this long (ms, default 5000)
   * and nothing sent fails with NoLinkError naming the cause (it was not applied).
   */
  noLinkAfterMs?: number;
  /**
   * false: requests ask the replicas for no state in their replies. `send` then resolves with
   * `snapshot: { value: null, context: null, status: 'omitted' }` and the index and digest the
   * group agreed on, and `client.actor` keeps its last state. The cost of a request then does
   * not grow with the application's state (replies, and the session table's cached copy). Read
   * the state with `read()` when needed. Default true.
   */
  snapshots?: boolean;
}

/**
 * A client of a replica group. Requests are sent one at a time per client (exactly-once
 * rests on a sequence number per session, so a later request must not overtake an earlier
 * one); a retry keeps the sequence number.
 *
 * Sessions (Raft thesis §6.3): the first send opens a session through the log (one extra
 * ordered round trip per client lifetime; its id is that entry's log index), or resumes the
 * `session` option's. Requests carry (session, seq); the group applies each once and answers
 * a retry from its session table, only if it is the same request (else RequestMismatchError).
 * The table is bounded (an idle lease in replicated time, and the least recently active
 * session evicted when full): a request of an evicted session fails with
 * SessionExpiredError (outcome unknown, never applied twice) and the next send opens a new
 * session. A client restarted with the same identity opens a new session, so the numbers of
 * its earlier run never collide with its new ones.
 *
 * How one request or read is sent and decided is the fault model's vote policy (see
 * src/fault-models): crash (vote-crash.ts): to the leader, following redirects, one reply
 * decides; byzantine (vote-byzantine.ts): to all replicas, voting on their replies.
 */
export class Client<TMachine extends AnyStateMachine = AnyStateMachine> {
  #id: string;
  /** This client's id on the network ('' until a transport that names it has started). */
  get id(): string {
    return this.#id;
  }
  readonly #opts: Required<Omit<ClientOptions, 'clock' | 'machine' | 'input' | 'id'>> & { clock: Clock };
  #seq = 0;
  #nonce = 0;
  /** The open session's id; undefined until the first send opens (or resumes) one, and after it expired. */
  #session: number | undefined;
  /** A session to resume instead of opening one (the `session` option), until tried. */
  #resume: number | undefined;
  /** The last seq of this session known to be applied. */
  #applied = 0;
  /** Attempt numbers of session openings: above the previous run's, from the clock (µs). A retransmission keeps its number. */
  #openSeq = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Set when the transport has to connect first; a failed start fails every request. */
  #transportReady: Promise<void> | undefined;
  #closed = false;
  /** The fault model's: sends, retries and decides each operation. */
  readonly #votes: VotePolicy;

  constructor(options: ClientOptions<TMachine>) {
    if (!options || typeof options !== 'object') throw new TypeError('createClient: options are required');
    // Left out, the id comes from a transport that names it once started (see ClientOptions.id).
    const idFromTransport = options.id === undefined && typeof options.transport?.start === 'function' && 'id' in options.transport;
    if (!idFromTransport && (typeof options.id !== 'string' || options.id === '')) throw new TypeError('createClient: `id` must be a non-empty string');
    if (!Array.isArray(options.replicas) || options.replicas.length === 0) throw new TypeError('createClient: `replicas` must list the group');
    if (!options.transport || typeof options.transport.send !== 'function') throw new TypeError('createClient: `transport` is required');
    if (options.faultModel === undefined) {
      throw new TypeError("createClient: `faultModel` is required ('crash' or 'byzantine', as the group's replicas run), or pass `group` (a group descriptor); there is no default: a client voting as crash against a Byzantine group would accept a single reply");
    }
    const model = faultModelOf(options.faultModel, 'createClient');
    if (options.maxEventBytes !== undefined && !(Number.isSafeInteger(options.maxEventBytes) && options.maxEventBytes > 0)) {
      throw new TypeError(`createClient: maxEventBytes must be a positive safe integer, got ${String(options.maxEventBytes)}`);
    }
    if (options.startSeq !== undefined && !(Number.isSafeInteger(options.startSeq) && options.startSeq >= 0)) {
      throw new TypeError(`createClient: startSeq must be a non-negative safe integer, got ${String(options.startSeq)}`);
    }
    checkClientTiming(options, 'createClient: options');
    if (options.snapshots !== undefined && typeof options.snapshots !== 'boolean') {
      throw new TypeError(`createClient: snapshots must be true or false, got ${String(options.snapshots)}`);
    }
    if (options.session !== undefined && !(Number.isSafeInteger(options.session) && options.session > 0)) {
      throw new TypeError(`createClient: session must be a session id (a positive safe integer), got ${String(options.session)}`);
    }
    this.#id = options.id ?? '';
    this.actor = new ClientActor(options.machine, { submit: (event) => this.send(event as EventFromLogic<TMachine>), refusal: (event) => this.#refusal(event, 'client.actor.send') }, options.input);
    this.#seq = options.startSeq ?? 0;
    this.#resume = options.session;
    this.#opts = {
      retryAfterMs: 300,
      giveUpAfterMs: 30_000,
      noLinkAfterMs: NO_LINK_AFTER_MS,
      startSeq: 0,
      session: 0,
      ...options,
      maxEventBytes: Math.min(options.maxEventBytes ?? MAX_EVENT_BYTES, MAX_EVENT_BYTES),
      readFallbackMs: options.readFallbackMs ?? 2 * (options.retryAfterMs ?? 300),
      snapshots: options.snapshots ?? true,
      clock: options.clock ?? realClock(),
    };
    this.#votes = model.votePolicy(this.#core());
    options.transport.onMessage((from, bytes) => this.#votes.receive(from, bytes));
    // A network transport connects first; every request waits for that (and fails with its error).
    if (options.transport.start) {
      const transport = options.transport as Transport & { readonly id?: string };
      const started = transport.start!().then(() => {
        if (this.#id !== '') return;
        if (typeof transport.id !== 'string' || transport.id === '') throw new TypeError('createClient: no `id` given and the transport named none once started');
        this.#id = transport.id;
      });
      started.catch(() => {});
      this.#queue = this.#transportReady = started;
    }
  }

  /** What the vote policy uses of this client. */
  #core(): ClientCore {
    const client = this;
    const opts = this.#opts;
    return {
      get id() {
        return client.#id;
      },
      clock: opts.clock,
      transport: opts.transport,
      replicas: opts.replicas,
      retryAfterMs: opts.retryAfterMs,
      giveUpAfterMs: opts.giveUpAfterMs,
      readFallbackMs: opts.readFallbackMs,
      noLinkAfterMs: opts.noLinkAfterMs,
      send: (to, kind, body, live) => this.#send(to, kind, body, live),
      // a reply without the state (asked for none, or too large for one message) leaves the actor as it was
      publish: (snapshot, index) => snapshot.status !== 'omitted' && this.actor.update(snapshot, index),
      nextNonce: () => ++this.#nonce,
    };
  }

  /** The replicas this client talks to (byzantine: as last agreed by the group's replies). */
  get replicas(): readonly string[] {
    return this.#votes.replicas;
  }

  /**
   * Byzantine model: replicas whose reply differed from the accepted one, newest last, at most
   * the last 100. It holds the dissent of each decision, and also dissenting replies to the
   * last decided request or read that arrive after the decision (a slow faulty replica is
   * not in the Outcome's `dissent` but shows up here). Each (replica, digest) once per decision.
   */
  get dissentLog(): readonly DissentRecord[] {
    return this.#votes.dissentLog;
  }

  /** Orders an event; resolves with the agreed outcome once a replica applied it. */
  send(event: EventFromLogic<TMachine>): Promise<Outcome> {
    const refused = this.#refusal(event, 'client.send');
    if (refused) return Promise.reject(refused);
    return this.#serialised(async () => {
      const session = await this.#openSession();
      const seq = ++this.#seq;
      const out = await this.#request(session, seq, event as Record<string, unknown>);
      this.#applied = seq;
      return out;
    });
  }

  /**
   * Where this client's session stands: its id and the last request number known applied.
   * Opens (or, with the `session` option, resumes) the session first if there is none: one
   * ordered round trip, as the first send does.
   */
  session(): Promise<SessionInfo> {
    return this.#serialised(async () => ({ id: await this.#openSession(), seq: this.#applied }));
  }

  /** The open session's id; opens one through the log (or resumes the `session` option's) when there is none. */
  async #openSession(): Promise<number> {
    if (this.#session !== undefined) return this.#session;
    const resume = this.#resume;
    this.#resume = undefined; // tried once: expired or not, the next opening is a new session
    // In microseconds: a run restarted within the same millisecond still numbers above the
    // earlier run, whose late resume copies the group then ignores (see the executor).
    this.#openSeq = Math.max(this.#openSeq + 1, Math.floor(this.#opts.clock.now() * 1000));
    const event = resume === undefined ? { type: SESSION_EVENT } : { type: SESSION_EVENT, resume };
    const out = (await this.#request(0, this.#openSeq, event)) as Outcome & { session?: SessionInfo };
    const info = out.session;
    if (!info || (resume !== undefined && info.id !== resume)) throw new RequestRejectedError('the group answered a session opening without a session');
    this.#session = info.id;
    if (resume !== undefined) {
      // The resume fenced info.seq + 1: a request of the earlier run can no longer take it.
      this.#seq = info.seq + 1;
      this.#applied = info.seq;
    } else {
      this.#applied = 0;
    }
    return info.id;
  }

  /** One request of a session (0: opening one), to the leader or voted on by all. */
  async #request(session: number, seq: number, event: Record<string, unknown>): Promise<Outcome> {
    const body = this.#opts.snapshots === false ? { session, seq, event, snapshot: false } : { session, seq, event };
    try {
      return (await this.#votes.start('request', seq, body, session)) as Outcome;
    } catch (err) {
      if (err instanceof SessionExpiredError) this.#session = undefined;
      throw err;
    }
  }

  /** A linearizable read of the application state. */
  async read(): Promise<AppSnapshot> {
    return (await this.readOutcome()).snapshot;
  }

  /** A linearizable read with its log position and agreement. */
  readOutcome(): Promise<ReadOutcome> {
    return this.#serialised(() => {
      const nonce = ++this.#nonce;
      return this.#votes.start('read', nonce, { nonce }, 0) as Promise<ReadOutcome>;
    });
  }

  /** Why this client refuses `event` before sending it (not plain data, a reserved type, too large), or undefined. */
  #refusal(event: unknown, caller: string): Error | undefined {
    const { problem, oversize } = inspectEvent(event, this.#opts.maxEventBytes);
    if (oversize) return new EventTooLargeError(oversize.size, oversize.limit, `${caller}: ${problem}`);
    if (problem) return new TypeError(`${caller}: refused: ${problem}`);
    return undefined;
  }

  /** An XState-style actor ref over the voted state (see ClientActor): for useSelector and other XState tooling. */
  readonly actor: ClientActor<TMachine>;

  /** Stops: the request under way (and any queued) fail; a network transport is closed. */
  close(): void {
    if (!this.#closed) void this.#opts.transport.close?.()?.catch(() => {});
    this.#closed = true;
    this.#votes.close();
  }

  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const ready = this.#transportReady;
    const run = (ready ? this.#queue.then(() => ready) : this.#queue).then(() => {
      if (this.#closed) throw new ClientTimeoutError('client closed');
      return fn();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #send(to: string, kind: WireKind, body: unknown, live: () => boolean): Promise<void> {
    // The event was checked against the budget; the envelope adds little around it.
    const bytes = await seal({ from: this.id, to, kind, body }, undefined, undefined, this.#opts.maxEventBytes + 64 * 1024);
    // Not for a request given up meanwhile: after NoLinkError nothing of it may leave.
    if (live()) this.#opts.transport.send(to, bytes);
  }
}

/** A client of a group; given the group's `machine`, `send` accepts only its events (TypeScript) and `client.actor` evaluates matches/hasTag/can. */
export function createClient<TMachine extends AnyStateMachine = AnyStateMachine>(options: ClientOptions<TMachine>): Client<TMachine> {
  return new Client<TMachine>(options);
}
