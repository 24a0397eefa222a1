export { parseGroup, groupConfig, isGroupDescriptor, stringifyGroup, faultsTolerated, membersFor, decodePublicKey, GroupDescriptorError, type GroupDescriptor, type GroupDescriptorMember, type IceServerDescriptor } from './descriptor.ts';
export { resolveReplicaOptions, resolveClientOptions, type GroupReplicaOptions, type GroupClientOptions, type TransportFactory } from './resolve.ts';
export { createReplica, createClient, type CreateReplica } from './create.ts';
