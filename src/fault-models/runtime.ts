// Which runtime runs a replica of each fault model. Apart from the descriptors (index.ts): a
// bundle that only creates clients leaves both replica runtimes out, and `statechorus/crash` /
// `statechorus/byzantine` import one runtime directly.

import { ByzantineReplica } from '../replica/byzantine.ts';
import { Replica } from '../replica/replica.ts';
import type { FaultModel, ReplicaOptions } from '../replica/types.ts';

/** A replica of either fault model. */
export type AnyReplica = Replica | ByzantineReplica;

const RUNTIMES: { readonly [M in FaultModel]: (options: ReplicaOptions) => AnyReplica } = {
  crash: (options) => new Replica(options),
  byzantine: (options) => new ByzantineReplica(options),
};

/** A replica of the group's fault model: Raft-style for 'crash', PBFT-style for 'byzantine'. */
export function createReplica(options: ReplicaOptions & { group: { faultModel: 'crash' } }): Replica;
export function createReplica(options: ReplicaOptions & { group: { faultModel: 'byzantine' } }): ByzantineReplica;
export function createReplica(options: ReplicaOptions): AnyReplica;
export function createReplica(options: ReplicaOptions): AnyReplica {
  const model = options?.group?.faultModel;
  // Anything else reaches the crash runtime, whose option checks refuse it by name.
  const create = typeof model === 'string' && Object.hasOwn(RUNTIMES, model) ? RUNTIMES[model] : RUNTIMES.crash;
  return create(options);
}
