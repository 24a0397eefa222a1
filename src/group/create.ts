// createReplica and createClient that take a group descriptor (see descriptor.ts) and build
// the WebRTC transport from it when none is given: the browser's here, Node's in node.ts.
// Plain functions (no shared object), so a bundle that uses only createClient leaves out
// the replica runtimes.

import type { AnyStateMachine } from 'xstate';
import { Client } from '../client/client.ts';
import type { ByzantineReplica } from '../replica/byzantine.ts';
import type { Replica } from '../replica/replica.ts';
import { createReplica as createReplicaOf, type AnyReplica } from '../fault-models/runtime.ts';
import { webrtcTransport } from '../transport/webrtc.ts';
import type { GroupDescriptor } from './descriptor.ts';
import { resolveClientOptions, resolveReplicaOptions, type GroupClientOptions, type GroupReplicaOptions } from './resolve.ts';

type ModelOf<M> = { faultModel: M } & ({ members: Array<{ publicKey: Uint8Array }> } | GroupDescriptor);

export interface CreateReplica {
  (options: GroupReplicaOptions & { group: ModelOf<'crash'> }): Replica;
  (options: GroupReplicaOptions & { group: ModelOf<'byzantine'> }): ByzantineReplica;
  (options: GroupReplicaOptions): AnyReplica;
}

/**
 * A replica of the group's fault model (Raft-style for 'crash', PBFT-style for 'byzantine').
 * `group` may be a descriptor: then the identity must be a member (or `join` set), and
 * `transport` defaults to WebRTC through the descriptor's signaling servers and room.
 */
export const createReplica: CreateReplica = ((options: GroupReplicaOptions) => createReplicaOf(resolveReplicaOptions(options, webrtcTransport))) as CreateReplica;

/**
 * A client of a group: `group` (a descriptor: fault model, replicas, their keys, where to
 * meet them), or `replicas`, `faultModel`, `transport` and `id`.
 */
export function createClient<TMachine extends AnyStateMachine = AnyStateMachine>(options: GroupClientOptions<TMachine>): Client<TMachine> {
  return new Client<TMachine>(resolveClientOptions(options, webrtcTransport));
}
