/**
 * The signaling relay, independent of any runtime: it sees abstract connections and the text
 * frames they receive, and implements y-webrtc's signaling protocol on top.
 *
 * Protocol (JSON text frames):
 *   client → server  {"type":"subscribe","topics":["room", ...]}
 *                    {"type":"unsubscribe","topics":["room", ...]}
 *                    {"type":"publish","topic":"room", ...any other fields}
 *                    {"type":"ping"}
 *   server → client  the publish message, to every subscriber of its topic (the sender too when
 *                    it is subscribed), with "clients": the number of subscribers of the topic
 *                    (over all instances when a TopicBus joins several, see redis.ts)
 *                    {"type":"pong"}
 *                    {"type":"error","message":"..."}   (our addition; y-webrtc clients ignore it)
 *
 * The server is untrusted by design (peers sign their session descriptions), so all this code
 * must do is relay and stay up: every frame is rate limited, size limited and validated; bad
 * input is answered with an error (itself rate limited) and counted, never thrown; connections
 * that flood, stop answering pings or stop reading are closed.
 *
 * Only web-standard APIs here (no Node or Deno API): adapters (node.ts, deno.ts) feed it.
 */

/** What the hub needs from a connection. Adapters wrap a WebSocket in this. */
export interface SignalingConnection {
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Sends a WebSocket-level ping; the adapter reports the pong with `HubPeer.pong()`. */
  ping?(): void;
  /** Drops the connection at once, without a closing handshake (for peers that stopped reading). */
  terminate?(): void;
  /** Bytes queued for sending and not yet written to the network. */
  readonly bufferedAmount?: number;
}

/** The hub's handle on one connection; the adapter calls these as events arrive. */
export interface HubPeer {
  /** A text frame arrived. */
  text(frame: string): void;
  /** A binary frame arrived (not part of the protocol). */
  binary(byteLength: number): void;
  /** The adapter refused a frame over the size limit itself (e.g. `ws`'s `maxPayload`). */
  tooLarge(): void;
  /** A WebSocket-level pong arrived. */
  pong(): void;
  /** The connection closed (idempotent, also fine after the hub closed it). */
  closed(): void;
}

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: how many messages may arrive at once after a quiet period. */
  burst: number;
}

export interface HubOptions {
  /** Largest accepted frame, in bytes (UTF-8). Bigger frames close the connection (1009). */
  maxFrameBytes: number;
  /** Incoming messages per connection, every frame counts (good, bad, binary). */
  rate: RateLimit;
  /**
   * A connection is closed (1008) after this many messages dropped for rate in one flood: a
   * flood ends once the connection has been quiet long enough for its bucket to refill.
   * Default: 3 × `rate.burst`.
   */
  floodCloseAfterDrops: number;
  /** Error replies per connection; bad frames beyond this are still counted, just not answered. */
  errorRate: RateLimit;
  maxTopicsPerConnection: number;
  maxTopicLength: number;
  maxSubscribersPerTopic: number;
  maxConnections: number;
  /** 0 disables the per-address limit. */
  maxConnectionsPerIp: number;
  /** A receiver with more than this many bytes queued and unsent is closed (it stopped reading). */
  maxBufferedBytes: number;
  /** Interval of WebSocket-level pings; a connection that did not answer the previous one is closed. */
  pingIntervalMs: number;
  /** Milliseconds clock for the rate limits; injectable for tests. */
  now: () => number;
}

export const DEFAULT_HUB_OPTIONS: Readonly<Omit<HubOptions, 'floodCloseAfterDrops' | 'now'>> = Object.freeze({
  maxFrameBytes: 64 * 1024,
  rate: Object.freeze({ perSecond: 50, burst: 100 }),
  errorRate: Object.freeze({ perSecond: 5, burst: 20 }),
  maxTopicsPerConnection: 32,
  maxTopicLength: 256,
  maxSubscribersPerTopic: 1024,
  maxConnections: 10_000,
  maxConnectionsPerIp: 256,
  maxBufferedBytes: 1024 * 1024,
  pingIntervalMs: 30_000,
});

