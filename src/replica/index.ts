export { Replica, createReplica, type AnyReplica } from './replica.ts';
export { ByzantineReplica, signReconfiguration } from './byzantine.ts';
export { BEHAVIOURS, type Behaviour, type FloodOptions } from './misbehave.ts';
export { DEFAULT_TUNING, type ReplicaOptions, type ReplicaStatus, type ReplicaMetrics, type ReplicaTuning, type GroupConfig, type GroupMember, type FaultModel } from './types.ts';
