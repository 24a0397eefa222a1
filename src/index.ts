// statechorus: fault-tolerant statecharts, replicated peer to peer.
export { ClusterHaltedError, createLocalCluster, LocalCluster, type LocalClusterOptions, type ClusterReplica, type ClusterClient, BEHAVIOURS, SimulatedBehaviour, type Behaviour, type FloodOptions, type SimulatedBehaviourOptions } from './cluster/index.ts';
export { Replica, ByzantineReplica, signReconfiguration, type AnyReplica, DEFAULT_TUNING, type ReplicaOptions, type Egress, type OutgoingBundle, type OutgoingToClient, type Sending, type ReplicaStatus, type ReplicaMetrics, type ReplicaTuning, type GroupConfig, type GroupMember, type FaultModel } from './replica/index.ts';
export { Client, ClientTimeoutError, ReplicasDisagreeError, EventTooLargeError, RequestRejectedError, RequestMismatchError, SessionExpiredError, type ClientOptions, type SessionInfo, type Outcome, type ReadOutcome, type AppSnapshot } from './client/index.ts';
export { generateIdentity, exportIdentity, importIdentity, verify, sha256, sha256Sync, publicKeyToId, idToPublicKey, type Identity } from './crypto/index.ts';
export { encode, decode, checkPlain, CodecError, type Plain, type DecodeResult, type CodecLimits } from './codec/index.ts';
export { memoryStorage, type Storage, type StorageOp, type ScanOptions } from './storage/index.ts';
export { memoryNetwork, type MemoryTransport, type MemoryNetwork, type MemoryNetworkStats, webrtcTransport, WebrtcTransport, type Transport, type TransportContext, type WebrtcTransportOptions, type TransportStats, SignalingUnreachableError, NoLinkError, type TransportDiagnostics, type PeerLinkState, type AnnouncedPeer, type SignalingState } from './transport/index.ts';
export { createReplica, createClient, parseGroup, groupConfig, stringifyGroup, faultsTolerated, GroupDescriptorError, type GroupDescriptor, type GroupDescriptorMember, type IceServerDescriptor, type GroupReplicaOptions, type GroupClientOptions } from './group/index.ts';
export { realClock, type Clock } from './clock.ts';
export { checkEvent } from './app/index.ts';