/** Close codes the hub uses (RFC 6455 §7.4.1). */
export const CloseCode = Object.freeze({
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  tryAgainLater: 1013,
});

/**
 * What the hub needs to share topics with other server instances (redis.ts implements it over
 * Redis pub/sub). Without one, the hub serves its own connections only.
 */
export interface TopicBus {
  /** This instance's subscriber count of `topic` changed to `count` (0: no local subscriber left). */
  localCount(topic: string, count: number): void;
  /** Subscribers of `topic` on the other instances, as far as this one knows. */
  remoteCount(topic: string): number;
  /** Sends a publish message accepted here to the other instances' subscribers. */
  publish(topic: string, message: Record<string, unknown>): void;
}

/** Why an incoming frame was dropped (not relayed / not acted on). */
export type DropReason =
  | 'rateLimit'
  | 'tooLarge'
  | 'binary'
  | 'invalidJson'
  | 'notObject'
  | 'unknownType'
  | 'invalidField'
  | 'tooManyTopics'
  | 'topicTooLong'
  | 'topicFull'
  | 'unrelayable'
  | 'internalError';

/** Why the hub closed a connection. */
export type CloseReason = 'flood' | 'tooLarge' | 'dead' | 'slowConsumer' | 'sendFailed' | 'shutdown';

/** Why a new connection was refused. */
export type RefuseReason = 'serverFull' | 'ipLimit';

export interface SignalingStats {
  /** Open connections now. */
  connections: number;
  /** Topics with at least one subscriber now. */
  topics: number;
  /** Sum over topics of their subscribers, now. */
  subscriptions: number;
  /** Connections accepted since start. */
  accepted: number;
  refused: Record<RefuseReason, number>;
  /** Frames received (text and binary, including the dropped ones). */
  received: number;
  /** Publish messages accepted. */
  published: number;
  /** Frames sent to subscribers for publish messages (one publish to n subscribers counts n). */
  relayed: number;
  /** Pongs sent for protocol pings. */
  pongs: number;
  dropped: Record<DropReason, number>;
  /** Error replies sent, and the ones not sent because of the error-reply rate limit. */
  errors: { sent: number; suppressed: number };
  closed: Record<CloseReason, number>;
}

type Session = {
  conn: SignalingConnection;
  ip: string;
  topics: Set<string>;
  open: boolean;
  alive: boolean;
  tokens: number;
  lastRefill: number;
  floodDrops: number;
  errorTokens: number;
  lastErrorRefill: number;
};

const DROP_REASONS: readonly DropReason[] = [
  'rateLimit', 'tooLarge', 'binary', 'invalidJson', 'notObject', 'unknownType', 'invalidField',
  'tooManyTopics', 'topicTooLong', 'topicFull', 'unrelayable', 'internalError',
];
const CLOSE_REASONS: readonly CloseReason[] = ['flood', 'tooLarge', 'dead', 'slowConsumer', 'sendFailed', 'shutdown'];

const zeroes = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

