// The WebRTC transport: a data channel to each peer, met through an untrusted signaling
// server. Peers dial the peers they want (a replica: the group's members; a client: the
// replicas it sends to); when two dial each other at once, the offer of the lower id wins
// (the higher one answers it and drops its own). Lost links are redialled with backoff.
// Every signaling message is signed (handshake.ts), so the ids this transport reports are
// authenticated.

import type { Identity } from '../crypto/index.ts';
import { toBase64Url } from '../crypto/bytes.ts';
import { Freshness, MAX_SEEKING, openEnvelope, randomToken, signBody, type Announce, type SessionSignal, type SignalingBody } from './handshake.ts';
import { addressMessage, isValidEndpoint, joinAddress, MAX_ENDPOINT_CHARS, readAddressed, splitAddress } from './address.ts';
import { Link } from './link.ts';
import { SignalingConnection, type WebSocketConstructor } from './signaling-client.ts';
import { HANDSHAKING, SignalingUnreachableError, type AnnouncedPeer, type PeerLinkState, type TransportDiagnostics } from './diagnostics.ts';
import type { Transport, TransportContext } from './types.ts';

export interface WebrtcTransportOptions {
  /** Signaling server URL(s) (ws:// or wss://); with several, peers meet through any of them. */
  signaling: string | string[];
  /** The room (y-webrtc topic) the group meets in. */
  room: string;
  /** This peer's identity. A replica passes its own when it starts the transport; a client sets it here. */
  identity?: Identity;
  /**
   * The public key a peer id must have (a group's members). Ids nobody registered are accepted
   * only when they are derived from the peer's own key (as clients' identity ids are).
   */
  peerKey?: (id: string) => Uint8Array | undefined;
  /** STUN and TURN servers; none by default (host candidates: same machine or LAN). */
  iceServers?: RTCIceServer[];
  /** 'relay' forces every connection through a TURN server. */
  iceTransportPolicy?: 'all' | 'relay';
  /** RTCPeerConnection and friends; browsers have them, Node and Deno take them from @roamhq/wrtc. */
  wrtc?: unknown;
  /** WebSocket constructor; defaults to the global one. */
  WebSocket?: WebSocketConstructor;
  /** Larger incoming messages are dropped (default 16 MiB). */
  maxMessageBytes?: number;
  /** Per peer, bytes waiting for the channel (default 64 MiB); beyond it messages are dropped. */
  maxQueuedBytes?: number;
  /** Links to peers we did not ask for (clients), at most (default 512). */
  maxStrangerLinks?: number;
  /** A dial not up after this long is abandoned and retried (default 15 s). */
  connectTimeoutMs?: number;
  /** A link silent this long is dead and redialled (default 15 s; keepalives every 2 s). */
  deadAfterMs?: number;
  /**
   * `start()` rejects with SignalingUnreachableError (naming each URL and its error) when no
   * signaling server accepted a connection within this long (default 5 s). Later losses are
   * retried and shown in `diagnostics()`, never thrown.
   */
  signalingTimeoutMs?: number;
}

export interface TransportStats {
  /** Peers with a link that has carried messages both ways. */
  linksUp: number;
  /** Dials and answers started. */
  connectionAttempts: number;
  /** Links that went down (closed, failed, dead). */
  linksLost: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Dropped input and output, by reason. */
  dropped: Record<string, number>;
}

