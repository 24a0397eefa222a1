import { inspectEvent, MAX_EVENT_BYTES, SESSION_EVENT } from '../app/index.ts';
import { realClock, type Clock } from '../clock.ts';
import { encode } from '../codec/index.ts';
import { sha256Sync, toHex } from '../crypto/index.ts';
import type { Transport } from '../transport/index.ts';
import { EventTooLargeError, open, seal, WIRE_MAX_DEPTH, type WireKind } from '../wire/index.ts';
import { checkClientTiming } from '../replica/tuning.ts';
import { disagreement, type DisagreeGroup } from './disagreement.ts';
import { ClientActor } from './actor.ts';
import { networkNote, noLink, NO_LINK_AFTER_MS, sentToReplicas } from './reachability.ts';
import type { AnyStateMachine, EventFromLogic } from 'xstate';

export { EventTooLargeError };

/** The application state as agreed: XState's snapshot shape, as plain data. */
export interface AppSnapshot {
  value: unknown;
  context: unknown;
  status: string;
  /** When `status` is 'error': what went wrong. */
  error?: string;
  /** When `status` is 'done': the machine's `output`. */
  output?: unknown;
}

export interface Outcome {
  /** The event's position in the total order. */
  index: number;
  /** The application state right after this event. */
  snapshot: AppSnapshot;
  digest: string;
  /** Replicas whose replies matched (one under the crash model), sorted. */
  agreed: string[];
  /** Replicas whose replies differed, with their digests. */
  dissent: Array<{ replica: string; digest: string }>;
}

export interface ReadOutcome {
  index: number;
  snapshot: AppSnapshot;
  digest: string;
  agreed: string[];
  dissent: Array<{ replica: string; digest: string }>;
}

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
}

/** Where this client's session stands (see `client.session()`). */
export interface SessionInfo {
  /** The session id: the log index of the entry that opened it. */
  id: number;
  /**
   * The number of this session's last request known to be applied (0: none). After a
   * resume: as the group found it, i.e. whether the earlier run's last request was applied.
   */
  seq: number;
}

/** A replica whose reply differed from the accepted one (byzantine model). */
export interface DissentRecord {
  /** The request's sequence number, for a dissenting `reply`. */
  seq?: number;
  /** The read's nonce, for a dissenting `readReply`. */
  nonce?: number;
  replica: string;
  digest: string;
}

/** The client gave up; the request may or may not have taken effect. */
export class ClientTimeoutError extends Error {
  override name = 'ClientTimeoutError';
}

/** Byzantine: replies disagree so that no result gathers its quorum (a timeout too: the outcome is unknown). */
export class ReplicasDisagreeError extends ClientTimeoutError {
  override name = 'ReplicasDisagreeError';
  constructor(message: string, readonly groups: DisagreeGroup[]) {
    super(message);
  }
}

/** A replica refused the request (a bad event, or a request older than this client's last); it was not applied. */
export class RequestRejectedError extends Error {
  override name = 'RequestRejectedError';
}

/**
 * The request under this number was not applied: another request was applied under the same
 * (session, seq) (a resumed or misconfigured client reused a number). Never a cached outcome.
 */
export class RequestMismatchError extends RequestRejectedError {
  override name = 'RequestMismatchError';
}

/**
 * The client's session is no longer in the group's session table (idle past the lease, or
 * evicted as the least recently active when the table was full): the request was not applied
 * now and never will be, but an earlier copy of it may have been (like a timeout, its outcome
 * is unknown). The client opens a new session on its next send.
 */
export class SessionExpiredError extends Error {
  override name = 'SessionExpiredError';
}

/** The error for a refusal code of the session table. */

interface Pending {
  kind: 'request' | 'read';
  /** seq for requests, nonce for reads. */
  number: number;
  /** The request's session (0 when it opens one); unused for reads. */
  session: number;
  body: unknown;
  startedAt: number;
  /** Messages the transport had handed to links to replicas when the request began (diagnostics). */
  sentBefore: number | undefined;
  attempt: number;
  target: string;
  timer: unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}


