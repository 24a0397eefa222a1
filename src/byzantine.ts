// `statechorus/byzantine`: createReplica for the Byzantine fault model only (PBFT-style,
// n = 3f+1), without the crash protocol.
import { ByzantineReplica, signReconfiguration } from './replica/byzantine.ts';
import { resolveReplicaOptions, type GroupReplicaOptions } from './group/resolve.ts';

export { ByzantineReplica, signReconfiguration };
export { BEHAVIOURS, SimulatedBehaviour, type Behaviour, type FloodOptions } from './cluster/behaviours/index.ts';

/** A Byzantine-model replica (PBFT-style, n = 3f+1); see ReplicaOptions. */
export function createReplica(options: GroupReplicaOptions): ByzantineReplica {
  const model = options?.group?.faultModel;
  if (model !== 'byzantine') throw new Error(`statechorus/byzantine: createReplica builds Byzantine-model replicas; group.faultModel is ${JSON.stringify(model)} (import createReplica from "statechorus/crash" or "statechorus")`);
  // A group descriptor works here too, with an explicit `transport` (this entry bundles none).
  return new ByzantineReplica(resolveReplicaOptions(options));
}