/** Resolves partial options against the defaults and checks them. */
export function resolveHubOptions(options: Partial<HubOptions> = {}): HubOptions {
  const d = DEFAULT_HUB_OPTIONS;
  const rate = { ...d.rate, ...options.rate };
  const o: HubOptions = {
    maxFrameBytes: options.maxFrameBytes ?? d.maxFrameBytes,
    rate,
    floodCloseAfterDrops: options.floodCloseAfterDrops ?? 3 * rate.burst,
    errorRate: { ...d.errorRate, ...options.errorRate },
    maxTopicsPerConnection: options.maxTopicsPerConnection ?? d.maxTopicsPerConnection,
    maxTopicLength: options.maxTopicLength ?? d.maxTopicLength,
    maxSubscribersPerTopic: options.maxSubscribersPerTopic ?? d.maxSubscribersPerTopic,
    maxConnections: options.maxConnections ?? d.maxConnections,
    maxConnectionsPerIp: options.maxConnectionsPerIp ?? d.maxConnectionsPerIp,
    maxBufferedBytes: options.maxBufferedBytes ?? d.maxBufferedBytes,
    pingIntervalMs: options.pingIntervalMs ?? d.pingIntervalMs,
    now: options.now ?? (() => Date.now()),
  };
  const positive: Array<[string, number]> = [
    ['maxFrameBytes', o.maxFrameBytes], ['rate.perSecond', o.rate.perSecond], ['rate.burst', o.rate.burst],
    ['floodCloseAfterDrops', o.floodCloseAfterDrops], ['errorRate.perSecond', o.errorRate.perSecond],
    ['maxTopicsPerConnection', o.maxTopicsPerConnection], ['maxTopicLength', o.maxTopicLength],
    ['maxSubscribersPerTopic', o.maxSubscribersPerTopic], ['maxConnections', o.maxConnections],
    ['maxBufferedBytes', o.maxBufferedBytes], ['pingIntervalMs', o.pingIntervalMs],
  ];
  for (const [name, v] of positive) {
    if (typeof v !== 'number' || !(v > 0)) throw new RangeError(`signaling: ${name} must be a positive number, got ${String(v)}`);
  }
  for (const [name, v] of [['errorRate.burst', o.errorRate.burst], ['maxConnectionsPerIp', o.maxConnectionsPerIp]] as const) {
    if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`signaling: ${name} must be a number >= 0, got ${String(v)}`);
  }
  return o;
}

