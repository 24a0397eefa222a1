// What createLocalCluster takes and what it hands out: options, replica and client views, the halt error.
import type { AnyStateMachine, EventFromLogic, InspectionEvent, Observer } from 'xstate';
import type { AppSnapshot, Client, Outcome, ReadOutcome } from '../client/index.ts';
import type { AnyReplica, FaultModel, ReplicaOptions, ReplicaStatus, ReplicaTuning } from '../replica/index.ts';
import type { LinkConfig } from '../sim/index.ts';
import type { Behaviour } from './behaviours/index.ts';

export interface LocalClusterOptions<TMachine extends AnyStateMachine = AnyStateMachine> {
  machine: TMachine;
  faultModel?: FaultModel;
  /** Failures to tolerate: n = 2f+1 (crash), n = 3f+1 (byzantine). */
  f?: number;
  seed?: number;
  /** 'virtual' (default): time jumps ahead whenever nothing is due; 'real': wall-clock time. */
  clock?: 'virtual' | 'real';
  /** Default link behaviour of the simulated network. */
  network?: Partial<LinkConfig>;
  tuning?: Partial<ReplicaTuning>;
  /** Client retry and give-up times (ms). */
  client?: { retryAfterMs?: number; giveUpAfterMs?: number; snapshots?: boolean };
  /** XState inspection of every replica's protocol and application actors, with the replica's id. */
  inspect?: ((replica: string, event: InspectionEvent) => void) | Observer<InspectionEvent>;
  /** Bounds of the replicas' session table (see ReplicaOptions.sessions). */
  sessions?: ReplicaOptions['sessions'];
}

/** One replica as the cluster shows it; reads the current incarnation (after restarts too). */
export interface ClusterReplica {
  readonly id: string;
  status(): ReplicaStatus & { up: boolean };
  readonly app: AnyReplica['app'];
  readonly protocol: AnyReplica['protocol'];
  readonly metrics: AnyReplica['metrics'];
  /** The running replica object (undefined while crashed). */
  readonly current: AnyReplica | undefined;
  /** Byzantine model: the simulated behaviour it runs ('correct' unless set by `cluster.byzantine`). */
  readonly behaviour: Behaviour;
}

export interface ClusterClient<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly id: string;
  send(event: EventFromLogic<TMachine>): Promise<Outcome>;
  read(): Promise<AppSnapshot>;
  readOutcome(): Promise<ReadOutcome>;
  readonly actor: Client<TMachine>['actor'];
  /** Byzantine: replies that disagreed with the accepted result, also those arriving after it. */
  readonly dissentLog: Client['dissentLog'];
  /** Where the client's session stands (opens one first if needed). */
  session(): ReturnType<Client['session']>;
  /**
   * Restarts the client with the same identity, as a process restart would: the running one
   * is dropped (its call under way fails), replies still in flight reach the new one.
   * `session` resumes that session instead of opening a new one.
   */
  restart(options?: { session?: number }): void;
  close(): void;
}

/**
 * The simulation stopped because a replica's work threw (a bug: bad input is dropped and
 * counted, never thrown). Every pending and later call of the cluster rejects with it, so a
 * script's `await` ends with this error instead of a silent exit.
 */
export class ClusterHaltedError extends Error {
  override name = 'ClusterHaltedError';
  constructor(
    /** The replica whose work threw (undefined if no replica recorded the failure: then the simulation's own task failed). */
    readonly replica: string | undefined,
    override readonly cause: unknown,
  ) {
    super(`${replica ? `replica ${replica} stopped` : 'the simulation stopped'}: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`);
  }
}
