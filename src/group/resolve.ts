// From a group descriptor to the options the replica and client runtimes take: the member
// keys as bytes, the replica list, the fault model, and (when the caller gives no transport)
// a WebRTC transport built from the descriptor's signaling, room and ICE servers. With a
// descriptor nothing about the group is given twice; what is given twice must agree.

import { bytesEqual, fromBase64Url } from '../crypto/bytes.ts';
import { generateIdentity, type Identity } from '../crypto/identity.ts';
import type { AnyStateMachine } from 'xstate';
import type { ClientOptions } from '../client/client.ts';
import type { ReplicaOptions, GroupConfig } from '../replica/types.ts';
import type { Transport, TransportContext } from '../transport/types.ts';
import type { WebrtcTransportOptions } from '../transport/webrtc.ts';
import { GroupDescriptorError, groupConfig, isGroupDescriptor, parseGroup, type GroupDescriptor } from './descriptor.ts';

/** Builds the network transport (the browser's or Node's WebRTC transport). */
export type TransportFactory = (options: WebrtcTransportOptions) => Transport & { readonly id?: string };

/** createReplica's options: `group` may be a descriptor, and then `transport` may be left out. */
export type GroupReplicaOptions = Omit<ReplicaOptions, 'group' | 'transport'> & {
  group: GroupConfig | GroupDescriptor;
  /** Default with a descriptor: WebRTC through the descriptor's signaling servers and room. */
  transport?: Transport;
  /**
   * With a descriptor: this replica is joining the running group under `id` (it is not among
   * the descriptor's members). Without it, an identity that is no member is refused.
   */
  join?: boolean;
};

/** createClient's options: either `group` (a descriptor) or `replicas` + `faultModel` (+ `transport` and `id`). */
export type GroupClientOptions<TMachine extends AnyStateMachine = AnyStateMachine> = Omit<ClientOptions<TMachine>, 'transport' | 'replicas' | 'id' | 'faultModel'> & {
  /** The group: fault model, replicas, their keys and where to meet them. */
  group?: GroupDescriptor;
  /** This client's identity (with `group` and no transport); default: a new one. */
  identity?: Identity;
  transport?: Transport;
  replicas?: string[];
  faultModel?: 'crash' | 'byzantine';
  id?: string;
};

function transportFor(group: GroupDescriptor, factory: TransportFactory | undefined, where: string, extra: Partial<WebrtcTransportOptions> = {}): Transport & { readonly id?: string } {
  if (!group.signaling || !group.room) {
    throw new GroupDescriptorError(`${where}: no \`transport\` given and the group descriptor has no signaling URLs and room to build one from`);
  }
  if (!factory) throw new TypeError(`${where}: no \`transport\` given; this entry does not build one (use createReplica/createClient from "statechorus", or pass \`transport\`)`);
  return factory({ signaling: [...group.signaling], room: group.room, ...(group.iceServers ? { iceServers: group.iceServers.map((s) => ({ ...s })) as RTCIceServer[] } : {}), ...extra });
}

/**
 * Replica options from options whose `group` may be a descriptor. Checks that the identity is
 * a member (and, with `id`, that member), unless `join` says it is joining a running group.
 */
export function resolveReplicaOptions(options: GroupReplicaOptions, factory?: TransportFactory, where = 'createReplica'): ReplicaOptions {
  if (!options || typeof options !== 'object' || !isGroupDescriptor(options.group)) {
    const rest = (options ?? {}) as GroupReplicaOptions;
    // A typo'd id (r9 for r1) would otherwise run as a replica joining the group.
    const members = Array.isArray(options?.group?.members) ? options.group.members : [];
    const key = options?.identity?.publicKey;
    const mine = key instanceof Uint8Array ? members.find((m) => m?.publicKey instanceof Uint8Array && bytesEqual(m.publicKey, key)) : undefined;
    if (mine && typeof options.id === 'string' && options.id !== mine.id) {
      throw new TypeError(`${where}: \`id\` is ${JSON.stringify(options.id)} but the identity is member ${mine.id}'s (members: ${members.map((m) => m.id).join(', ')})`);
    }
    return rest as ReplicaOptions;
  }
  const group = parseGroup(options.group, `${where}: group`);
  const { join, ...rest } = options;
  const identity = options.identity;
  if (!identity || !(identity.publicKey instanceof Uint8Array)) throw new TypeError(`${where}: \`identity\` must come from generateIdentity() or importIdentity()`);
  const mine = group.members.find((m) => bytesEqual(fromBase64Url(m.publicKey), identity.publicKey));
  const ids = group.members.map((m) => m.id).join(', ');
  let runtimeGroup = group;
  if (join) {
    if (typeof options.id !== 'string' || options.id === '') throw new TypeError(`${where}: a joining replica needs its \`id\``);
    // A descriptor written by add-member lists the replica being added: it joins all the same,
    // starting from the other members (the group's log or checkpoints tell it the rest).
    if (mine && (mine.id !== options.id || group.adminNonce === undefined)) throw new TypeError(`${where}: \`join\` is set but the identity is already member ${mine.id} of the group`);
    if (!mine && group.members.some((m) => m.id === options.id)) throw new TypeError(`${where}: \`join\` is set but id ${options.id} is already a member (with another key)`);
    if (mine) runtimeGroup = { ...group, members: group.members.filter((m) => m.id !== mine.id) };
  } else {
    if (!mine) {
      throw new TypeError(`${where}: the identity (public key ${identity.id}) is not a member of the group (members: ${ids}); pass \`join: true\` and \`id\` for a replica joining a running group`);
    }
    if (options.id !== undefined && options.id !== mine.id) {
      throw new TypeError(`${where}: \`id\` is ${JSON.stringify(options.id)} but the identity is member ${mine.id}'s (members: ${ids})`);
    }
  }
  const transport = options.transport ?? transportFor(group, factory, where);
  // `join` goes on to createReplica, which refuses an id that is not a member without it.
  return { ...rest, ...(join ? { join: true } : { id: mine!.id }), group: groupConfig(runtimeGroup), transport };
}

