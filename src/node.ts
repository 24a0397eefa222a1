// The entry for Node and Deno: everything in index.ts, with the WebRTC transport wired to
// @roamhq/wrtc (and `ws` where the runtime has no WebSocket), file storage, the signaling
// server, and replica groups as separate processes.
export * from './index.ts';
export { webrtcTransport } from './transport/node.ts';
export { createReplica, createClient, loadGroup } from './group/node.ts';
export { fileStorage, openFileStorage, StorageCorruptionError, StorageDamagedError, StorageLockedError, StorageIOError, type FileStorage, type FileStorageOptions, type FileStorageStats, type StorageDamage } from './storage/file.ts';
export { startSignalingServer, type SignalingServer, type SignalingServerOptions } from '../signaling/node.ts';
export { startProcessGroup, ProcessGroup, type ProcessGroupOptions, type ReplicaReport, type SettleResult, type SettledReplica } from './cluster/process-group.ts';