/** UTF-8 length of `text` if at most `limit`, else some number above `limit` (stops counting early). */
function utf8LengthUpTo(text: string, limit: number): number {
  if (text.length > limit) return text.length; // every UTF-16 unit is at least one UTF-8 byte
  if (text.length * 3 <= limit) return text.length * 3; // every unit is at most three bytes (a pair: 4 for 2)
  let n = 0;
  for (let i = 0; i < text.length && n <= limit; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

class BadFrame {
  constructor(readonly reason: DropReason, readonly message: string) {}
}

export class SignalingHub {
  readonly options: HubOptions;
  private readonly sessions = new Set<Session>();
  private readonly perIp = new Map<string, number>();
  private readonly topics = new Map<string, Set<Session>>();
  private bus: TopicBus | undefined;
  private readonly counters = {
    accepted: 0,
    received: 0,
    published: 0,
    relayed: 0,
    pongs: 0,
    refused: zeroes<RefuseReason>(['serverFull', 'ipLimit']),
    dropped: zeroes(DROP_REASONS),
    errors: { sent: 0, suppressed: 0 },
    closed: zeroes(CLOSE_REASONS),
  };

  constructor(options: Partial<HubOptions> = {}) {
    this.options = resolveHubOptions(options);
  }

  /** Shares this hub's topics with other instances from now on (see TopicBus). */
  useBus(bus: TopicBus): void {
    this.bus = bus;
    for (const [topic, subs] of this.topics) bus.localCount(topic, subs.size);
  }

  /** Topics with at least one subscriber here, and their counts. */
  localTopics(): Map<string, number> {
    return new Map([...this.topics].map(([t, subs]) => [t, subs.size]));
  }

  /**
   * Delivers a publish message that another instance accepted (it arrived over the bus) to this
   * instance's subscribers of `topic`; returns how many it reached.
   */
  deliverFromBus(topic: string, message: Record<string, unknown>): number {
    const receivers = this.topics.get(topic);
    if (!receivers || receivers.size === 0) return 0;
    return this.relay(topic, receivers, message);
  }

  /**
   * Whether a new connection from `ip` would be accepted now (nothing is counted); adapters
   * ask before upgrading so they can refuse with a plain HTTP 503.
   */
  wouldRefuse(ip = ''): RefuseReason | undefined {
    if (this.sessions.size >= this.options.maxConnections) return 'serverFull';
    const limit = this.options.maxConnectionsPerIp;
    if (limit > 0 && ip !== '' && (this.perIp.get(ip) ?? 0) >= limit) return 'ipLimit';
    return undefined;
  }

  /** Counts a refusal the adapter made itself after `wouldRefuse`. */
  refused(reason: RefuseReason): void {
    this.counters.refused[reason]++;
  }

  /**
   * Takes an open connection. Returns its handle, or undefined when a limit refuses it (the
   * connection is then closed with 1013).
   */
  connect(conn: SignalingConnection, ip = ''): HubPeer | undefined {
    const refusal = this.wouldRefuse(ip);
    if (refusal) {
      this.counters.refused[refusal]++;
      safely(() => conn.close(CloseCode.tryAgainLater, refusal === 'serverFull' ? 'server full' : 'too many connections from this address'));
      return undefined;
    }
    const now = this.options.now();
    const s: Session = {
      conn,
      ip,
      topics: new Set(),
      open: true,
      alive: true,
      tokens: this.options.rate.burst,
      lastRefill: now,
      floodDrops: 0,
      errorTokens: this.options.errorRate.burst,
      lastErrorRefill: now,
    };
    this.sessions.add(s);
    if (ip !== '') this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    this.counters.accepted++;
    return {
      text: (frame) => this.guard(() => this.onText(s, frame)),
      binary: (byteLength) => this.guard(() => this.onBinary(s, byteLength)),
      tooLarge: () => this.guard(() => this.onTooLarge(s)),
      pong: () => {
        s.alive = true;
      },
      closed: () => this.guard(() => this.remove(s)),
    };
  }

  /**
   * One heartbeat round, to be called every `pingIntervalMs`: closes the connections that did
   * not answer the previous ping (nor sent anything since), pings the others.
   */
  heartbeat(): void {
    for (const s of [...this.sessions]) {
      if (!s.open) continue;
      if (!s.alive) {
        this.kill(s, 'dead', CloseCode.goingAway, 'ping timeout', true);
        continue;
      }
      s.alive = false;
      if (s.conn.ping) {
        try {
          s.conn.ping();
        } catch {
          this.kill(s, 'sendFailed', CloseCode.goingAway, 'ping failed', true);
        }
      }
    }
  }

  /** Closes every connection (e.g. on shutdown). */
  closeAll(code: number = CloseCode.goingAway, reason = 'server shutting down'): void {
    for (const s of [...this.sessions]) this.kill(s, 'shutdown', code, reason, false);
  }

  stats(): SignalingStats {
    let subscriptions = 0;
    for (const subs of this.topics.values()) subscriptions += subs.size;
    const c = this.counters;
    return {
      connections: this.sessions.size,
      topics: this.topics.size,
      subscriptions,
      accepted: c.accepted,
      refused: { ...c.refused },
      received: c.received,
      published: c.published,
      relayed: c.relayed,
      pongs: c.pongs,
      dropped: { ...c.dropped },
      errors: { ...c.errors },
      closed: { ...c.closed },
    };
  }

  // --- incoming frames ---

  /** Runs a handler so that nothing it throws escapes into the adapter. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch {
      // A bug here must not take the server down; the frame is counted and forgotten.
      this.counters.dropped.internalError++;
    }
  }

  /** Counts the frame and takes a rate token; false when the frame must be dropped. */
  private admitFrame(s: Session): boolean {
    this.counters.received++;
    if (!s.open) return false;
    s.alive = true;
    const { perSecond, burst } = this.options.rate;
    const now = this.options.now();
    const elapsed = Math.max(0, now - s.lastRefill);
    s.lastRefill = now;
    s.tokens = Math.min(burst, s.tokens + (elapsed * perSecond) / 1000);
    if (s.tokens >= burst) s.floodDrops = 0; // quiet long enough: any earlier flood is over
    if (s.tokens >= 1) {
      s.tokens -= 1;
      return true;
    }
    this.counters.dropped.rateLimit++;
    s.floodDrops++;
    if (s.floodDrops >= this.options.floodCloseAfterDrops) {
      this.kill(s, 'flood', CloseCode.policyViolation, 'rate limit exceeded', false);
    }
    return false;
  }

  private onText(s: Session, frame: string): void {
    if (typeof frame !== 'string') {
      this.onBinary(s, 0);
      return;
    }
    if (!this.admitFrame(s)) return;
    if (utf8LengthUpTo(frame, this.options.maxFrameBytes) > this.options.maxFrameBytes) {
      this.onTooLargeAdmitted(s);
      return;
    }
    try {
      this.handle(s, frame);
    } catch (e) {
      if (e instanceof BadFrame) this.reject(s, e.reason, e.message);
      else this.reject(s, 'internalError', 'internal error');
    }
  }

  private onBinary(s: Session, _byteLength: number): void {
    if (!this.admitFrame(s)) return;
    this.reject(s, 'binary', 'binary frames are not supported; send JSON text frames');
  }

  private onTooLarge(s: Session): void {
    this.counters.received++;
    if (!s.open) return;
    this.onTooLargeAdmitted(s);
  }

  private onTooLargeAdmitted(s: Session): void {
    this.counters.dropped.tooLarge++;
    this.kill(s, 'tooLarge', CloseCode.messageTooBig, `frame exceeds ${this.options.maxFrameBytes} bytes`, false);
  }

  private handle(s: Session, frame: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(frame);
    } catch {
      throw new BadFrame('invalidJson', 'frame is not valid JSON');
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      throw new BadFrame('notObject', `message must be a JSON object, got ${describe(msg)}`);
    }
    const m = msg as Record<string, unknown>;
    const type = m['type'];
    if (typeof type !== 'string') throw new BadFrame('invalidField', 'message needs a string "type"');
    switch (type) {
      case 'subscribe':
        this.subscribe(s, this.topicList(m, type));
        return;
      case 'unsubscribe':
        this.unsubscribe(s, this.topicList(m, type));
        return;
      case 'publish':
        this.publish(m);
        return;
      case 'ping':
        this.counters.pongs++;
        this.deliver(s, '{"type":"pong"}');
        return;
      default:
        throw new BadFrame('unknownType', `unknown message type ${JSON.stringify(type.slice(0, 64))}; expected subscribe, unsubscribe, publish or ping`);
    }
  }

  private checkTopic(topic: unknown, field: string): string {
    if (typeof topic !== 'string' || topic.length === 0) {
      throw new BadFrame('invalidField', `${field} must be a non-empty string`);
    }
    if (topic.length > this.options.maxTopicLength) {
      throw new BadFrame('topicTooLong', `topic names are limited to ${this.options.maxTopicLength} characters`);
    }
    return topic;
  }

  private topicList(m: Record<string, unknown>, type: string): string[] {
    const topics = m['topics'];
    if (!Array.isArray(topics)) throw new BadFrame('invalidField', `${type} needs "topics": an array of topic names`);
    if (topics.length > this.options.maxTopicsPerConnection) {
      throw new BadFrame('tooManyTopics', `at most ${this.options.maxTopicsPerConnection} topics per connection`);
    }
    return topics.map((t, i) => this.checkTopic(t, `topics[${i}]`));
  }

  /** All or nothing: either every topic is subscribed or none (and an error says why). */
  private subscribe(s: Session, topics: string[]): void {
    const fresh = [...new Set(topics)].filter((t) => !s.topics.has(t));
    if (s.topics.size + fresh.length > this.options.maxTopicsPerConnection) {
      throw new BadFrame('tooManyTopics', `at most ${this.options.maxTopicsPerConnection} topics per connection`);
    }
    for (const t of fresh) {
      if ((this.topics.get(t)?.size ?? 0) >= this.options.maxSubscribersPerTopic) {
        throw new BadFrame('topicFull', `topic ${JSON.stringify(t.slice(0, 64))} has reached ${this.options.maxSubscribersPerTopic} subscribers`);
      }
    }
    for (const t of fresh) {
      let subs = this.topics.get(t);
      if (!subs) this.topics.set(t, (subs = new Set()));
      subs.add(s);
      s.topics.add(t);
      this.bus?.localCount(t, subs.size);
    }
  }

  private unsubscribe(s: Session, topics: string[]): void {
    for (const t of topics) this.leave(s, t);
  }

  private leave(s: Session, topic: string): void {
    if (!s.topics.delete(topic)) return;
    const subs = this.topics.get(topic);
    if (!subs) return;
    subs.delete(s);
    if (subs.size === 0) this.topics.delete(topic);
    this.bus?.localCount(topic, subs.size);
  }

  /**
   * Relays to every subscriber, the sender included when subscribed (as y-webrtc's server
   * does; publishing to a topic one is not subscribed to is allowed too, as there).
   */
  private publish(m: Record<string, unknown>): void {
    const topic = this.checkTopic(m['topic'], '"topic"');
    this.counters.published++;
    const receivers = this.topics.get(topic);
    if (receivers && receivers.size > 0) this.relay(topic, receivers, m);
    // Other instances' subscribers (publishing without being subscribed is allowed there too).
    this.bus?.publish(topic, m);
  }

  /** Sends `m` to `receivers` with "clients": the topic's subscribers here and on other instances. */
  private relay(topic: string, receivers: Set<Session>, m: Record<string, unknown>): number {
    m['clients'] = receivers.size + (this.bus ? this.bus.remoteCount(topic) : 0);
    let text: string;
    try {
      text = JSON.stringify(m);
    } catch {
      throw new BadFrame('unrelayable', 'message cannot be relayed');
    }
    let n = 0;
    for (const r of [...receivers]) {
      if (this.deliver(r, text)) n++;
    }
    this.counters.relayed += n;
    return n;
  }

  // --- outgoing ---

  private reject(s: Session, reason: DropReason, message: string): void {
    this.counters.dropped[reason]++;
    if (!s.open) return;
    const { perSecond, burst } = this.options.errorRate;
    const now = this.options.now();
    s.errorTokens = Math.min(burst, s.errorTokens + (Math.max(0, now - s.lastErrorRefill) * perSecond) / 1000);
    s.lastErrorRefill = now;
    if (s.errorTokens < 1) {
      this.counters.errors.suppressed++;
      return;
    }
    s.errorTokens -= 1;
    if (this.deliver(s, JSON.stringify({ type: 'error', message }))) this.counters.errors.sent++;
  }

  /** Sends to one connection; a receiver that stopped reading or fails is closed instead. */
  private deliver(s: Session, text: string): boolean {
    if (!s.open) return false;
    let buffered = 0;
    try {
      buffered = Number(s.conn.bufferedAmount ?? 0);
    } catch {
      buffered = 0;
    }
    if (buffered > this.options.maxBufferedBytes) {
      this.kill(s, 'slowConsumer', CloseCode.policyViolation, 'not reading fast enough', true);
      return false;
    }
    try {
      s.conn.send(text);
      return true;
    } catch {
      this.kill(s, 'sendFailed', CloseCode.goingAway, 'send failed', true);
      return false;
    }
  }

  // --- connection lifetime ---

  /** Forgets the connection: out of every topic, empty topics deleted. Idempotent. */
  private remove(s: Session): void {
    if (!this.sessions.delete(s)) return;
    s.open = false;
    for (const t of [...s.topics]) this.leave(s, t);
    if (s.ip !== '') {
      const n = (this.perIp.get(s.ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(s.ip);
      else this.perIp.set(s.ip, n);
    }
  }

  private kill(s: Session, why: CloseReason, code: number, reason: string, hard: boolean): void {
    if (!s.open) return;
    this.counters.closed[why]++;
    this.remove(s);
    const conn = s.conn;
    safely(() => {
      if (hard && conn.terminate) conn.terminate();
      else conn.close(code, reason);
    });
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // the connection is going away anyway
  }
}
