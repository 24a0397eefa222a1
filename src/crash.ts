// `statechorus/crash`: createReplica for the crash fault model only. An app that builds its
// replicas with this one (and everything else from `statechorus`) does not bundle the Byzantine
// protocol: nothing it imports refers to it, and the package has no side effects.
import { Replica } from './replica/replica.ts';
import type { ReplicaOptions } from './replica/types.ts';

export { Replica };

/** A crash-model replica (Raft-style, n = 2f+1); see ReplicaOptions. */
export function createReplica(options: ReplicaOptions): Replica {
  const model = options?.group?.faultModel;
  if (model !== 'crash') throw new Error(`statechorus/crash: createReplica builds crash-model replicas; group.faultModel is ${JSON.stringify(model)} (import createReplica from "statechorus/byzantine" or "statechorus")`);
  return new Replica(options);
}
