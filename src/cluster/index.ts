export { ClusterHaltedError, LocalCluster, createLocalCluster, type LocalClusterOptions, type ClusterReplica, type ClusterClient } from './local.ts';
export { BEHAVIOURS, SimulatedBehaviour, type Behaviour, type FloodOptions, type SimulatedBehaviourOptions } from './behaviours/index.ts';
