/**
 * An in-process transport: `memoryNetwork()` is a hub that hands out one Transport per peer id;
 * messages between them arrive asynchronously (never inside `send`), in order between a pair,
 * as copies (the sender may reuse its buffer). For embedders and tests that need no network and
 * no simulator (src/sim/transport.ts is the simulator's: seeded latency, loss, partitions).
 *
 * Its security duty, like every transport's, is to name the true sender: a transport sends only
 * as the id the hub gave it, and the hub gives an id to one open transport at a time, so the id
 * a handler gets is the sender's by construction. What cannot be delivered (an unknown or closed
 * peer, a peer not listening yet) is dropped and counted, never thrown.
 */
import type { Transport, TransportContext } from './types.ts';

export interface MemoryNetworkStats {
  sent: number;
  delivered: number;
  /** By reason: `unknownPeer` (no open transport has the id), `closed` (it closed before delivery), `notListening` (no handler yet), `handlerError`. */
  dropped: Record<string, number>;
}

export interface MemoryNetwork {
  /** The transport of peer `id`. Throws if an open transport has that id (close it first, as a restart would). */
  transport(id: string): MemoryTransport;
  /** Ids of the open transports. */
  peers(): string[];
  readonly stats: MemoryNetworkStats;
}

type Handler = (from: string, bytes: Uint8Array) => unknown;

interface Mailbox {
  transport: MemoryTransport;
  handler: Handler | undefined;
  queue: Array<{ from: string; bytes: Uint8Array }>;
  scheduled: boolean;
}

/** One peer's transport on a memoryNetwork. */
export interface MemoryTransport extends Transport {
  /** The id it sends as (given by the hub). */
  readonly id: string;
  readonly closed: boolean;
  start(context?: TransportContext): Promise<void>;
  close(): Promise<void>;
}

class MemoryPeer implements MemoryTransport {
  readonly id: string;
  readonly #hub: Hub;
  #closed = false;

  constructor(id: string, hub: Hub) {
    this.id = id;
    this.#hub = hub;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(to: string, bytes: Uint8Array): void {
    if (typeof to !== 'string') throw new TypeError('memoryTransport.send: `to` must be a peer id (string)');
    if (!(bytes instanceof Uint8Array)) throw new TypeError('memoryTransport.send: `bytes` must be a Uint8Array');
    if (this.#closed) return;
    this.#hub.post(this.id, to, bytes.slice());
  }

  onMessage(handler: Handler): void {
    if (typeof handler !== 'function') throw new TypeError('memoryTransport.onMessage: `handler` must be a function');
    this.#hub.listen(this, handler);
  }

  /** A replica starting it names its id: it must be the one the hub gave this transport. */
  async start(context?: TransportContext): Promise<void> {
    if (context && context.id !== this.id) throw new Error(`memoryTransport: started as ${JSON.stringify(context.id)} but this transport is ${JSON.stringify(this.id)}'s`);
  }

  /** Stops receiving and sending; messages on their way to it are dropped. Its id is free again. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.leave(this);
  }

  /** Every open peer is reachable: nothing to connect. */
  connect(): void {}

  /** Nothing waits for a link here. */
  discardWaiting(): void {}
}

class Hub {
  readonly #boxes = new Map<string, Mailbox>();
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, dropped: {} };

  open(id: string): MemoryTransport {
    if (typeof id !== 'string' || id === '') throw new TypeError('memoryNetwork.transport: `id` must be a non-empty string');
    if (this.#boxes.has(id)) throw new Error(`memoryNetwork.transport: ${JSON.stringify(id)} is taken by an open transport (close it first)`);
    const transport = new MemoryPeer(id, this);
    this.#boxes.set(id, { transport, handler: undefined, queue: [], scheduled: false });
    return transport;
  }

  peers(): string[] {
    return [...this.#boxes.keys()];
  }

  listen(transport: MemoryTransport, handler: Handler): void {
    const box = this.#boxes.get(transport.id);
    if (box?.transport === transport) box.handler = handler;
  }

  leave(transport: MemoryTransport): void {
    const box = this.#boxes.get(transport.id);
    if (box?.transport !== transport) return;
    this.#boxes.delete(transport.id);
    this.#drop('closed', box.queue.length);
    box.queue = [];
  }

  post(from: string, to: string, bytes: Uint8Array): void {
    this.stats.sent++;
    const box = this.#boxes.get(to);
    if (!box) return this.#drop('unknownPeer');
    box.queue.push({ from, bytes });
    if (box.scheduled) return;
    box.scheduled = true;
    // One task delivers everything queued meanwhile, in order.
    setTimeout(() => this.#deliver(box), 0);
  }

  #deliver(box: Mailbox): void {
    box.scheduled = false;
    const queue = box.queue;
    box.queue = [];
    for (let i = 0; i < queue.length; i++) {
      const { from, bytes } = queue[i]!;
      if (box.transport.closed) return this.#drop('closed', queue.length - i);
      if (!box.handler) {
        this.#drop('notListening');
        continue;
      }
      this.stats.delivered++;
      try {
        const done = box.handler(from, bytes);
        if (isThenable(done)) done.then(undefined, () => this.#drop('handlerError'));
      } catch {
        this.#drop('handlerError');
      }
    }
  }

  #drop(reason: string, n = 1): void {
    if (n > 0) this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
  }
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** A hub of in-process transports (see the module comment). */
export function memoryNetwork(): MemoryNetwork {
  const hub = new Hub();
  return {
    transport: (id) => hub.open(id),
    peers: () => hub.peers(),
    stats: hub.stats,
  };
}