interface PeerState {
  id: string;
  /** The peer's current signaling session, learnt from its signed messages. */
  session?: string;
  link?: Link;
  /** Messages for the peer while it has no link up. */
  waiting: Uint8Array[];
  waitingBytes: number;
  /** We dial it (and redial after losing it); peers that dial us need not be wanted. */
  wanted: boolean;
  /** Members stay wanted; peers we only replied to are forgotten after a while. */
  pinned: boolean;
  lastWantedAt: number;
  backoffMs: number;
  retry?: ReturnType<typeof setTimeout>;
  /** Messages delivered to the handler and not finished yet. */
  pendingDeliveries: number;
  /** Messages handed to a link (diagnostics: 0 means nothing ever left for this peer). */
  sent: number;
  /** Why the last link went down or the last dial failed. */
  lastFailure?: string;
  /** Why its last signaling message was refused (unknown key, key mismatch, bad signature). */
  keyProblem?: string;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const ANNOUNCE_MIN_GAP_MS = 1_000;
const ANNOUNCE_EVERY_MS = 5_000;
/** A peer that is not a member and was not sent anything for this long is no longer dialled. */
const FORGET_UNPINNED_MS = 60_000;
/** Connections in progress that peers we did not ask for may have at once. */
const MAX_STRANGER_HANDSHAKES = 16;
/** Deliveries a peer may have unfinished at our handler (a replica verifying and queueing them). */
const MAX_PENDING_DELIVERIES = 4_096;
/** Announcers remembered for diagnostics. */
const MAX_ANNOUNCED = 64;

export function webrtcTransport(options: WebrtcTransportOptions): WebrtcTransport {
  return new WebrtcTransport(options);
}

export class WebrtcTransport implements Transport {
  readonly #options: Required<Pick<WebrtcTransportOptions, 'maxMessageBytes' | 'maxQueuedBytes' | 'connectTimeoutMs' | 'deadAfterMs' | 'maxStrangerLinks' | 'signalingTimeoutMs'>> & WebrtcTransportOptions;
  /** Who announced in the room lately (claimed ids; for diagnostics only), oldest first. */
  readonly #announced = new Map<string, AnnouncedPeer>();
  #identity: Identity | undefined;
  #id = '';
  #peerKey: (id: string) => Uint8Array | undefined = () => undefined;
  #handler: ((from: string, bytes: Uint8Array) => unknown) | undefined;
  readonly #peers = new Map<string, PeerState>();
  #servers: SignalingConnection[] = [];
  readonly #session = randomToken();
  readonly #sessionStart = Date.now();
  #counter = 0;
  readonly #freshness = new Freshness();
  #lastAnnounce = 0;
  #publishing: Promise<void> = Promise.resolve();
  #announceTimer: ReturnType<typeof setTimeout> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #started = false;
  #startPromise: Promise<void> | undefined;
  readonly #endpoints = new Map<string, { onMessage: ((from: string, bytes: Uint8Array) => unknown) | undefined }>();
  /** Started by a replica (with a context): other peers dial it. */
  #serves = false;
  #closed = false;
  readonly #stats: TransportStats = { linksUp: 0, connectionAttempts: 0, linksLost: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, dropped: {} };

  constructor(options: WebrtcTransportOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('webrtcTransport: options are required');
    const urls = typeof options.signaling === 'string' ? [options.signaling] : options.signaling;
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && /^wss?:\/\//.test(u))) {
      throw new TypeError('webrtcTransport: `signaling` must be a ws:// or wss:// URL (or a list of them)');
    }
    if (typeof options.room !== 'string' || options.room === '' || options.room.length > 200) {
      throw new TypeError('webrtcTransport: `room` must be a non-empty string of at most 200 characters');
    }
    if (options.iceTransportPolicy !== undefined && options.iceTransportPolicy !== 'all' && options.iceTransportPolicy !== 'relay') {
      throw new TypeError("webrtcTransport: `iceTransportPolicy` must be 'all' or 'relay'");
    }
    this.#options = { maxMessageBytes: 16 * 1024 * 1024, maxQueuedBytes: 64 * 1024 * 1024, connectTimeoutMs: 15_000, deadAfterMs: 15_000, maxStrangerLinks: 512, signalingTimeoutMs: 5_000, ...options };
    this.#identity = options.identity;
    this.#id = options.identity?.id ?? '';
    if (options.peerKey) this.#peerKey = options.peerKey;
  }

  /** This peer's id (after start). */
  get id(): string {
    return this.#id;
  }

