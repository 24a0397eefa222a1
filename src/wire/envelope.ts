import { decode, DEFAULT_MAX_SIZE, encode } from '../codec/index.ts';
import { verify, type Identity } from '../crypto/index.ts';
import { wireLimits } from './limits.ts';

/**
 * Every message on the wire is an envelope: `{ p: payload bytes, s?: signature, x?: attachments }`,
 * where the payload is the canonical encoding of `{ f: from, t: to, k: kind, m: body }`.
 * Attachments are unsigned bytes that the signed payload binds by digest (the Byzantine
 * protocol's batches travel this way, so a signed pre-prepare stays small enough to be quoted
 * in certificates).
 *
 * - Replica-to-replica protocol messages are signed by the sender over the payload bytes
 *   (one signature per message, and a message carries a batch), and checked at ingress
 *   against the sender's key from the group's member list.
 * - Client requests and replies are authenticated by the link they arrive on (the transport
 *   names the peer: the simulated network truthfully, WebRTC through signed session
 *   descriptions), so the per-request path carries no signature work. The claimed sender
 *   must equal the link's peer.
 *
 * - `reconfigure` carries an admin-signed command in its body (`{ id, command: { p, s } }`) from
 *   any peer (the admin's signature, not the link, authorizes it); `reconfigureReply` answers.
 *
 * `to` is inside the signed payload, so a signed message cannot be replayed to another replica;
 * `'*'` addresses every member at once (one signature for a broadcast).
 */
export type WireKind = 'protocol' | 'request' | 'read' | 'reply' | 'readReply' | 'redirect' | 'error' | 'digest' | 'status' | 'statusReply' | 'reconfigure' | 'reconfigureReply';

export interface WireMessage {
  from: string;
  to: string;
  kind: WireKind;
  body: unknown;
}

export type IngressDrop =
  | 'too-large'
  | 'undecodable'
  | 'malformed'
  | 'wrong-recipient'
  | 'unknown-sender'
  | 'spoofed-sender'
  | 'unsigned'
  | 'bad-signature';

export type IngressResult =
  | { ok: true; message: WireMessage; signed: boolean; proof?: { p: Uint8Array; s: Uint8Array }; attachments: Uint8Array[] }
  | { ok: false; drop: IngressDrop };

/** Recipient of a signed broadcast. */
export const BROADCAST = '*';
const MAX_ATTACHMENTS = 1024;

const KINDS = new Set<WireKind>(['protocol', 'request', 'read', 'reply', 'readReply', 'redirect', 'error', 'digest', 'status', 'statusReply', 'reconfigure', 'reconfigureReply']);

/** Kinds that must carry a member's signature. */
const SIGNED_KINDS = new Set<WireKind>(['protocol', 'digest']);

/**
 * The envelope's bytes. `maxBytes` is the message limit of the transport (replicas pass
 * `tuning.maxMessageBytes`; default 1 MiB): a larger message throws CodecError 'too-large'
 * before anything is signed or sent.
 */
export async function seal(message: WireMessage, signer?: Identity, attachments?: Uint8Array[], maxBytes = DEFAULT_MAX_SIZE): Promise<Uint8Array> {
  return (await sealWithProof(message, signer, attachments, maxBytes)).bytes;
}

/** Seals and also returns the signed payload and signature (the sender's own proof of what it said). */
export async function sealWithProof(message: WireMessage, signer?: Identity, attachments?: Uint8Array[], maxBytes = DEFAULT_MAX_SIZE): Promise<{ bytes: Uint8Array; p: Uint8Array; s?: Uint8Array }> {
  const limits = wireLimits(maxBytes);
  const payload = encode({ f: message.from, t: message.to, k: message.kind, m: message.body as never }, limits);
  const x = attachments && attachments.length ? { x: attachments } : {};
  if (!SIGNED_KINDS.has(message.kind)) return { bytes: encode({ p: payload, ...x }, limits), p: payload };
  if (!signer) throw new Error(`a ${message.kind} message must be signed`);
  // The payload alone over the limit throws above, before any signature work.
  const s = await signer.sign(payload);
  return { bytes: encode({ p: payload, s, ...x }, limits), p: payload, s };
}

/** Re-wraps signed payload bytes with another signature or other attachments (extra envelopes of one message; simulated corrupt signatures). */
export function rewrap(p: Uint8Array, s: Uint8Array, attachments?: Uint8Array[], maxBytes = Number.MAX_SAFE_INTEGER): Uint8Array {
  return encode({ p, s, ...(attachments && attachments.length ? { x: attachments } : {}) }, wireLimits(maxBytes));
}

export interface IngressOptions {
  /** Our own id: messages addressed elsewhere are dropped. */
  self: string;
  /** Public keys of the replicas whose signatures we accept. */
  memberKey(id: string): Uint8Array | undefined;
  maxBytes: number;
}

/**
 * Decodes and authenticates an incoming envelope. `linkPeer` is who the transport says sent
 * it. Never throws: every rejection is a typed drop reason for the counters.
 */
export async function open(bytes: Uint8Array, linkPeer: string, options: IngressOptions): Promise<IngressResult> {
  if (!(bytes instanceof Uint8Array) || bytes.length > options.maxBytes) return { ok: false, drop: 'too-large' };
  const outer = decode(bytes, wireLimits(options.maxBytes));
  if (!outer.ok) return { ok: false, drop: 'undecodable' };
  const env = outer.value as Record<string, unknown> | null;
  if (!isRecord(env) || !(env.p instanceof Uint8Array) || (env.s !== undefined && !(env.s instanceof Uint8Array))) {
    return { ok: false, drop: 'malformed' };
  }
  const attachments = env.x === undefined ? [] : env.x;
  if (!Array.isArray(attachments) || attachments.length > MAX_ATTACHMENTS || !attachments.every((a) => a instanceof Uint8Array)) return { ok: false, drop: 'malformed' };
  const inner = decode(env.p, wireLimits(options.maxBytes));
  if (!inner.ok) return { ok: false, drop: 'undecodable' };
  const p = inner.value as Record<string, unknown> | null;
  if (!isRecord(p) || typeof p.f !== 'string' || typeof p.t !== 'string' || !KINDS.has(p.k as WireKind) || !('m' in p)) {
    return { ok: false, drop: 'malformed' };
  }
  const message: WireMessage = { from: p.f, to: p.t, kind: p.k as WireKind, body: p.m };
  if (message.to !== options.self && !(message.to === BROADCAST && SIGNED_KINDS.has(message.kind))) return { ok: false, drop: 'wrong-recipient' };
  if (SIGNED_KINDS.has(message.kind)) {
    const key = options.memberKey(message.from);
    if (!key) return { ok: false, drop: 'unknown-sender' };
    if (!(env.s instanceof Uint8Array)) return { ok: false, drop: 'unsigned' };
    if (!(await verify(key, env.p, env.s))) return { ok: false, drop: 'bad-signature' };
    return { ok: true, message, signed: true, proof: { p: env.p, s: env.s }, attachments: attachments as Uint8Array[] };
  }
  if (message.from !== linkPeer) return { ok: false, drop: 'spoofed-sender' };
  return { ok: true, message, signed: false, attachments: attachments as Uint8Array[] };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}