/** What a replica claims a request or read produced (byzantine model), once checked for shape. */
interface Claim {
  index: number;
  digest: string;
  snapshot: AppSnapshot;
  members: string[];
  /** A session opened or resumed: its id and last applied seq. */
  session?: SessionInfo;
}

/** An error vote: its text, and for refusals a client can act on, the code and the whole body (sizes, limits). */
type Vote = { claim: Claim } | { error: string; code?: string; body?: Record<string, unknown> };

/**
 * The votes of one request or read: the latest vote of each replica, grouped by match key.
 * A replica that answers again (the client retransmitted) replaces its earlier vote, so no
 * replica counts twice.
 */
class VoteTally {
  readonly #votes = new Map<string, { key: string; vote: Vote }>();

  record(replica: string, key: string, vote: Vote): void {
    this.#votes.set(replica, { key, vote });
  }

  /** Distinct replicas heard from. */
  get size(): number {
    return this.#votes.size;
  }

  /** Replicas whose latest vote has this key, sorted. */
  voters(key: string): string[] {
    const out: string[] = [];
    for (const [replica, v] of this.#votes) if (v.key === key) out.push(replica);
    return out.sort();
  }

  /** Each key with its vote count and one of its votes (all votes of a key say the same). */
  keys(): Array<{ key: string; count: number; vote: Vote }> {
    const byKey = new Map<string, { key: string; count: number; vote: Vote }>();
    for (const v of this.#votes.values()) {
      const entry = byKey.get(v.key);
      if (entry) entry.count++;
      else byKey.set(v.key, { key: v.key, count: 1, vote: v.vote });
    }
    return [...byKey.values()];
  }

  /** The first error received (in order of each replica's first vote) among current votes with this key. */
  firstError(key: string): { replica: string; body: Record<string, unknown> } | undefined {
    for (const [replica, v] of this.#votes) {
      if (v.key === key && 'error' in v.vote) return { replica, body: v.vote.body ?? { message: v.vote.error } };
    }
    return undefined;
  }

  /** Replicas whose latest vote is a result with another key, sorted, with the digest they claimed. */
  dissent(key: string): Array<{ replica: string; digest: string }> {
    const out: Array<{ replica: string; digest: string }> = [];
    for (const [replica, v] of this.#votes) if (v.key !== key && 'claim' in v.vote) out.push({ replica, digest: v.vote.claim.digest });
    return out.sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  }
}

/**
 * Votes of an error: every error matches every other (the text may differ between replicas),
 * except the session table's refusals, which must agree on their code.
 */
const ERROR_KEY = 'error';
const REFUSAL_CODES = new Set(['session-expired', 'request-mismatch', 'stale', 'event-too-large']);

/**
 * What replies must agree on. The snapshot's hash is part of it although the state digest
 * already covers the state: the digest cannot be checked against the snapshot here, so
 * without it a faulty replica could pair the right digest with a made-up snapshot and be
 * counted as agreeing. Correct replicas send the same snapshot for the same index.
 */
function matchKey(c: Claim): string {
  // JSON of the parts, not a concatenation: ids containing ',' must not make two lists look alike.
  // Within what a reply may be (REPLY_LIMIT): a state over the codec's 1 MiB default is still a vote.
  return JSON.stringify([c.index, c.digest, c.members, toHex(sha256Sync(encode(c.snapshot as never, { maxSize: REPLY_LIMIT, maxDepth: WIRE_MAX_DEPTH }))), c.session ?? null]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The most replicas that may be faulty in a byzantine group of this many (n = 3f+1). */
function faultsTolerated(n: number): number {
  return Math.floor((n - 1) / 3);
}

/** A claim from untrusted bytes, or undefined when it is not shaped like one. */
function toClaim(x: unknown, members: unknown): Claim | undefined {
  const c = x as Partial<Record<keyof Claim, unknown>> | null;
  if (!c || typeof c !== 'object' || !Number.isSafeInteger(c.index) || typeof c.digest !== 'string') return undefined;
  const snapshot = c.snapshot as Partial<AppSnapshot> | null;
  if (!snapshot || typeof snapshot !== 'object' || Array.isArray(snapshot) || typeof snapshot.status !== 'string') return undefined;
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === 'string' && m !== '')) return undefined;
  if (new Set(members).size !== members.length) return undefined;
  const claim: Claim = { index: c.index as number, digest: c.digest, snapshot: snapshot as AppSnapshot, members: members as string[] };
  if (c.session !== undefined) {
    const session = toSession(c.session);
    if (!session) return undefined;
    claim.session = session;
  }
  return claim;
}

function toSession(x: unknown): SessionInfo | undefined {
  const s = x as Partial<SessionInfo> | null;
  if (!s || typeof s !== 'object' || !Number.isSafeInteger(s.id) || (s.id as number) < 1 || !Number.isSafeInteger(s.seq) || (s.seq as number) < 0) return undefined;
  return { id: s.id as number, seq: s.seq as number };
}

/** A request or read under way in the byzantine model. */
interface Ballot {
  /** `read` is the unordered read; `orderedRead` its fallback through the total order. */
  kind: 'request' | 'read' | 'orderedRead';
  /** seq for requests, nonce for reads. */
  number: number;
  /** The request's session (0 when it opens one); unused for reads. */
  session: number;
  body: unknown;
  /** When the caller's operation began (a fallback read keeps its read's start). */
  startedAt: number;
  sentBefore: number | undefined;
  attempt: number;
  timer: unknown;
  fallbackTimer: unknown;
  tally: VoteTally;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

const DISSENT_LOG_LIMIT = 100;
/** The largest reply a client opens (a replica's maxMessageBytes may be at most this to reach clients). */
const REPLY_LIMIT = 64 * 1024 * 1024;

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
 * Crash model: the client follows redirects to the leader and rotates through replicas on
 * timeouts; one reply decides.
 *
 * Byzantine model (n replicas, f = floor((n-1)/3)): every request and read goes to all
 * replicas, and the client votes on their replies, keyed by (index, digest, members,
 * snapshot). A result needs max(f, f of the claimed members)+1 matching replies, a rejection
 * f+1 errors, an unordered read 2f+1 matching replies (else it falls back to an ordered read,
 * decided like a request). After a result, the client adopts the member list it agreed on.
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
  #leader: string | undefined;
  #rotation = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Set when the transport has to connect first; a failed start fails every request. */
  #transportReady: Promise<void> | undefined;
  #current: Pending | undefined;
  #closed = false;
  // Byzantine model only.
  #members: string[];
  #ballot: Ballot | undefined;
  /** The last decided request or read, to notice replies that dissent after the decision. */
  #decided: { kind: 'reply' | 'readReply'; number: number; key: string; logged: Set<string> } | undefined;
  readonly #dissentLog: DissentRecord[] = [];

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
    if (options.faultModel !== 'crash' && options.faultModel !== 'byzantine') {
      throw new TypeError(`createClient: unknown faultModel ${String(options.faultModel)} (expected 'crash' or 'byzantine')`);
    }
    if (options.maxEventBytes !== undefined && !(Number.isSafeInteger(options.maxEventBytes) && options.maxEventBytes > 0)) {
      throw new TypeError(`createClient: maxEventBytes must be a positive safe integer, got ${String(options.maxEventBytes)}`);
    }
    if (options.startSeq !== undefined && !(Number.isSafeInteger(options.startSeq) && options.startSeq >= 0)) {
      throw new TypeError(`createClient: startSeq must be a non-negative safe integer, got ${String(options.startSeq)}`);
    }
    checkClientTiming(options, 'createClient: options');
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
      clock: options.clock ?? realClock(),
    };
    // A copy: under the byzantine model only agreed replies change the group.
    this.#members = [...options.replicas];
    options.transport.onMessage((from, bytes) => this.#receive(from, bytes));
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

  get #byzantine(): boolean {
    return this.#opts.faultModel === 'byzantine';
  }

  /** The replicas this client talks to (byzantine: as last agreed by the group's replies). */
  get replicas(): readonly string[] {
    return this.#byzantine ? this.#members : this.#opts.replicas;
  }

  /**
   * Byzantine model: replicas whose reply differed from the accepted one, newest last, at most
   * the last 100. It holds the dissent of each decision, and also dissenting replies to the
   * last decided request or read that arrive after the decision (a slow faulty replica is
   * not in the Outcome's `dissent` but shows up here). Each (replica, digest) once per decision.
   */
  get dissentLog(): readonly DissentRecord[] {
    return this.#dissentLog;
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
    const body = { session, seq, event };
    try {
      if (this.#byzantine) return (await this.#startBallot('request', seq, body, this.#opts.clock.now(), session)) as Outcome;
      return (await this.#start('request', seq, body, session)) as Outcome;
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
      if (this.#byzantine) return this.#startBallot('read', nonce, { nonce }, this.#opts.clock.now(), 0) as Promise<ReadOutcome>;
      return this.#start('read', nonce, { nonce }, 0) as Promise<ReadOutcome>;
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
    const p = this.#current;
    if (p) {
      this.#opts.clock.clearTimeout(p.timer);
      this.#current = undefined;
      p.reject(new ClientTimeoutError('client closed'));
    }
    const b = this.#ballot;
    if (b) {
      this.#endBallot(b);
      b.reject(new ClientTimeoutError('client closed'));
    }
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

  #start(kind: 'request' | 'read', number: number, body: Record<string, unknown>, session: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const sentBefore = sentToReplicas(this.#opts.transport, this.replicas);
      this.#current = { kind, number, session, body, startedAt: this.#opts.clock.now(), sentBefore, attempt: 0, target: '', timer: undefined, resolve, reject };
      this.#transmit(this.#leader ?? this.#nextReplica());
    });
  }

  #transmit(target: string): void {
    const p = this.#current;
    if (!p) return;
    p.attempt++;
    p.target = target;
    this.#opts.clock.clearTimeout(p.timer);
    p.timer = this.#opts.clock.setTimeout(() => this.#onTimeout(p), this.#opts.retryAfterMs);
    void this.#send(target, p.kind, p.body, () => this.#current === p);
  }

  #onTimeout(p: Pending): void {
    if (this.#current !== p) return;
    const unreachable = noLink(this.#opts.transport, this.replicas, this.#opts.clock.now() - p.startedAt, this.#opts.noLinkAfterMs, p.sentBefore);
    if (unreachable) {
      this.#current = undefined;
      return p.reject(unreachable);
    }
    if (this.#opts.clock.now() - p.startedAt >= this.#opts.giveUpAfterMs) {
      this.#current = undefined;
      const what = p.kind === 'request' ? 'the request may or may not have been applied' : 'no read result';
      p.reject(new ClientTimeoutError(`no answer after ${this.#opts.giveUpAfterMs} ms (${p.attempt} attempts); ${what}${networkNote(this.#opts.transport, this.replicas)}`));
      return;
    }
    this.#leader = undefined;
    this.#transmit(this.#nextReplica());
  }

  #nextReplica(): string {
    const r = this.#opts.replicas;
    return r[this.#rotation++ % r.length]!;
  }

  async #send(to: string, kind: WireKind, body: unknown, live: () => boolean): Promise<void> {
    // The event was checked against the budget; the envelope adds little around it.
    const bytes = await seal({ from: this.id, to, kind, body }, undefined, undefined, this.#opts.maxEventBytes + 64 * 1024);
    // Not for a request given up meanwhile: after NoLinkError nothing of it may leave.
    if (live()) this.#opts.transport.send(to, bytes);
  }

  async #receive(from: string, bytes: Uint8Array): Promise<void> {
    if (this.#byzantine) return this.#receiveVote(from, bytes);
    if (!this.#opts.replicas.includes(from)) return;
    const r = await open(bytes, from, { self: this.id, memberKey: () => undefined, maxBytes: REPLY_LIMIT });
    if (!r.ok) return;
    const p = this.#current;
    const body = r.message.body as Record<string, unknown> | null;
    if (!p || !body || typeof body !== 'object') return;
    const number = p.kind === 'request' ? body.seq : body.nonce;
    // An answer to an earlier attempt or request (of this run, or of an earlier run of this identity).
    if (number !== p.number || (p.kind === 'request' && body.session !== p.session)) return;
    switch (r.message.kind) {
      case 'reply':
      case 'readReply': {
        if ((r.message.kind === 'reply') !== (p.kind === 'request')) return;
        const result = (r.message.kind === 'reply' ? body.result : body) as { index: number; snapshot: AppSnapshot; digest: string; session?: unknown };
        const session = p.session === 0 && p.kind === 'request' ? toSession(result.session) : undefined;
        this.#leader = from;
        this.#finish(p);
        // A session opening is not the user's: its state is not news to observers.
        if (!session) this.#publish(result.snapshot, result.index);
        p.resolve({ index: result.index, snapshot: result.snapshot, digest: result.digest, agreed: [from], dissent: [], ...(session ? { session } : {}) });
        return;
      }
      case 'redirect': {
        const leader = typeof body.leader === 'string' && this.#opts.replicas.includes(body.leader) ? body.leader : undefined;
        if (leader && leader !== from) {
          this.#leader = leader;
          this.#transmit(leader);
        } else {
          // No leader known there (an election is on): try another replica after a pause.
          this.#leader = undefined;
          this.#opts.clock.clearTimeout(p.timer);
          p.timer = this.#opts.clock.setTimeout(() => this.#onTimeout(p), Math.min(50, this.#opts.retryAfterMs));
        }
        return;
      }
      case 'error':
        this.#finish(p);
        p.reject(rejection(from, body));
        return;
    }
  }

  #publish(snapshot: AppSnapshot, index: number): void {
    this.actor.update(snapshot, index);
  }

  #finish(p: Pending): void {
    this.#opts.clock.clearTimeout(p.timer);
    this.#current = undefined;
  }

  // ---- byzantine model: output voting ------------------------------------------------

  #startBallot(kind: Ballot['kind'], number: number, body: unknown, startedAt: number, session: number): Promise<unknown> {
    return new Promise((resolve, reject) => this.#openBallot({ kind, number, session, body, startedAt, resolve, reject }));
  }

  #openBallot(b: Pick<Ballot, 'kind' | 'number' | 'session' | 'body' | 'startedAt' | 'resolve' | 'reject'> & Partial<Pick<Ballot, 'sentBefore'>>): void {
    const ballot: Ballot = { sentBefore: sentToReplicas(this.#opts.transport, this.#members), ...b, attempt: 0, timer: undefined, fallbackTimer: undefined, tally: new VoteTally() };
    this.#ballot = ballot;
    if (ballot.kind === 'read') {
      ballot.fallbackTimer = this.#opts.clock.setTimeout(() => this.#fallBackToOrderedRead(ballot), this.#opts.readFallbackMs);
    }
    this.#broadcast(ballot);
  }

  /** Sends (again) to every replica: each replies to each copy, and any may be faulty. */
  #broadcast(b: Ballot): void {
    b.attempt++;
    this.#opts.clock.clearTimeout(b.timer);
    b.timer = this.#opts.clock.setTimeout(() => this.#onBallotTimeout(b), this.#opts.retryAfterMs);
    const kind: WireKind = b.kind === 'request' ? 'request' : 'read';
    for (const replica of this.#members) void this.#send(replica, kind, b.body, () => this.#ballot === b);
  }

  #onBallotTimeout(b: Ballot): void {
    if (this.#ballot !== b) return;
    const unreachable = noLink(this.#opts.transport, this.#members, this.#opts.clock.now() - b.startedAt, this.#opts.noLinkAfterMs, b.sentBefore);
    if (unreachable) {
      this.#endBallot(b);
      return b.reject(unreachable);
    }
    if (this.#opts.clock.now() - b.startedAt >= this.#opts.giveUpAfterMs) {
      this.#endBallot(b);
      const what = b.kind === 'request' ? 'the request may or may not have been applied' : 'no read result';
      const split = disagreement(b.tally.keys(), (k) => b.tally.voters(k), what);
      if (split) return b.reject(new ReplicasDisagreeError(split.message, split.groups));
      b.reject(new ClientTimeoutError(`no agreement after ${this.#opts.giveUpAfterMs} ms (${b.attempt} rounds); ${what}${networkNote(this.#opts.transport, this.#members)}`));
      return;
    }
    this.#broadcast(b);
  }

  /** The unordered read cannot or did not agree in time: read through the total order instead. */
  #fallBackToOrderedRead(b: Ballot): void {
    if (this.#ballot !== b || b.kind !== 'read') return;
    this.#endBallot(b);
    // A fresh nonce, so that late replies to the unordered read do not count as ordered ones.
    const nonce = ++this.#nonce;
    this.#openBallot({ kind: 'orderedRead', number: nonce, session: 0, body: { nonce, ordered: true }, startedAt: b.startedAt, sentBefore: b.sentBefore, resolve: b.resolve, reject: b.reject });
  }

  #endBallot(b: Ballot): void {
    this.#opts.clock.clearTimeout(b.timer);
    this.#opts.clock.clearTimeout(b.fallbackTimer);
    if (this.#ballot === b) this.#ballot = undefined;
  }

  /** Matching replies a claim needs: a reply claiming a bigger group must convince that group's f+1. */
  #resultQuorum(claim: Claim): number {
    return Math.max(faultsTolerated(this.#members.length), faultsTolerated(claim.members.length)) + 1;
  }

  /**
   * Matching replies an unordered read needs: a quorum of the group (2f+1 when n = 3f+1;
   * 2 of 3 after an exclusion), so it meets every commit quorum in a correct replica, which
   * answers only once it executed everything it saw prepared: no older than a completed write.
   */
  #readQuorum(claim: Claim): number {
    const n = Math.max(this.#members.length, claim.members.length);
    const f = Math.max(faultsTolerated(this.#members.length), faultsTolerated(claim.members.length));
    return Math.ceil((n + f + 1) / 2);
  }

  async #receiveVote(from: string, bytes: Uint8Array): Promise<void> {
    if (!this.#members.includes(from)) return;
    const r = await open(bytes, from, { self: this.id, memberKey: () => undefined, maxBytes: REPLY_LIMIT });
    // The group may have changed while the envelope was opened.
    if (!r.ok || !this.#members.includes(from)) return;
    const kind = r.message.kind;
    const body = r.message.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object') return;
    // Replicas never redirect in this model; anything but these three is ignored.
    if (kind !== 'reply' && kind !== 'readReply' && kind !== 'error') return;
    const number = kind === 'readReply' ? body.nonce : body.seq;

    let vote: Vote;
    let key: string;
    if (kind === 'error') {
      const code = typeof body.code === 'string' && REFUSAL_CODES.has(body.code) ? body.code : undefined;
      vote = code === undefined ? { error: String(body.message) } : { error: String(body.message), code, body };
      key = code === undefined ? ERROR_KEY : `${ERROR_KEY}:${code}`;
    } else {
      const claim = kind === 'reply' ? toClaim(body.result, body.members) : toClaim(body, body.members);
      if (!claim) return;
      try {
        key = matchKey(claim);
      } catch {
        return; // a snapshot that is not plain data
      }
      vote = { claim };
    }

    const b = this.#ballot;
    const forBallot =
      b !== undefined && b.number === number && (kind === 'readReply' ? b.kind !== 'request' : b.kind === 'request' && body.session === b.session);
    if (!forBallot) {
      // An answer to an earlier request or read: too late to count, not too late to show a liar.
      if ('claim' in vote) this.#logDissent(kind, number, from, key, vote.claim.digest);
      return;
    }
    b.tally.record(from, key, vote);
    this.#tallyChanged(b, key, vote);
  }

  #tallyChanged(b: Ballot, key: string, vote: Vote): void {
    const f = faultsTolerated(this.#members.length);
    if ('error' in vote) {
      // Up to f replicas may refuse a good request; f+1 include a correct one.
      if (b.tally.voters(key).length < f + 1) return;
      const first = b.tally.firstError(key)!;
      this.#endBallot(b);
      b.reject(rejection(first.replica, first.body));
      return;
    }
    const quorum = b.kind === 'read' ? this.#readQuorum(vote.claim) : this.#resultQuorum(vote.claim);
    if (b.tally.voters(key).length >= quorum) return this.#accept(b, key, vote.claim);
    // every replica answered a request, no answer has its quorum: none will (answers are final)
    const split = b.kind === 'request' && b.tally.size >= this.#members.length ? disagreement(b.tally.keys(), (k) => b.tally.voters(k), 'the request may or may not have been applied') : undefined;
    if (split) {
      this.#endBallot(b);
      return b.reject(new ReplicasDisagreeError(split.message, split.groups));
    }
    if (b.kind === 'read' && !this.#readCanStillAgree(b)) this.#fallBackToOrderedRead(b);
  }

  /**
   * Whether some key can still gather its read quorum: every replica not heard from yet could
   * still join it, while those heard from are taken at their word (a correct replica does
   * not change its answer to the same read).
   */
  #readCanStillAgree(b: Ballot): boolean {
    const n = this.#members.length;
    const silent = n - b.tally.size;
    if (silent >= 2 * faultsTolerated(n) + 1) return true; // a key not seen yet could still win
    return b.tally.keys().some((k) => 'claim' in k.vote && silent + k.count >= this.#readQuorum(k.vote.claim));
  }

  #accept(b: Ballot, key: string, claim: Claim): void {
    this.#endBallot(b);
    const dissent = b.tally.dissent(key);
    const replyKind = b.kind === 'request' ? 'reply' : 'readReply';
    this.#decided = { kind: replyKind, number: b.number, key, logged: new Set() };
    for (const d of dissent) this.#logDissent(replyKind, b.number, d.replica, undefined, d.digest);
    // Enough replicas vouch for this member list: the group was reconfigured, follow it.
    if (!sameList(claim.members, this.#members)) this.#members = [...claim.members];
    if (!claim.session) this.#publish(claim.snapshot, claim.index);
    b.resolve({ index: claim.index, snapshot: claim.snapshot, digest: claim.digest, agreed: b.tally.voters(key), dissent, ...(claim.session ? { session: claim.session } : {}) });
  }

  /**
   * Logs a reply to the last decided request or read that disagrees with the decision, at the
   * decision or later. `key` undefined: the caller already knows it dissents.
   */
  #logDissent(kind: WireKind, number: unknown, replica: string, key: string | undefined, digest: string): void {
    const d = this.#decided;
    if (!d || d.kind !== kind || d.number !== number || key === d.key) return;
    const id = JSON.stringify([replica, digest]);
    if (d.logged.has(id)) return; // the same reply again (a retransmission's answer)
    d.logged.add(id);
    this.#dissentLog.push(kind === 'reply' ? { seq: d.number, replica, digest } : { nonce: d.number, replica, digest });
    if (this.#dissentLog.length > DISSENT_LOG_LIMIT) this.#dissentLog.splice(0, this.#dissentLog.length - DISSENT_LOG_LIMIT);
  }
}

/** A replica's refusal: EventTooLargeError when it names the size budget, else RequestRejectedError. */
function rejection(replica: string, body: Record<string, unknown>): Error {
  const message = `${replica}: ${String(body.message)}`;
  if (body.code === 'event-too-large' && typeof body.limit === 'number') return new EventTooLargeError(typeof body.size === 'number' ? body.size : Infinity, body.limit, message);
  if (body.code === 'session-expired') return new SessionExpiredError(message);
  if (body.code === 'request-mismatch') return new RequestMismatchError(message);
  return new RequestRejectedError(message);
}

/** A client of a group; given the group's `machine`, `send` accepts only its events (TypeScript) and `client.actor` evaluates matches/hasTag/can. */
export function createClient<TMachine extends AnyStateMachine = AnyStateMachine>(options: ClientOptions<TMachine>): Client<TMachine> {
  return new Client<TMachine>(options);
}