  stats(): TransportStats {
    let linksUp = 0;
    for (const p of this.#peers.values()) if (p.link?.isUp) linksUp++;
    return { ...this.#stats, linksUp, dropped: { ...this.#stats.dropped } };
  }

  /** Signaling servers, links and announcers: why a peer is or is not reachable. */
  diagnostics(): TransportDiagnostics {
    const peers: PeerLinkState[] = [];
    for (const p of this.#peers.values()) {
      if (!p.wanted && !p.link) continue;
      peers.push({ id: p.id, ...linkState(p), sent: p.sent });
    }
    peers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { room: this.#options.room, signaling: this.#servers.map((s) => s.state()), peers, announced: [...this.#announced.values()].map((a) => ({ ...a })) };
  }

  /**
   * Drops the messages waiting for a link to these peers (never sent, so never received): a
   * client that gives a request up as not applied makes sure no queued copy leaves later.
   */
  discardWaiting(ids: Iterable<string>): void {
    for (const id of ids) {
      const peer = this.#peers.get(id);
      if (!peer) continue;
      peer.waiting = [];
      peer.waitingBytes = 0;
    }
  }

  /** Ids of peers whose link is up. */
  connectedPeers(): string[] {
    return [...this.#peers.values()].filter((p) => p.link?.isUp).map((p) => p.id).sort();
  }

  onMessage(handler: (from: string, bytes: Uint8Array) => unknown): void {
    this.#handler = handler;
  }

  start(context?: TransportContext): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('webrtcTransport: closed; make a new transport to connect again'));
    return (this.#startPromise ??= this.#start(context));
  }

  async #start(context?: TransportContext): Promise<void> {
    const identity = this.#options.identity ?? context?.identity;
    if (!identity) throw new TypeError('webrtcTransport: an `identity` is required (a replica passes its own; a client sets one)');
    this.#identity = identity;
    this.#id = context?.id ?? identity.id;
    if (!this.#options.peerKey && context?.peerKey) this.#peerKey = context.peerKey;
    this.#serves = context !== undefined;
    const WebSocketImpl = this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) throw new TypeError('webrtcTransport: no WebSocket in this runtime; pass the `WebSocket` option');
    this.#started = true;
    for (const id of context?.peers ?? []) this.#want(id, true);
    const urls = typeof this.#options.signaling === 'string' ? [this.#options.signaling] : this.#options.signaling;
    this.#servers = urls.map(
      (url) =>
        new SignalingConnection(url, this.#options.room, WebSocketImpl, {
          onData: (data) => void this.#onSignaling(data),
          onOpen: () => void this.#announce(true),
          onBadFrame: () => this.#drop('signalingBadFrame'),
        }),
    );
    this.#timer = setInterval(() => this.#housekeeping(), 1_000);
    await this.#firstSignaling();
  }

