import { isThenable, untilSettledOrDead, type TaskOwner, type VirtualClock } from './clock.ts';
import type { Prng } from './prng.ts';
import type { Trace } from './trace.ts';

/**
 * Latency of one message in virtual milliseconds: a fixed value, uniform in [min, max],
 * exponential with a mean (plus an optional floor), or any function of the link's PRNG.
 */
export type Latency = number | { min: number; max: number } | { mean: number; min?: number } | ((random: Prng) => number);

export interface LinkConfig {
  latency: Latency;
  /** Probability a message is lost. */
  loss: number;
  /** Probability a message is delivered twice (the copy with its own latency). */
  duplicate: number;
  /** Probability a message is held back by up to `reorderDelay` extra ms, so later ones overtake it. */
  reorder: number;
  reorderDelay: number;
}

export const DEFAULT_LINK: LinkConfig = { latency: { min: 1, max: 5 }, loss: 0, duplicate: 0, reorder: 0, reorderDelay: 20 };

export type DeliverFn = (from: string, bytes: Uint8Array) => unknown;

export interface Endpoint {
  readonly id: string;
  /** Sends bytes to a node; silently lost if the link drops it (counted in the network stats). */
  send(to: string, bytes: Uint8Array): void;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  duplicated: number;
  droppedLoss: number;
  droppedPartition: number;
  droppedDown: number;
}

interface Attachment {
  deliver: DeliverFn;
  owner: TaskOwner;
}

/**
 * The simulated network between node ids. Every message is scheduled as a task on the
 * virtual clock at send time + latency; partitions are checked when a message is sent and
 * again when it arrives (a cut wire loses what is on it).
 */
export class SimNetwork {
  readonly #clock: VirtualClock;
  readonly #random: Prng;
  readonly #trace: Trace;
  #defaults: LinkConfig;
  readonly #links = new Map<string, Partial<LinkConfig>>();
  readonly #blocked = new Set<string>();
  readonly #nodes = new Map<string, Attachment>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, duplicated: 0, droppedLoss: 0, droppedPartition: 0, droppedDown: 0 };

  constructor(clock: VirtualClock, random: Prng, trace: Trace, defaults: Partial<LinkConfig> = {}) {
    this.#clock = clock;
    this.#random = random;
    this.#trace = trace;
    this.#defaults = checkLinkConfig({ ...DEFAULT_LINK, ...defaults });
  }

  /** Changes the default link behaviour (for every link without its own settings). */
  configure(config: Partial<LinkConfig>): void {
    this.#defaults = checkLinkConfig({ ...this.#defaults, ...config });
  }

