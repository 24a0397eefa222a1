export { Replica, createReplica } from './replica.ts';
export { DEFAULT_TUNING, type ReplicaOptions, type ReplicaStatus, type ReplicaMetrics, type ReplicaTuning, type GroupConfig, type GroupMember, type FaultModel } from './types.ts';
