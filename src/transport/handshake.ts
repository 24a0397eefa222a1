// Signed signaling messages. The signaling server is untrusted: every announce, offer and
// answer is signed with the sender's identity key, so a relay cannot forge, alter or redirect
// them. The session descriptions carry the DTLS certificate fingerprints, so once both sides
// accept only signed descriptions, no relay can sit in the middle of the data channel.

import { verify, type Identity } from '../crypto/index.ts';
import { bytesEqual, fromBase64Url, publicKeyToId, toBase64Url } from '../crypto/bytes.ts';

const utf8 = new TextEncoder();
const utf8Encode = (s: string): Uint8Array => utf8.encode(s);

/** What every signed signaling message says about its sender. */
interface SignedHeader {
  room: string;
  from: string;
  /** The sender's public key, base64url. */
  key: string;
  /** Random per transport start: a restarted peer has a new session. */
  session: string;
  /** The sender's wall clock when the session started (ms): newer sessions win. */
  t: number;
  /** Counter within the session: replays are dropped. */
  n: number;
}

export interface Announce extends SignedHeader {
  kind: 'announce';
  /** A replica's transport serves (others dial it); a client's does not, so clients ignore each other. */
  serves: boolean;
  /** Peers the sender wants but has no link to: they answer with their own announce. */
  seeking: string[];
}

export interface SessionSignal extends SignedHeader {
  kind: 'signal';
  to: string;
  /** The recipient's session this is for: a signal replayed into a later session is dropped. */
  toSession: string;
  /** Names one connection attempt, so a stale answer cannot complete a newer dial. */
  attempt: string;
  description: { type: 'offer' | 'answer'; sdp: string };
}

export type SignalingBody = Announce | SessionSignal;

/** The object published to the room (inside y-webrtc's `publish` message as `data`). */
export interface SignedEnvelope {
  statechorus: 1;
  body: string;
  sig: string;
}

const DOMAIN = 'statechorus/signaling/v1\n';
/** Ids an announce may ask for (a client seeks its replicas, a replica the group's members). */
export const MAX_SEEKING = 64;
/** Session descriptions with all candidates are a few KiB; anything far larger is refused. */
export const MAX_BODY_CHARS = 32 * 1024;

export async function signBody(identity: Identity, body: SignalingBody): Promise<SignedEnvelope> {
  const text = JSON.stringify(body);
  const sig = await identity.sign(utf8Encode(DOMAIN + text));
  return { statechorus: 1, body: text, sig: toBase64Url(sig) };
}

export type OpenResult =
  | { ok: true; body: SignalingBody; publicKey: Uint8Array }
  | { ok: false; reason: 'malformed' | 'wrongRoom' }
  /** `claimed`: what the unverified message says, for diagnostics only (never acted on). */
  | { ok: false; reason: 'badSignature' | 'unknownSender'; claimed: Claimed };

/** Who a refused message claims to be, and why it was refused (diagnostics: which peer failed the key check). */
export interface Claimed {
  from: string;
  announce: boolean;
  serves: boolean;
  problem: string;
}

/**
 * Checks a published object: shape, room, signature, and that the key may speak for `from`
 * (the key `peerKey` gives for that id, or, for an id nobody registered, the id derived from the
 * key itself, as clients' ids are). Never throws.
 */
export async function openEnvelope(
  data: unknown,
  room: string,
  peerKey: (id: string) => Uint8Array | undefined,
): Promise<OpenResult> {
  const body = parseBody(data);
  if (body === undefined) return { ok: false, reason: 'malformed' };
  if (body.room !== room) return { ok: false, reason: 'wrongRoom' };
  let publicKey: Uint8Array;
  let sig: Uint8Array;
  try {
    publicKey = fromBase64Url(body.key);
    sig = fromBase64Url((data as SignedEnvelope).sig);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (publicKey.length !== 32 || sig.length !== 64) return { ok: false, reason: 'malformed' };
  const registered = peerKey(body.from);
  const allowed = registered !== undefined ? bytesEqual(registered, publicKey) : publicKeyToId(publicKey) === body.from;
  const claimed = (problem: string): Claimed => ({ from: body.from, announce: body.kind === 'announce', serves: body.kind === 'announce' && body.serves, problem });
  if (!allowed) {
    const problem =
      registered !== undefined
        ? `its key ${body.key.slice(0, 10)}… is not the key configured for ${body.from}`
        : `no key configured for ${body.from} (pass it through peerKey / the group's members) and the id is not derived from its key`;
    return { ok: false, reason: 'unknownSender', claimed: claimed(problem) };
  }
  const good = await verify(publicKey, utf8Encode(DOMAIN + (data as SignedEnvelope).body), sig);
  if (!good) return { ok: false, reason: 'badSignature', claimed: claimed('bad signature') };
  return { ok: true, body, publicKey };
}

const str = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseBody(data: unknown): SignalingBody | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const env = data as Partial<SignedEnvelope>;
  if (env.statechorus !== 1 || !str(env.sig, 200) || !str(env.body, MAX_BODY_CHARS)) return undefined;
  let b: Record<string, unknown>;
  try {
    b = JSON.parse(env.body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof b !== 'object' || b === null) return undefined;
  if (!str(b.room) || !str(b.from) || !str(b.key, 100) || !str(b.session, 64) || !count(b.t) || !count(b.n)) return undefined;
  if (b.kind === 'announce') {
    const seeking = b.seeking;
    const ok = typeof b.serves === 'boolean' && Array.isArray(seeking) && seeking.length <= MAX_SEEKING && seeking.every((id) => str(id));
    return ok ? (b as unknown as Announce) : undefined;
  }
  if (b.kind !== 'signal' || !str(b.to) || !str(b.toSession, 64) || !str(b.attempt, 64)) return undefined;
  const d = b.description as Record<string, unknown> | undefined;
  if (typeof d !== 'object' || d === null || (d.type !== 'offer' && d.type !== 'answer') || !str(d.sdp, MAX_BODY_CHARS)) return undefined;
  return b as unknown as SessionSignal;
}

/** Tracks each sender's newest session and counter, so replayed signaling is dropped. */
export class Freshness {
  readonly #latest = new Map<string, { session: string; t: number; n: number }>();

  /**
   * True if this message is newer than everything seen from its sender (and records it). Within
   * a session the counter decides; a different session must have started later by the sender's
   * clock, unless `takeAnySession` (the caller has no live link to the sender: a clock stepped
   * back must not lock a restarted peer out).
   */
  accept(body: SignedHeader, takeAnySession = false): boolean {
    const seen = this.#latest.get(body.from);
    if (seen !== undefined) {
      if (seen.session === body.session ? body.n <= seen.n : body.t <= seen.t && !takeAnySession) return false;
    }
    this.#latest.set(body.from, { session: body.session, t: body.t, n: body.n });
    return true;
  }

  forget(id: string): void {
    this.#latest.delete(id);
  }
}

export function randomToken(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(12)));
}