  /** Resolves once a signaling server is open; rejects (and closes) if none opens in time. */
  #firstSignaling(): Promise<void> {
    const waitMs = this.#options.signalingTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (this.#closed || this.#servers.some((s) => s.open)) done();
      }, 20);
      const deadline = setTimeout(() => {
        if (this.#servers.some((s) => s.open) || this.#closed) return done();
        clearInterval(check);
        const err = new SignalingUnreachableError(this.#servers.map((s) => s.state()), waitMs);
        void this.close();
        reject(err);
      }, waitMs);
      const done = () => {
        clearInterval(check);
        clearTimeout(deadline);
        resolve();
      };
    });
  }

  /** Sends to a peer id, or to an endpoint of a peer (`peer/endpoint`). */
  send(to: string, bytes: Uint8Array): void {
    this.#sendFrom('', to, bytes);
  }

  /**
   * Another logical peer on this transport's connections: it sends as `<this id>/<name>` and
   * receives what is sent to that address. A process can run hundreds of clients this way
   * over one connection to each replica (a connection costs threads and file descriptors).
   */
  endpoint(name: string): Transport & { readonly id: string } {
    if (!isValidEndpoint(name)) throw new TypeError(`webrtcTransport.endpoint: a name of 1 to ${MAX_ENDPOINT_CHARS} characters without '/' is required`);
    if (this.#endpoints.has(name)) throw new TypeError(`webrtcTransport.endpoint: ${name} is taken`);
    const handlers = { onMessage: undefined as ((from: string, bytes: Uint8Array) => unknown) | undefined };
    this.#endpoints.set(name, handlers);
    const address = () => (this.#id === '' ? '' : joinAddress(this.#id, name));
    return {
      get id() {
        return address();
      },
      send: (to, bytes) => this.#sendFrom(name, to, bytes),
      onMessage: (handler) => void (handlers.onMessage = handler),
      start: () => (this.#startPromise ??= this.start()),
      close: async () => void this.#endpoints.delete(name),
    };
  }

  #sendFrom(fromEndpoint: string, to: string, bytes: Uint8Array): void {
    const { peer: peerId, endpoint } = splitAddress(to);
    if (this.#closed || !this.#started || peerId === '') return;
    const message = addressMessage(fromEndpoint, endpoint, bytes);
    if (peerId === this.#id) {
      // An endpoint and its own peer (a tab's client and the tab's replica) talk without a link,
      // asynchronously like the network. A peer's message to itself stays dropped.
      if (fromEndpoint !== endpoint) queueMicrotask(() => this.#closed || this.#deliver(this.#id, message));
      return;
    }
    const peer = this.#want(peerId, false);
    this.#stats.messagesOut++;
    this.#stats.bytesOut += bytes.length;
    if (peer.link?.isUp) {
      peer.sent++;
      return peer.link.send(message);
    }
    if (peer.waitingBytes + message.length > this.#options.maxQueuedBytes) return this.#drop('sendQueueFull');
    peer.waiting.push(message);
    peer.waitingBytes += message.length;
    this.#dial(peer);
  }

  /** Adds peers to dial and keep connected (a replica's members change over time). */
  connect(ids: Iterable<string>): void {
    for (const id of ids) {
      if (id === this.#id) continue;
      const peer = this.#want(id, true);
      if (this.#started && !this.#closed) this.#dial(peer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#announceTimer);
    for (const peer of this.#peers.values()) {
      clearTimeout(peer.retry);
      peer.link?.close('transport closed');
    }
    for (const s of this.#servers) s.close();
  }

  #drop(reason: string): void {
    this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + 1;
  }

  #peer(id: string): PeerState {
    let peer = this.#peers.get(id);
    if (!peer) {
      peer = { id, waiting: [], waitingBytes: 0, wanted: false, pinned: false, lastWantedAt: 0, backoffMs: BACKOFF_MIN_MS, pendingDeliveries: 0, sent: 0 };
      this.#peers.set(id, peer);
    }
    return peer;
  }

  #want(id: string, pinned: boolean): PeerState {
    const peer = this.#peer(id);
    peer.wanted = true;
    peer.pinned ||= pinned;
    peer.lastWantedAt = Date.now();
    return peer;
  }

  // --- signaling ---------------------------------------------------------------------------

  /**
   * Signs and publishes in the order called: receivers drop a counter that is not higher than
   * the last they saw, and signatures can finish out of order on a thread pool.
   */
  #publish(body: SignalingBody): Promise<void> {
    const identity = this.#identity!;
    this.#publishing = this.#publishing.then(async () => {
      const envelope = await signBody(identity, body);
      // With no server connection open the message is lost; announces repeat and dials time out.
      if (!this.#closed) for (const s of this.#servers) s.publish(envelope);
    }).catch(() => this.#drop('signingFailed'));
    return this.#publishing;
  }

  #header(): { room: string; from: string; key: string; session: string; t: number; n: number } {
    return { room: this.#options.room, from: this.#id, key: keyText(this.#identity!), session: this.#session, t: this.#sessionStart, n: ++this.#counter };
  }

  /** Announces now, or (to bound the rate) as soon as the last announce is a gap old. */
  async #announce(force = false): Promise<void> {
    const wait = this.#lastAnnounce + ANNOUNCE_MIN_GAP_MS - Date.now();
    if (!force && wait > 0) {
      this.#announceTimer ??= setTimeout(() => {
        this.#announceTimer = undefined;
        if (!this.#closed) void this.#announce();
      }, wait);
      return;
    }
    this.#lastAnnounce = Date.now();
    const seeking: string[] = [];
    for (const p of this.#peers.values()) if (p.wanted && !p.link?.isUp && seeking.length < MAX_SEEKING) seeking.push(p.id);
    await this.#publish({ kind: 'announce', ...this.#header(), serves: this.#serves, seeking });
  }

  async #onSignaling(data: unknown): Promise<void> {
    if (this.#closed) return;
    // Our own messages come back from the server (y-webrtc relays to the sender too).
    if (isOwn(data, this.#session)) return;
    const opened = await openEnvelope(data, this.#options.room, this.#peerKey);
    if (this.#closed) return;
    if (!opened.ok) {
      if ('claimed' in opened) this.#refused(opened.claimed);
      return this.#drop(`signaling:${opened.reason}`);
    }
    const body = opened.body;
    this.#heard(body.from, body.kind === 'announce' ? body.serves : undefined, 'ok');
    const known = this.#peers.get(body.from);
    if (known) known.keyProblem = undefined;
    if (body.from === this.#id) return this.#drop('signaling:impersonatesUs');
    if (body.from.includes('/')) return this.#drop('signaling:malformed');
    if (body.kind === 'signal' && (body.to !== this.#id || body.toSession !== this.#session)) {
      // For someone else, or for an earlier session of ours (a replay). Not a drop worth
      // counting when it is simply addressed to another peer in the room.
      if (body.to === this.#id) this.#drop('signaling:staleSession');
      return;
    }
    // A new session whose clock reads earlier (the peer's clock stepped back) is still taken
    // when we have no live link to the old one: a replayed old session costs only a failed dial.
    const live = this.#peers.get(body.from)?.link?.isUp === true;
    if (!this.#freshness.accept(body, !live)) return this.#drop('signaling:replay');
    if (body.kind === 'announce') this.#onAnnounce(body);
    else this.#onSignal(body);
  }

  /** Remembers who announced (bounded; oldest forgotten first). */
  #heard(id: string, serves: boolean | undefined, keyCheck: string): void {
    const before = this.#announced.get(id);
    if (serves === undefined && !before) return; // a signal, not an announce: nothing new to list
    this.#announced.delete(id);
    this.#announced.set(id, { id, serves: serves ?? before!.serves, keyCheck });
    if (this.#announced.size > MAX_ANNOUNCED) this.#announced.delete(this.#announced.keys().next().value!);
  }

  /** A refused signaling message: for diagnostics only (its claims are unverified). */
  #refused(claimed: { from: string; announce: boolean; serves: boolean; problem: string }): void {
    if (claimed.announce) this.#heard(claimed.from, claimed.serves, claimed.problem);
    const peer = this.#peers.get(claimed.from);
    if (peer && !peer.link?.isUp) peer.keyProblem = claimed.problem;
  }

  #onAnnounce(body: Announce): void {
    const seeksUs = body.seeking.includes(this.#id);
    // Two clients have nothing to say to each other.
    if (!body.serves && !this.#serves && !seeksUs && !this.#peers.get(body.from)?.wanted) return;
    const peer = this.#peer(body.from);
    this.#adoptSession(peer, body.session);
    // A peer looking for us learns our session from our announce, and dials if it wants us.
    if (seeksUs && !peer.link?.isUp) void this.#announce();
    if (peer.wanted && !peer.link) {
      peer.backoffMs = BACKOFF_MIN_MS;
      clearTimeout(peer.retry);
      peer.retry = undefined;
      this.#dial(peer);
    }
  }

  /** A newer session of the peer replaces links to its old one (it restarted). */
  #adoptSession(peer: PeerState, session: string): void {
    if (peer.session === session) return;
    peer.session = session;
    if (peer.link && peer.link.remoteSession !== session) peer.link.close('peer restarted');
  }

  #onSignal(body: SessionSignal): void {
    const peer = this.#peer(body.from);
    this.#adoptSession(peer, body.session);
    if (body.description.type === 'answer') {
      if (peer.link?.attempt === body.attempt && !peer.link.acceptDescription({ type: 'answer', sdp: body.description.sdp })) this.#drop('signaling:unexpectedAnswer');
      else if (peer.link?.attempt !== body.attempt) this.#drop('signaling:staleAnswer');
      return;
    }
    // An offer. Glare: both sides dialled at once; the lower id's offer wins.
    const mine = peer.link;
    if (mine && mine.initiator && !mine.isUp && this.#id < peer.id) return;
    mine?.close('replaced by the peer’s offer');
    if (!this.#mayAnswer(peer)) return this.#drop('signaling:tooManyHandshakes');
    const link = this.#newLink(peer, false, body.attempt, body.session);
    link.acceptDescription({ type: body.description.type, sdp: body.description.sdp });
  }

  // --- links -------------------------------------------------------------------------------

  /**
   * Offers from peers we did not ask for (clients, or anyone with a fresh key) are bounded: a
   * connection costs threads and file descriptors, so strangers get at most
   * MAX_STRANGER_HANDSHAKES connections in progress and maxStrangerLinks in all.
   */
  #mayAnswer(peer: PeerState): boolean {
    if (peer.pinned || peer.wanted) return true;
    let handshakes = 0;
    let links = 0;
    for (const p of this.#peers.values()) {
      if (p.pinned || p.wanted || !p.link) continue;
      links++;
      if (!p.link.isUp) handshakes++;
    }
    return handshakes < MAX_STRANGER_HANDSHAKES && links < this.#options.maxStrangerLinks;
  }

  #dial(peer: PeerState): void {
    if (this.#closed || peer.link || peer.retry) return;
    if (peer.session === undefined) {
      // We do not know the peer's session yet: announce, and dial when it answers.
      void this.#announce();
      return;
    }
    this.#newLink(peer, true, randomToken(), peer.session);
  }

  #newLink(peer: PeerState, initiator: boolean, attempt: string, remoteSession: string): Link {
    this.#stats.connectionAttempts++;
    peer.pendingDeliveries = 0;
    // No ICE servers unless configured (simple-peer would add public STUN servers, and waiting
    // for them stalls every dial where they are unreachable).
    const config: RTCConfiguration = { iceServers: this.#options.iceServers ?? [] };
    if (this.#options.iceTransportPolicy) config.iceTransportPolicy = this.#options.iceTransportPolicy;
    let link: Link;
    const connectTimer = setTimeout(() => {
      if (!link.isUp) link.close('connect timeout');
    }, this.#options.connectTimeoutMs);
    link = new Link(
      {
        initiator,
        attempt,
        remoteSession,
        wrtc: this.#options.wrtc,
        config,
        maxMessageBytes: this.#options.maxMessageBytes,
        maxQueuedBytes: this.#options.maxQueuedBytes,
        highWaterBytes: 1024 * 1024,
        helloMs: 250,
        keepaliveMs: 2_000,
        deadAfterMs: this.#options.deadAfterMs,
      },
      {
        signal: (description) => {
          if (peer.link !== link) return;
          void this.#publish({ kind: 'signal', ...this.#header(), to: peer.id, toSession: remoteSession, attempt, description });
        },
        up: () => {
          clearTimeout(connectTimer);
          if (peer.link !== link) return;
          peer.backoffMs = BACKOFF_MIN_MS;
          peer.lastFailure = undefined;
          peer.keyProblem = undefined;
          const waiting = peer.waiting;
          peer.waiting = [];
          peer.waitingBytes = 0;
          peer.sent += waiting.length;
          for (const m of waiting) link.send(m);
        },
        message: (bytes) => this.#deliver(peer.id, bytes),
        drop: (reason) => this.#drop(reason),
        down: (reason) => {
          clearTimeout(connectTimer);
          if (peer.link !== link) return;
          peer.link = undefined;
          peer.lastFailure = reason;
          this.#stats.linksLost++;
          if (!this.#closed && peer.wanted) this.#scheduleRedial(peer);
        },
      },
    );
    peer.link = link;
    return link;
  }

  #scheduleRedial(peer: PeerState): void {
    if (peer.retry) return;
    const delay = peer.backoffMs * (0.5 + Math.random() / 2);
    peer.backoffMs = Math.min(peer.backoffMs * 2, BACKOFF_MAX_MS);
    peer.retry = setTimeout(() => {
      peer.retry = undefined;
      if (!this.#closed && peer.wanted) this.#dial(peer);
    }, delay);
  }

  #deliver(peerId: string, message: Uint8Array): void {
    const addressed = readAddressed(message);
    if (!addressed) return this.#drop('malformedMessage');
    const handler = addressed.toEndpoint === '' ? this.#handler : this.#endpoints.get(addressed.toEndpoint)?.onMessage;
    if (!handler) return this.#drop('unknownEndpoint');
    const peer = this.#peers.get(peerId);
    if (peer && peer.pendingDeliveries >= MAX_PENDING_DELIVERIES) return this.#drop('ingressFull');
    const from = joinAddress(peerId, addressed.fromEndpoint);
    const bytes = addressed.payload;
    this.#stats.messagesIn++;
    this.#stats.bytesIn += bytes.length;
    try {
      const r = handler(from, bytes);
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        // The receiver is still working on it: count it against the peer until it settles, so a
        // fast sender cannot queue unbounded work at a slow receiver (the protocols retransmit).
        if (peer) peer.pendingDeliveries++;
        (r as Promise<unknown>).then(
          () => void (peer && peer.pendingDeliveries--),
          () => {
            if (peer) peer.pendingDeliveries--;
            this.#drop('handlerError');
          },
        );
      }
    } catch {
      this.#drop('handlerError');
    }
  }

  #housekeeping(): void {
    const now = Date.now();
    let missing = false;
    for (const peer of this.#peers.values()) {
      if (peer.wanted && !peer.pinned && now - peer.lastWantedAt > FORGET_UNPINNED_MS && !peer.link?.isUp) {
        peer.wanted = false;
        peer.waiting = [];
        peer.waitingBytes = 0;
        clearTimeout(peer.retry);
        peer.retry = undefined;
      }
      // Forget strangers with nothing going on, so keys made up by the thousand cost nothing.
      if (!peer.wanted && !peer.pinned && !peer.link && !peer.retry && peer.waiting.length === 0) {
        this.#peers.delete(peer.id);
        this.#freshness.forget(peer.id);
        continue;
      }
      if (peer.wanted && !peer.link?.isUp) missing = true;
      if (peer.wanted && !peer.link && !peer.retry) this.#dial(peer);
    }
    // While some wanted peer is unreachable, keep announcing: it may not know our session.
    if (missing && now - this.#lastAnnounce >= ANNOUNCE_EVERY_MS) void this.#announce();
  }
}

/** A peer's link as diagnostics report it. */
function linkState(p: PeerState): Pick<PeerLinkState, 'state' | 'reason'> {
  if (p.link?.isUp) return { state: 'up' };
  if (p.keyProblem) return { state: 'failed', reason: `key check failed: ${p.keyProblem}` };
  if (p.link) return { state: 'connecting', reason: HANDSHAKING };
  if (p.lastFailure) return { state: 'failed', reason: p.lastFailure };
  if (p.session === undefined) return { state: 'connecting', reason: 'not seen in the room yet' };
  return { state: 'connecting' };
}

function keyText(identity: Identity): string {
  let text = cachedKeys.get(identity);
  if (text === undefined) cachedKeys.set(identity, (text = toBase64Url(identity.publicKey)));
  return text;
}
const cachedKeys = new WeakMap<Identity, string>();

/** The server relays our own messages back to us (y-webrtc does); they carry our session. */
function isOwn(data: unknown, session: string): boolean {
  const body = typeof data === 'object' && data !== null ? (data as { body?: unknown }).body : undefined;
  return typeof body === 'string' && body.includes(`"session":"${session}"`);
}
