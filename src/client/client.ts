import { checkEvent } from '../app/index.ts';
import { realClock, type Clock } from '../clock.ts';
import type { Transport } from '../transport/index.ts';
import { open, seal, type WireKind } from '../wire/index.ts';

/** The application state as agreed: XState's snapshot shape, as plain data. */
export interface AppSnapshot {
  value: unknown;
  context: unknown;
  status: string;
}

export interface Outcome {
  /** The event's position in the total order. */
  index: number;
  /** The application state right after this event. */
  snapshot: AppSnapshot;
  digest: string;
  /** Replicas whose replies matched (one under the crash model). */
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

export interface ClientOptions {
  /** This client's id on the network (its identity id for WebRTC; a name in the simulator). */
  id: string;
  transport: Transport;
  /** Replica ids of the group. */
  replicas: string[];
  faultModel?: 'crash';
  clock?: Clock;
  /** Resend to another replica after this long without an answer (ms). */
  retryAfterMs?: number;
  /** Give up after this long (ms); the request may or may not have been applied. */
  giveUpAfterMs?: number;
}

/** The client gave up; the request may or may not have taken effect. */
export class ClientTimeoutError extends Error {
  override name = 'ClientTimeoutError';
}

/** A replica refused the request (a bad event, or a request older than this client's last). */
export class RequestRejectedError extends Error {
  override name = 'RequestRejectedError';
}

interface Pending {
  kind: 'request' | 'read';
  /** seq for requests, nonce for reads. */
  number: number;
  body: unknown;
  startedAt: number;
  attempt: number;
  target: string;
  timer: unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

type Observer = { next?: (s: AppSnapshot) => void } | ((s: AppSnapshot) => void);

/**
 * A client of a replica group. Requests are sent one at a time per client (exactly-once
 * rests on a per-client sequence number, so a later request must not overtake an earlier
 * one); a retry keeps the sequence number. The client follows redirects to the leader and
 * rotates through replicas on timeouts.
 */
export class Client {
  readonly id: string;
  readonly #opts: Required<Omit<ClientOptions, 'clock'>> & { clock: Clock };
  #seq = 0;
  #nonce = 0;
  #leader: string | undefined;
  #rotation = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #current: Pending | undefined;
  #closed = false;
  #latest: AppSnapshot | undefined;
  readonly #observers = new Set<Observer>();

  constructor(options: ClientOptions) {
    if (!options || typeof options.id !== 'string' || options.id === '') throw new TypeError('createClient: `id` must be a non-empty string');
    if (!Array.isArray(options.replicas) || options.replicas.length === 0) throw new TypeError('createClient: `replicas` must list the group');
    if (!options.transport || typeof options.transport.send !== 'function') throw new TypeError('createClient: `transport` is required');
    this.id = options.id;
    this.#opts = {
      faultModel: 'crash',
      retryAfterMs: 300,
      giveUpAfterMs: 30_000,
      ...options,
      clock: options.clock ?? realClock(),
    };
    options.transport.onMessage((from, bytes) => this.#receive(from, bytes));
  }

  /** Orders an event; resolves with the agreed outcome once a replica applied it. */
  send(event: unknown): Promise<Outcome> {
    const problem = checkEvent(event);
    if (problem) return Promise.reject(new TypeError(`client.send: ${problem}`));
    return this.#serialised(() => this.#start('request', ++this.#seq, { event }) as Promise<Outcome>);
  }

  /** A linearizable read of the application state. */
  async read(): Promise<AppSnapshot> {
    return (await this.readOutcome()).snapshot;
  }

  /** A linearizable read with its log position and agreement. */
  readOutcome(): Promise<ReadOutcome> {
    return this.#serialised(() => this.#start('read', ++this.#nonce, {}) as Promise<ReadOutcome>);
  }

  /** An XState-compatible actor ref over the voted state (send, getSnapshot, subscribe). */
  readonly actor = {
    send: (event: unknown) => {
      this.send(event).catch(() => {});
    },
    getSnapshot: () => this.#latest,
    subscribe: (observer: Observer) => {
      this.#observers.add(observer);
      return { unsubscribe: () => this.#observers.delete(observer) };
    },
  };

  /** Stops: the request under way (and any queued) fail. */
  close(): void {
    this.#closed = true;
    const p = this.#current;
    if (p) {
      this.#opts.clock.clearTimeout(p.timer);
      this.#current = undefined;
      p.reject(new ClientTimeoutError('client closed'));
    }
  }

  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closed) throw new ClientTimeoutError('client closed');
      return fn();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  #start(kind: 'request' | 'read', number: number, extra: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const body = kind === 'request' ? { seq: number, ...extra } : { nonce: number };
      this.#current = { kind, number, body, startedAt: this.#opts.clock.now(), attempt: 0, target: '', timer: undefined, resolve, reject };
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
    void this.#send(target, p.kind, p.body);
  }

  #onTimeout(p: Pending): void {
    if (this.#current !== p) return;
    if (this.#opts.clock.now() - p.startedAt >= this.#opts.giveUpAfterMs) {
      this.#current = undefined;
      p.reject(new ClientTimeoutError(`no answer after ${this.#opts.giveUpAfterMs} ms (${p.attempt} attempts); the request may or may not have been applied`));
      return;
    }
    this.#leader = undefined;
    this.#transmit(this.#nextReplica());
  }

  #nextReplica(): string {
    const r = this.#opts.replicas;
    return r[this.#rotation++ % r.length]!;
  }

  async #send(to: string, kind: WireKind, body: unknown): Promise<void> {
    const bytes = await seal({ from: this.id, to, kind, body });
    this.#opts.transport.send(to, bytes);
  }

  async #receive(from: string, bytes: Uint8Array): Promise<void> {
    if (!this.#opts.replicas.includes(from)) return;
    const r = await open(bytes, from, { self: this.id, memberKey: () => undefined, maxBytes: 64 * 1024 * 1024 });
    if (!r.ok) return;
    const p = this.#current;
    const body = r.message.body as Record<string, unknown> | null;
    if (!p || !body || typeof body !== 'object') return;
    const number = p.kind === 'request' ? body.seq : body.nonce;
    if (number !== p.number) return; // an answer to an earlier attempt or request
    switch (r.message.kind) {
      case 'reply':
      case 'readReply': {
        if ((r.message.kind === 'reply') !== (p.kind === 'request')) return;
        const result = (r.message.kind === 'reply' ? body.result : body) as { index: number; snapshot: AppSnapshot; digest: string };
        this.#leader = from;
        this.#finish(p);
        this.#latest = result.snapshot;
        for (const o of this.#observers) (typeof o === 'function' ? o : o.next)?.(result.snapshot);
        p.resolve({ index: result.index, snapshot: result.snapshot, digest: result.digest, agreed: [from], dissent: [] });
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
        p.reject(new RequestRejectedError(`${from}: ${String(body.message)}`));
        return;
    }
  }

  #finish(p: Pending): void {
    this.#opts.clock.clearTimeout(p.timer);
    this.#current = undefined;
  }
}

export function createClient(options: ClientOptions): Client {
  return new Client(options);
}