  /** Settings for the one-way link from → to, over the defaults. */
  setLink(from: string, to: string, config: Partial<LinkConfig>): void {
    checkLinkConfig({ ...this.#defaults, ...config });
    this.#links.set(linkKey(from, to), { ...this.#links.get(linkKey(from, to)), ...config });
  }

  /** Messages between any node of `a` and any node of `b` are lost, both ways. */
  partition(a: readonly string[], b: readonly string[]): void {
    this.partitionOneWay(a, b);
    this.partitionOneWay(b, a);
  }

  /** Messages from any node of `from` to any node of `to` are lost; the other way still works. */
  partitionOneWay(from: readonly string[], to: readonly string[]): void {
    for (const x of from) for (const y of to) if (x !== y) this.#blocked.add(linkKey(x, y));
    this.#trace.record(this.#clock.now(), 'partition', from.join(','), to.join(','));
  }

  /** Cuts one node off from every other node. */
  isolate(id: string, all: readonly string[]): void {
    this.partition([id], all.filter((x) => x !== id));
  }

  /** Removes every partition (link settings stay). */
  heal(): void {
    this.#blocked.clear();
    this.#trace.record(this.#clock.now(), 'heal');
  }

  /** Removes per-link settings and restores the given defaults. */
  resetLinks(defaults: Partial<LinkConfig> = {}): void {
    this.#links.clear();
    this.#defaults = checkLinkConfig({ ...DEFAULT_LINK, ...defaults });
  }

  isBlocked(from: string, to: string): boolean {
    return this.#blocked.has(linkKey(from, to));
  }

  /** Connects a node; messages to it run `deliver` as tasks owned by `owner`. */
  attach(id: string, deliver: DeliverFn, owner: TaskOwner): Endpoint {
    this.#nodes.set(id, { deliver, owner });
    return {
      id,
      send: (to, bytes) => {
        // A dead incarnation says nothing, even if code of it is still running.
        if (!owner.alive) return;
        this.#send(id, to, bytes);
      },
    };
  }

  detach(id: string): void {
    this.#nodes.delete(id);
  }

  #send(from: string, to: string, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('network messages are Uint8Array');
    const now = this.#clock.now();
    const payload = bytes.slice(); // the sender may reuse its buffer
    this.stats.sent++;
    this.#trace.record(now, 'send', from, to, payload);
    if (this.#blocked.has(linkKey(from, to))) {
      this.stats.droppedPartition++;
      this.#trace.record(now, 'drop-partition', from, to, payload);
      return;
    }
    const link = this.#linkConfig(from, to);
    if (this.#random.chance(link.loss)) {
      this.stats.droppedLoss++;
      this.#trace.record(now, 'drop-loss', from, to, payload);
      return;
    }
    this.#schedule(from, to, payload, link, false);
    if (this.#random.chance(link.duplicate)) this.#schedule(from, to, payload, link, true);
  }

  #schedule(from: string, to: string, payload: Uint8Array, link: LinkConfig, duplicate: boolean): void {
    let delay = sampleLatency(link.latency, this.#random);
    if (this.#random.chance(link.reorder)) delay += this.#random.between(0, link.reorderDelay);
    this.#clock.setTimeout(() => this.#arrive(from, to, payload, duplicate), delay);
  }

  #arrive(from: string, to: string, payload: Uint8Array, duplicate: boolean): unknown {
    const now = this.#clock.now();
    if (this.#blocked.has(linkKey(from, to))) {
      this.stats.droppedPartition++;
      this.#trace.record(now, 'drop-partition', from, to, payload);
      return undefined;
    }
    const node = this.#nodes.get(to);
    if (!node || !node.owner.alive) {
      this.stats.droppedDown++;
      this.#trace.record(now, 'drop-down', from, to, payload);
      return undefined;
    }
    this.stats.delivered++;
    if (duplicate) this.stats.duplicated++;
    this.#trace.record(now, duplicate ? 'duplicate' : 'deliver', from, to, payload);
    const result = node.deliver(from, payload);
    // Abandon the delivery if the receiver crashes while it is still working on it.
    return isThenable(result) ? untilSettledOrDead(result, node.owner) : result;
  }

  #linkConfig(from: string, to: string): LinkConfig {
    const own = this.#links.get(linkKey(from, to));
    return own ? { ...this.#defaults, ...own } : this.#defaults;
  }
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

export function sampleLatency(latency: Latency, random: Prng): number {
  let ms: number;
  if (typeof latency === 'number') ms = latency;
  else if (typeof latency === 'function') ms = latency(random);
  else if ('max' in latency) ms = random.between(latency.min, latency.max);
  else ms = (latency.min ?? 0) + random.exponential(latency.mean);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

function checkLinkConfig(config: LinkConfig): LinkConfig {
  for (const k of ['loss', 'duplicate', 'reorder'] as const) {
    const p = config[k];
    if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw new RangeError(`link ${k} must be a probability in [0, 1], got ${String(p)}`);
  }
  if (!(config.reorderDelay >= 0)) throw new RangeError('link reorderDelay must be >= 0');
  const l = config.latency;
  if (typeof l === 'number' ? !(l >= 0) : typeof l === 'object' && l !== null && 'max' in l ? !(l.min >= 0 && l.max >= l.min) : false) {
    throw new RangeError(`bad link latency ${JSON.stringify(l)}`);
  }
  return config;
}
