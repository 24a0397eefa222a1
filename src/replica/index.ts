export { Replica } from './replica.ts';
export { createReplica, type AnyReplica } from '../fault-models/runtime.ts';
export { ByzantineReplica, signReconfiguration } from './byzantine.ts';
export { DEFAULT_TUNING, type Egress, type OutgoingBundle, type OutgoingToClient, type Sending, type ReplicaOptions, type ReplicaStatus, type ReplicaMetrics, type ReplicaTuning, type GroupConfig, type GroupMember, type FaultModel } from './types.ts';
