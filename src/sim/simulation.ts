import { memoryStorage } from '../storage/memory.ts';
import type { ScanOptions, Storage, StorageOp } from '../storage/types.ts';
import { SimulationError, VirtualClock, type TaskOwner } from './clock.ts';
import { SimNetwork, type DeliverFn, type Endpoint, type LinkConfig } from './network.ts';
import { Prng } from './prng.ts';
import { Trace } from './trace.ts';

/** What a simulated node gets each time it (re)starts. */
export interface NodeEnv {
  readonly id: string;
  /** 1 for the first start, +1 for each restart. */
  readonly incarnation: number;
  /** Virtual clock; timers of a crashed incarnation never fire. */
  readonly clock: {
    now(): number;
    setTimeout(fn: () => unknown, ms: number): unknown;
    clearTimeout(handle: unknown): void;
  };
  /** This node's randomness, a stream of its own per incarnation. */
  readonly random: Prng;
  /** Storage that survives crashes; calls made after the crash never settle. */
  readonly storage: Storage;
  /** Sends bytes to another node. */
  send(to: string, bytes: Uint8Array): void;
  /** Sets the handler for incoming messages (one per incarnation). */
  onMessage(handler: DeliverFn): void;
}

/** Starts a node's in-memory state from its env; may return a handle with a graceful stop. */
export type NodeStarter = (env: NodeEnv) => void | { stop?(): void | Promise<void> } | Promise<void | { stop?(): void | Promise<void> }>;

export interface SimulationOptions {
  seed: number;
  /** Default link behaviour. */
  link?: Partial<LinkConfig>;
  /** Trace records kept as text for failure reports. */
  traceKeep?: number;
}

class Incarnation implements TaskOwner {
  alive = true;
  handler: DeliverFn | undefined;
  readonly #listeners = new Set<() => void>();
  constructor(readonly number: number) {}
  onDeath(listener: () => void): () => void {
    if (!this.alive) {
      listener();
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  kill(): void {
    this.alive = false;
    for (const l of this.#listeners) l();
    this.#listeners.clear();
  }
}

interface SimNode {
  id: string;
  start: NodeStarter;
  storage: Storage;
  current: Incarnation | undefined;
  incarnations: number;
  handle: { stop?(): void | Promise<void> } | undefined;
}

/**
 * A deterministic world of nodes: one virtual clock, one seeded PRNG, one simulated network.
 * A crash throws away a node's in-memory state (its timers stop, its messages in flight to it
 * are lost, its unfinished work is abandoned) and keeps its storage; a restart runs its
 * starter again on that storage. Same seed and same calls, same trace hash.
 */
export class Simulation {
  readonly seed: number;
  readonly clock = new VirtualClock();
  readonly random: Prng;
  readonly trace: Trace;
  readonly network: SimNetwork;
  readonly #nodes = new Map<string, SimNode>();

  constructor(options: SimulationOptions) {
    if (!Number.isInteger(options.seed)) throw new TypeError('Simulation needs an integer seed');
    this.seed = options.seed;
    this.random = new Prng(options.seed);
    this.trace = new Trace({ keep: options.traceKeep ?? 200 });
    this.network = new SimNetwork(this.clock, this.random.fork('network'), this.trace, options.link);
  }

  /** Node ids, in the order they were added. */
  get nodeIds(): string[] {
    return [...this.#nodes.keys()];
  }

  /** Adds a node and starts it (as a task at the current instant). */
  async addNode(id: string, start: NodeStarter, options: { storage?: Storage } = {}): Promise<void> {
    if (typeof id !== 'string' || id === '') throw new TypeError('node id must be a non-empty string');
    if (this.#nodes.has(id)) throw new SimulationError(`node ${id} already exists`);
    const node: SimNode = { id, start, storage: options.storage ?? memoryStorage(), current: undefined, incarnations: 0, handle: undefined };
    this.#nodes.set(id, node);
    await this.#boot(node);
  }

  isUp(id: string): boolean {
    return this.#node(id).current?.alive === true;
  }

  /** The node's durable storage, for inspection by tests (not fenced). */
  storageOf(id: string): Storage {
    return this.#node(id).storage;
  }

  /** Fail-stop crash: in-memory state gone, storage kept. */
  crash(id: string): void {
    const node = this.#node(id);
    const inc = node.current;
    if (!inc || !inc.alive) return;
    inc.kill();
    node.handle = undefined;
    this.network.detach(id);
    this.trace.record(this.clock.now(), 'crash', id);
  }

  /** Starts a crashed node again from its storage. */
  async restart(id: string): Promise<void> {
    const node = this.#node(id);
    if (node.current?.alive) throw new SimulationError(`node ${id} is running; crash it first`);
    this.trace.record(this.clock.now(), 'restart', id);
    await this.#boot(node);
  }

  /** Graceful stop of every node (calls their stop handles), then the clock's background loop. */
  async stop(): Promise<void> {
    for (const node of this.#nodes.values()) {
      const handle = node.handle;
      node.handle = undefined;
      // Graceful first: a stop that waits for the node's work in flight must still see its
      // storage answer (after the kill, a dead incarnation's calls never settle).
      if (node.current?.alive) await handle?.stop?.();
      node.current?.kill();
    }
    if (this.clock.autoRunning) await this.clock.stopAuto();
  }

  #node(id: string): SimNode {
    const node = this.#nodes.get(id);
    if (!node) throw new SimulationError(`unknown node ${id}`);
    return node;
  }

  async #boot(node: SimNode): Promise<void> {
    const inc = new Incarnation(++node.incarnations);
    node.current = inc;
    const clock = this.clock;
    const endpoint: Endpoint = this.network.attach(node.id, (from, bytes) => inc.handler?.(from, bytes), inc);
    const env: NodeEnv = {
      id: node.id,
      incarnation: inc.number,
      clock: {
        now: () => clock.now(),
        setTimeout: (fn, ms) => clock.setTimeout(fn, ms, inc),
        clearTimeout: (handle) => clock.clearTimeout(handle),
      },
      random: this.random.fork(`node:${node.id}:${inc.number}`),
      storage: fencedStorage(node.storage, inc),
      send: (to, bytes) => endpoint.send(to, bytes),
      onMessage: (handler) => {
        inc.handler = handler;
      },
    };
    // Under the automatic loop the start runs as a task, so it cannot interleave with others;
    // driven by hand (or from inside a task) nothing else runs meanwhile anyway.
    const start = () => node.start(env);
    const handle = this.clock.autoRunning ? await this.clock.run(start, inc) : await start();
    if (inc.alive && handle) node.handle = handle;
  }
}

/** Storage as seen by one incarnation: after it dies, its calls never settle (the process is gone). */
function fencedStorage(storage: Storage, owner: TaskOwner): Storage {
  const never = new Promise<never>(() => {});
  const guard = <T>(call: () => Promise<T>): Promise<T> => {
    if (!owner.alive) return never;
    return call().then((v) => (owner.alive ? v : never));
  };
  return {
    get: (key: string) => guard(() => storage.get(key)),
    set: (key: string, value: Uint8Array) => guard(() => storage.set(key, value)),
    delete: (key: string) => guard(() => storage.delete(key)),
    batch: (ops: readonly StorageOp[]) => guard(() => storage.batch(ops)),
    scan: (options?: ScanOptions) => guard(() => storage.scan(options)),
    // The durable store outlives the incarnation: closing it would close it for the restart too.
    close: async () => {},
  };
}
