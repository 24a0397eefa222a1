// The group descriptor: everything a replica or client must agree on about a group, as one
// JSON file (group.json) and the same object in code. Keys are in the encoding exportIdentity
// and identity ids use (unpadded base64url of the 32-byte Ed25519 public key), so a file made
// by `statechorus init` and an object built from `exportIdentity(...).publicKey` are the same.

import { fromBase64Url, toBase64Url } from '../crypto/bytes.ts';
import { checkPublicKey } from '../crypto/strict.ts';
import { faultModelOf, isFaultModel } from '../fault-models/index.ts';
import type { FaultModel, GroupConfig } from '../replica/types.ts';

export interface GroupDescriptorMember {
  /** The member id replicas and clients use on the wire (e.g. "r1"). */
  id: string;
  /** Its Ed25519 public key, base64url (as `exportIdentity(identity).publicKey`). */
  publicKey: string;
}

export interface IceServerDescriptor {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface GroupDescriptor {
  /** 'crash' (Raft-style, 2f+1 members) or 'byzantine' (PBFT-style, 3f+1 members). No default. */
  faultModel: FaultModel;
  /** The initial members; later changes are ordered through the group's log. */
  members: GroupDescriptorMember[];
  /** The public key (base64url) whose signed commands add and remove replicas. */
  admin?: string;
  /** Signaling server URLs (ws:// or wss://); peers meet through any of them. */
  signaling?: string[];
  /** The room (topic) the group meets in on the signaling servers. */
  room?: string;
  /** STUN and TURN servers. */
  iceServers?: IceServerDescriptor[];
  /**
   * The nonce of the last admin-signed change written into this file (`statechorus add-member`,
   * `remove-member`): the members are then the group as changed, one replica at a time, so their
   * count need not be 2f+1 / 3f+1; the next command's nonce is above it.
   */
  adminNonce?: number;
}

/** What is wrong with a group descriptor (the message names the field and the cause). */
export class GroupDescriptorError extends TypeError {
  override name = 'GroupDescriptorError';
}

/** The most replicas that may fail in a group of `n` members of this model. */
export function faultsTolerated(faultModel: FaultModel, n: number): number {
  return faultModelOf(faultModel, 'faultsTolerated').maxFaulty(n);
}

/** Members a group of this model needs to tolerate `f` faults (2f+1 crash, 3f+1 byzantine). */
export function membersFor(faultModel: FaultModel, f: number): number {
  return faultModelOf(faultModel, 'membersFor').groupSize(f);
}

// Ids travel in addresses (`peer/endpoint`) and log lines: no '/', no whitespace, and 'admin'
// is the Byzantine admin key's reserved name.
const ID_PATTERN = /^[A-Za-z0-9._:@+=-]{1,64}$/;
const RESERVED_IDS = new Set(['admin']);

/** Decodes a base64url public key, or throws naming the field. */
export function decodePublicKey(text: unknown, field: string, where = 'group'): Uint8Array {
  if (typeof text !== 'string') throw new GroupDescriptorError(`${where}: ${field} must be a base64url public key string, got ${describe(text)}`);
  let key: Uint8Array;
  try {
    key = fromBase64Url(text);
  } catch (e) {
    throw new GroupDescriptorError(`${where}: ${field} is not base64url (${(e as Error).message}): ${JSON.stringify(text.slice(0, 60))}`);
  }
  if (key.length !== 32) throw new GroupDescriptorError(`${where}: ${field} must be a 32-byte Ed25519 public key (43 base64url characters), got ${key.length} bytes`);
  const rejection = checkPublicKey(key);
  if (rejection !== null) throw new GroupDescriptorError(`${where}: ${field} is not a usable Ed25519 public key (${rejection})`);
  return key;
}

function describe(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'string' ? JSON.stringify(x.slice(0, 60)) : typeof x;
}

const KNOWN_FIELDS = new Set(['faultModel', 'members', 'admin', 'signaling', 'room', 'iceServers', 'adminNonce']);

/**
 * A checked group descriptor from JSON text or an object (a descriptor in code, or parsed
 * JSON). Throws GroupDescriptorError naming the cause: unknown fault model, a member count
 * that is not 2f+1 (crash) / 3f+1 (byzantine), duplicate ids or keys, malformed keys or URLs.
 * `where` names the source in messages (a file path). The result is a frozen copy with
 * `signaling` always a list.
 */
export function parseGroup(input: string | GroupDescriptor | unknown, where = 'group'): GroupDescriptor {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new GroupDescriptorError(`${where}: not valid JSON (${(e as Error).message})`);
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new GroupDescriptorError(`${where}: a group descriptor must be an object, got ${describe(raw)}`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN_FIELDS.has(k)) throw new GroupDescriptorError(`${where}: unknown field ${JSON.stringify(k)} (known: ${[...KNOWN_FIELDS].join(', ')})`);

  const faultModel = o.faultModel;
  if (faultModel === undefined) throw new GroupDescriptorError(`${where}: faultModel is missing (expected "crash" or "byzantine"; there is no default)`);
  if (!isFaultModel(faultModel)) throw new GroupDescriptorError(`${where}: unknown faultModel ${describe(faultModel)} (expected "crash" or "byzantine")`);

  if (!Array.isArray(o.members) || o.members.length === 0) throw new GroupDescriptorError(`${where}: members must be a non-empty list of { id, publicKey }`);
  const members: GroupDescriptorMember[] = [];
  const ids = new Set<string>();
  const keys = new Map<string, string>();
  o.members.forEach((m: unknown, i: number) => {
    const member = m as Record<string, unknown> | null;
    if (!member || typeof member !== 'object' || Array.isArray(member)) throw new GroupDescriptorError(`${where}: members[${i}] must be an object { id, publicKey }`);
    const id = member.id;
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw new GroupDescriptorError(`${where}: members[${i}].id must be 1 to 64 letters, digits or . _ : @ + = - (no '/' or spaces), got ${describe(id)}`);
    if (RESERVED_IDS.has(id)) throw new GroupDescriptorError(`${where}: members[${i}].id ${JSON.stringify(id)} is reserved (the admin key's name)`);
    if (ids.has(id)) throw new GroupDescriptorError(`${where}: duplicate member id ${JSON.stringify(id)}`);
    ids.add(id);
    const key = toBase64Url(decodePublicKey(member.publicKey, `member ${id}'s publicKey`, where));
    const other = keys.get(key);
    if (other !== undefined) throw new GroupDescriptorError(`${where}: members ${other} and ${id} have the same public key (each replica needs its own identity)`);
    keys.set(key, id);
    members.push({ id, publicKey: key });
  });
  const model = faultModelOf(faultModel);
  const n = members.length;
  const f = model.maxFaulty(n);
  const adminNonce = o.adminNonce;
  if (adminNonce !== undefined && !(Number.isSafeInteger(adminNonce) && (adminNonce as number) >= 0)) throw new GroupDescriptorError(`${where}: adminNonce must be a whole number, got ${describe(adminNonce)}`);
  if (n !== model.groupSize(f) && adminNonce === undefined) {
    const shape = `${model.sizeRule} members (${[0, 1, 2, 3].map(model.groupSize).join(', ')}, …)`;
    throw new GroupDescriptorError(`${where}: a ${faultModel} group needs ${shape}; ${n} members tolerate no more faults than ${model.groupSize(f)} (f=${f})`);
  }

  const out: GroupDescriptor = { faultModel, members };
  if (o.admin !== undefined) {
    const admin = toBase64Url(decodePublicKey(o.admin, 'admin', where));
    const holder = keys.get(admin);
    if (holder !== undefined) throw new GroupDescriptorError(`${where}: the admin key is member ${holder}'s key (the admin must be a separate identity)`);
    out.admin = admin;
  }
  if (o.signaling !== undefined) {
    const urls = typeof o.signaling === 'string' ? [o.signaling] : o.signaling;
    if (!Array.isArray(urls) || urls.length === 0) throw new GroupDescriptorError(`${where}: signaling must be a ws:// or wss:// URL or a non-empty list of them`);
    for (const u of urls) {
      if (typeof u !== 'string' || !/^wss?:\/\/[^\s/]+/.test(u)) throw new GroupDescriptorError(`${where}: signaling URL ${describe(u)} is not a ws:// or wss:// URL`);
    }
    out.signaling = [...(urls as string[])];
  }
  if (o.room !== undefined) {
    if (typeof o.room !== 'string' || o.room === '' || o.room.length > 200) throw new GroupDescriptorError(`${where}: room must be a non-empty string of at most 200 characters, got ${describe(o.room)}`);
    out.room = o.room;
  }
  if (out.signaling && out.room === undefined) throw new GroupDescriptorError(`${where}: signaling is set but room is missing (the room the group meets in)`);
  if (o.iceServers !== undefined) {
    if (!Array.isArray(o.iceServers)) throw new GroupDescriptorError(`${where}: iceServers must be a list of { urls, username?, credential? }`);
    out.iceServers = o.iceServers.map((s: unknown, i: number) => {
      const server = s as Record<string, unknown> | null;
      const urls = server?.urls;
      const urlOk = (u: unknown) => typeof u === 'string' && /^(stun|stuns|turn|turns):/.test(u);
      if (!server || typeof server !== 'object' || !(urlOk(urls) || (Array.isArray(urls) && urls.length > 0 && urls.every(urlOk)))) {
        throw new GroupDescriptorError(`${where}: iceServers[${i}].urls must be a stun:/turn: URL or a list of them`);
      }
      for (const k of ['username', 'credential'] as const) {
        if (server[k] !== undefined && typeof server[k] !== 'string') throw new GroupDescriptorError(`${where}: iceServers[${i}].${k} must be a string`);
      }
      return { ...(server as unknown as IceServerDescriptor), urls: Array.isArray(urls) ? [...(urls as string[])] : (urls as string) };
    });
  }
  if (adminNonce !== undefined) out.adminNonce = adminNonce as number;
  return deepFreeze(out);
}

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object') {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

/** Whether a `group` option is a descriptor (keys as strings) rather than a GroupConfig (keys as bytes). */
export function isGroupDescriptor(group: unknown): group is GroupDescriptor {
  const members = (group as { members?: unknown } | null)?.members;
  return Array.isArray(members) && members.length > 0 && typeof (members[0] as { publicKey?: unknown } | null)?.publicKey === 'string';
}

/** The replica runtime's view of a descriptor: keys as bytes. */
export function groupConfig(group: GroupDescriptor): GroupConfig {
  const config: GroupConfig = { faultModel: group.faultModel, members: group.members.map((m) => ({ id: m.id, publicKey: fromBase64Url(m.publicKey) })) };
  if (group.admin !== undefined) config.admin = fromBase64Url(group.admin);
  return config;
}

/** The descriptor as group.json text (two-space indented, trailing newline). */
export function stringifyGroup(group: GroupDescriptor): string {
  return JSON.stringify(parseGroup(group), null, 2) + '\n';
}
