/**
 * Simulated Byzantine behaviours (DESIGN.md §5), for tests and demos, kept out of the replica:
 * a SimulatedBehaviour decorates two seams every replica offers, `egress` (what it sends:
 * misbehaviour.ts) and `wrapExecutor` (how it executes: wrong-result.ts). The local cluster
 * installs one on each replica of a Byzantine group and `cluster.byzantine(id, behaviour)`
 * switches it; a demo can put one on a real replica: `createReplica({ ..., ...b.seams })`.
 */
import type { Identity } from '../../crypto/index.ts';
import { resolveTuning } from '../../replica/tuning.ts';
import type { ReplicaOptions, ReplicaTuning } from '../../replica/types.ts';
import { Misbehaviour, type Behaviour, type FloodOptions } from './misbehaviour.ts';
import { wrongResultExecutor } from './wrong-result.ts';

export { BEHAVIOURS, DEFAULT_FLOOD, type Behaviour, type FloodKind, type FloodOptions } from './misbehaviour.ts';

export interface SimulatedBehaviourOptions {
  /** The replica's member id and identity (forged, equivocating and flooding messages are signed with it). */
  id: string;
  identity: Identity;
  /** Seeds the behaviour's own randomness (the local cluster passes the replica's seed, for replay). */
  seed?: number;
  /** The replica's tuning: 'slow' stays just under its requestTimeoutMs. */
  tuning?: Partial<ReplicaTuning>;
}

export class SimulatedBehaviour {
  readonly #egress: Misbehaviour;
  readonly #identity: Identity;
  readonly #requestTimeoutMs: number;
  /** The replica options that route the replica's output and execution through this behaviour. */
  readonly seams: Required<Pick<ReplicaOptions, 'egress' | 'wrapExecutor'>>;

  constructor(options: SimulatedBehaviourOptions) {
    const egress = new Misbehaviour(options.id, options.seed ?? 1);
    const identity = options.identity;
    this.#egress = egress;
    this.#identity = identity;
    this.#requestTimeoutMs = resolveTuning(options.tuning, 'SimulatedBehaviour').requestTimeoutMs;
    // Not async wrappers: the replica awaits exactly what the behaviour returns (replay depends on it).
    this.seams = {
      egress: { bundle: (out) => egress.outgoing(out, identity, out.others), client: (out) => egress.outgoingToClient(out) },
      wrapExecutor: (executor) => wrongResultExecutor(executor, () => egress.behaviour === 'wrong-result'),
    };
  }

  /** 'correct' unless set. */
  get behaviour(): Behaviour {
    return this.#egress.behaviour;
  }

  /** Switches the behaviour ('correct' ends it); settles once it is ready (`flood`: the proofs it quotes are signed). */
  set(behaviour: Behaviour, flood?: Partial<FloodOptions>): Promise<void> {
    this.#egress.set(behaviour, this.#requestTimeoutMs, flood, this.#identity);
    return this.#egress.ready;
  }

  /** Settles once the current behaviour is ready. */
  get ready(): Promise<void> {
    return this.#egress.ready;
  }
}