/**
 * Client options from options with a descriptor (or the explicit ones, unchanged). Without a
 * descriptor there must be a `faultModel`: a crash-voting client against a Byzantine group
 * would accept a single reply.
 */
export function resolveClientOptions<TMachine extends AnyStateMachine = AnyStateMachine>(options: GroupClientOptions<TMachine>, factory?: TransportFactory, where = 'createClient'): ClientOptions<TMachine> {
  if (!options || typeof options !== 'object') throw new TypeError(`${where}: options are required`);
  if (options.group === undefined) {
    const { identity: _identity, group: _group, ...rest } = options;
    return rest as ClientOptions<TMachine>;
  }
  const group = parseGroup(options.group, `${where}: group`);
  const { group: _group, identity, ...rest } = options;
  const ids = group.members.map((m) => m.id);
  if (options.faultModel !== undefined && options.faultModel !== group.faultModel) {
    throw new TypeError(`${where}: faultModel ${JSON.stringify(options.faultModel)} contradicts the group's ${JSON.stringify(group.faultModel)} (leave it out: the group says it)`);
  }
  if (options.replicas !== undefined && (options.replicas.length !== ids.length || options.replicas.some((r, i) => r !== ids[i]))) {
    throw new TypeError(`${where}: replicas [${options.replicas.join(', ')}] contradict the group's members [${ids.join(', ')}] (leave them out: the group says them)`);
  }
  const keys = new Map(group.members.map((m) => [m.id, fromBase64Url(m.publicKey)]));
  let transport = options.transport;
  let id = options.id;
  if (!transport) {
    if (id !== undefined && identity !== undefined && id !== identity.id) throw new TypeError(`${where}: \`id\` must be the identity's id over WebRTC (leave it out)`);
    const make = (who: Identity) => transportFor(group, factory, where, { identity: who, peerKey: (peer) => keys.get(peer) });
    if (identity) {
      transport = make(identity);
      id = identity.id;
    } else {
      transport = deferredTransport(async () => make(await generateIdentity()));
      id = undefined;
    }
  }
  return { ...rest, ...(id !== undefined ? { id } : {}), transport, replicas: ids, faultModel: group.faultModel } as ClientOptions<TMachine>;
}

/**
 * A transport made when it starts (a client with no identity of its own gets a new one then:
 * generating it is asynchronous, createClient is not). Its `id` is known after start.
 */
function deferredTransport(make: () => Promise<Transport & { readonly id?: string }>): Transport & { readonly id: string } {
  let inner: (Transport & { readonly id?: string }) | undefined;
  let handler: ((from: string, bytes: Uint8Array) => unknown) | undefined;
  let closed = false;
  let starting: Promise<void> | undefined;
  return {
    get id() {
      return inner?.id ?? '';
    },
    send: (to, bytes) => inner?.send(to, bytes),
    onMessage: (h) => {
      handler = h;
      inner?.onMessage(h);
    },
    start: (context?: TransportContext) =>
      (starting ??= make().then(async (t) => {
        if (closed) return;
        inner = t;
        if (handler) t.onMessage(handler);
        await t.start?.(context);
      })),
    close: async () => {
      closed = true;
      await inner?.close?.();
    },
    connect: (peers) => inner?.connect?.(peers),
  };
}
