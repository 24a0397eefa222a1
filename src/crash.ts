// `statechorus/crash`: createReplica for the crash fault model only. An app that builds its
// replicas with this one (and everything else from `statechorus`) does not bundle the Byzantine
// protocol: nothing it imports refers to it, and the package has no side effects.
import { Replica } from './replica/replica.ts';
import { resolveReplicaOptions, type GroupReplicaOptions } from './group/resolve.ts';

export { Replica };

/** A crash-model replica (Raft-style, n = 2f+1); see ReplicaOptions. */
export function createReplica(options: GroupReplicaOptions): Replica {
  const model = options?.group?.faultModel;
  if (model !== 'crash') throw new Error(`statechorus/crash: createReplica builds crash-model replicas; group.faultModel is ${JSON.stringify(model)} (import createReplica from "statechorus/byzantine" or "statechorus")`);
  // A group descriptor works here too, with an explicit `transport` (this entry bundles none).
  return new Replica(resolveReplicaOptions(options));
}
