// What a transport can say about why nothing gets through: the signaling servers' state, each
// peer's link, and who announced in the room (and why their announces were refused). Replicas
// show it in status(); a client turns it into an error naming the cause (NoLinkError) instead of
// a bare timeout.

import type { SignalingState } from './signaling-client.ts';

export type { SignalingState };

/** The reason of a peer whose connection is being set up right now (no cause to report yet). */
export const HANDSHAKING = 'connection in progress';

export interface PeerLinkState {
  id: string;
  /** `failed`: the last attempt failed (it is retried) or the peer's signaling failed the key check. */
  state: 'up' | 'connecting' | 'failed';
  /** Why it is not up: `not seen in the room yet`, `key check failed: …`, `connect timeout`, … */
  reason?: string;
  /** Messages handed to a link to this peer (0: nothing ever left for it). */
  sent: number;
}

/** A peer heard announcing in the room; the id is what it claimed, checked only if `keyCheck` is `ok`. */
export interface AnnouncedPeer {
  id: string;
  /** A replica (others dial it) or a client. */
  serves: boolean;
  /** `ok`, or why its signed messages were refused. */
  keyCheck: string;
}

export interface TransportDiagnostics {
  room: string;
  signaling: SignalingState[];
  /** Peers this transport dials or has a link with. */
  peers: PeerLinkState[];
  /** Recently heard announcers (at most the last 64). */
  announced: AnnouncedPeer[];
}

/** A transport could not reach any signaling server: the URLs and what each reported. */
export class SignalingUnreachableError extends Error {
  override name = 'SignalingUnreachableError';
  constructor(readonly servers: SignalingState[], waitedMs: number) {
    super(`cannot reach any signaling server within ${waitedMs} ms: ${servers.map((s) => `${s.url}: ${s.lastError ?? 'no answer'}`).join('; ')}`);
  }
}

/**
 * The client had no link to any replica for a while and nothing it sent left this process for a
 * replica (the queued copies were discarded): the request was certainly not applied.
 */
export class NoLinkError extends Error {
  override name = 'NoLinkError';
  constructor(message: string, readonly diagnostics: TransportDiagnostics) {
    super(message);
  }
}

/** A sentence on why `replicas` cannot be reached, from the transport's diagnostics. */
export function explainNoLink(d: TransportDiagnostics, replicas: readonly string[]): string {
  const parts: string[] = [];
  const up = d.signaling.filter((s) => s.state === 'connected');
  if (up.length === 0) {
    parts.push(`no signaling server connected (${d.signaling.map((s) => `${s.url}: ${s.lastError ?? s.state}`).join('; ')})`);
  }
  const servers = d.announced.filter((a) => a.serves);
  if (servers.length === 0) {
    if (up.length > 0) parts.push(`room '${d.room}' on ${up.map((s) => s.url).join(', ')} is empty: no replica announced itself`);
  } else {
    parts.push(`announced in room '${d.room}': ${servers.map((a) => (a.keyCheck === 'ok' ? a.id : `${a.id} (key check failed: ${a.keyCheck})`)).join(', ')}`);
  }
  const links = replicas.map((id) => {
    const p = d.peers.find((x) => x.id === id);
    // A failed key check is spelled out in the announced list already.
    const reason = p?.reason?.startsWith('key check failed') && servers.some((a) => a.id === id) ? 'key check failed' : p?.reason;
    return `${id} ${p ? p.state + (reason ? ` (${reason})` : '') : 'not dialled'}`;
  });
  parts.push(`links: ${links.join(', ')}`);
  return parts.join('; ');
}
