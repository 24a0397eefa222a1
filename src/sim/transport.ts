/**
 * The Transport of one node of the simulated network (src/sim/network.ts): what the local
 * cluster gives each replica, Byzantine twin and client. The network names the true sender
 * and applies the seeded latency, loss and partitions, so a run replays exactly; the
 * simulator awaits what the handler returns. For a transport without the simulator, see
 * src/transport/memory.ts.
 */
import type { Transport } from '../transport/types.ts';
import type { DeliverFn } from './network.ts';
import type { NodeEnv } from './simulation.ts';

export class SimulatedTransport implements Transport {
  #env: NodeEnv | undefined;
  #handler: DeliverFn | undefined;
  readonly #copyTo: (() => DeliverFn | undefined) | undefined;

  /**
   * `env`: the node to send and receive through; a client's comes later (`attach`). `hear:
   * false` leaves the node's own inbox alone (a twin hears through its original's `copyTo`).
   * `copyTo`: where each received message goes too, after this node's handler (the twin).
   */
  constructor(env?: NodeEnv, options: { hear?: boolean; copyTo?: () => DeliverFn | undefined } = {}) {
    this.#copyTo = options.copyTo;
    if (env) this.attach(env, options.hear);
  }

  /** Sends and receives through `env` from now on. */
  attach(env: NodeEnv, hear = true): void {
    this.#env = env;
    if (hear) env.onMessage((from, bytes) => this.deliver(from, bytes));
  }

  send(to: string, bytes: Uint8Array): void {
    this.#env?.send(to, bytes);
  }

  onMessage(handler: DeliverFn): void {
    this.#handler = handler;
  }

  /** The handler set by the replica or client, once it listens. */
  get handler(): DeliverFn | undefined {
    return this.#handler;
  }

  /** Hands bytes to the handler as if `from` had sent them (the simulator awaits the result). */
  deliver(from: string, bytes: Uint8Array): unknown {
    const handler = this.#handler;
    if (!handler) return undefined;
    const copy = this.#copyTo?.();
    // The simulation awaits both, one after the other, so the run replays exactly.
    if (copy) return Promise.resolve(handler(from, bytes)).then(() => copy(from, bytes));
    return handler(from, bytes);
  }
}
