/**
 * Several signaling server instances sharing their topics through Redis pub/sub, so that peers
 * connected to different instances meet (`statechorus signal --redis redis://host:6379`).
 *
 * Each instance subscribes to the Redis channel `<prefix><topic>` while it has local
 * subscribers of that topic, and publishes there every publish message its own clients send.
 * On the channel travel JSON texts:
 *   {"i": instance, "m": {publish message}}   a message for the other instances' subscribers
 *   {"i": instance, "n": count, "q"?: 1}      that instance's subscriber count of the topic
 *                                             (q: "and tell me yours", sent on first subscribe)
 * Counts are sent when they change (coalesced), repeated every `presenceIntervalMs`, and
 * forgotten after three intervals of silence (an instance killed without saying goodbye), so
 * "clients" in a relayed message is the topic's subscribers over all live instances, as this
 * instance last heard them.
 *
 * Redis is trusted like the machine the server runs on; the peers' messages are signed anyway.
 * While Redis is unreachable the instance keeps relaying between its own clients, drops what
 * it would have sent to the others (counted), and resubscribes once Redis is back.
 *
 * Node only: `ioredis` is imported when a bus is made, so the server without Redis (and
 * anything bundled for browsers) never loads it.
 */
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import type { SignalingHub, TopicBus } from './hub.ts';
import type { RedisBusOptions, RedisBusStats } from './server.ts';

export type { RedisBusEvent, RedisBusOptions, RedisBusStats } from './server.ts';

export interface RedisBus {
  /** This instance's random id on the bus. */
  readonly instance: string;
  stats(): RedisBusStats;
  /** Says goodbye (counts 0) and closes both Redis connections. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_REDIS_PREFIX = 'statechorus:signal:';

/** The URL with any password replaced, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Throws a TypeError naming the problem unless `url` is a redis:// or rediss:// URL. */
export function checkRedisUrl(url: unknown): string {
  if (typeof url !== 'string' || !/^rediss?:\/\/[^/]/.test(url)) {
    throw new TypeError(`signaling: the Redis URL must look like redis://host:6379 (or rediss:// for TLS), got ${JSON.stringify(url)}`);
  }
  try {
    new URL(url);
  } catch {
    throw new TypeError(`signaling: the Redis URL ${JSON.stringify(url)} is not a valid URL`);
  }
  return url;
}

type Presence = Map<string, { n: number; at: number }>;

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Connects to Redis and attaches the bus to `hub`. Rejects with an error naming the URL and
 * the cause when Redis cannot be reached or does not answer as Redis.
 */
export async function connectRedisBus(hub: SignalingHub, options: RedisBusOptions): Promise<RedisBus> {
  const url = checkRedisUrl(options.url);
  const shown = redactRedisUrl(url);
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  const interval = options.presenceIntervalMs ?? 10_000;
  if (!(interval >= 10)) throw new RangeError(`signaling: presenceIntervalMs must be at least 10, got ${String(interval)}`);
  let Redis: typeof import('ioredis').Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (e) {
    throw new Error(`signaling: sharing rooms through Redis needs the ioredis package (npm install ioredis): ${errorText(e)}`, { cause: e });
  }

  const instance = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  const common: RedisOptions = {
    lazyConnect: true,
    // Relaying is live traffic: while Redis is away messages are dropped, not queued up.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    autoResubscribe: false, // done below, with presence queries, on every 'ready'
  };
  // Auto-pipelining: the publishes of one event-loop turn go to Redis in one write.
  const pub: RedisClient = new Redis(url, { ...common, enableAutoPipelining: true, connectionName: `statechorus-signal-${instance}-pub` });
  const sub: RedisClient = new Redis(url, { ...common, connectionName: `statechorus-signal-${instance}-sub` });
  const lastError = { pub: '', sub: '' };
  pub.on('error', (e: Error) => void (lastError.pub = e.message));
  sub.on('error', (e: Error) => void (lastError.sub = e.message));
  try {
    await Promise.all([pub.connect(), sub.connect()]);
  } catch (e) {
    pub.disconnect();
    sub.disconnect();
    const cause = lastError.pub || lastError.sub || errorText(e);
    throw new Error(`cannot reach Redis at ${shown}: ${cause}`, { cause: e });
  }

  const counters = { published: 0, received: 0, delivered: 0, dropped: 0, reconnects: 0 };
  const local = new Map<string, number>(); // topic -> subscribers here
  const remote = new Map<string, Presence>(); // topic -> instance -> count
  const dirty = new Set<string>();
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let down = false;

  const channel = (topic: string) => prefix + topic;

  function send(topic: string, payload: Record<string, unknown>): Promise<void> {
    if (closed || pub.status !== 'ready') {
      counters.dropped++;
      return Promise.resolve();
    }
    counters.published++;
    return pub.publish(channel(topic), JSON.stringify({ i: instance, ...payload })).then(
      () => undefined,
      () => void counters.dropped++,
    );
  }

  const announce = (topic: string, query = false) => send(topic, { n: local.get(topic) ?? 0, ...(query ? { q: 1 } : {}) });

  /** Subscribes to a topic's channel and asks the others for their counts (after, so no answer is missed). */
  function join(topic: string): void {
    if (sub.status !== 'ready') return; // done on 'ready'
    sub.subscribe(channel(topic)).then(
      () => void (local.has(topic) && announce(topic, true)),
      () => {}, // connection lost meanwhile: 'ready' subscribes again
    );
  }

  function flush(): void {
    flushTimer = undefined;
    for (const topic of dirty) void announce(topic);
    dirty.clear();
  }

  const bus: TopicBus = {
    localCount(topic, count) {
      if (closed) return;
      const before = local.get(topic) ?? 0;
      if (count > 0) {
        local.set(topic, count);
        if (before === 0) join(topic);
        else {
          dirty.add(topic);
          flushTimer ??= setTimeout(flush, 20);
        }
        return;
      }
      local.delete(topic);
      remote.delete(topic);
      dirty.delete(topic);
      void send(topic, { n: 0 });
      if (sub.status === 'ready') sub.unsubscribe(channel(topic)).catch(() => {});
    },
    remoteCount(topic) {
      const presence = remote.get(topic);
      if (!presence) return 0;
      const oldest = Date.now() - 3 * interval;
      let n = 0;
      for (const [id, p] of presence) {
        if (p.at < oldest) presence.delete(id);
        else n += p.n;
      }
      return n;
    },
    publish(topic, message) {
      void send(topic, { m: message });
    },
  };

  sub.on('message', (ch: string, text: string) => {
    if (closed || !ch.startsWith(prefix)) return;
    const topic = ch.slice(prefix.length);
    let msg: { i?: unknown; m?: unknown; n?: unknown; q?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return; // not ours (someone else publishing on the prefix)
    }
    if (typeof msg !== 'object' || msg === null || typeof msg.i !== 'string' || msg.i === instance) return;
    counters.received++;
    if (typeof msg.m === 'object' && msg.m !== null && !Array.isArray(msg.m)) {
      try {
        counters.delivered += hub.deliverFromBus(topic, msg.m as Record<string, unknown>);
      } catch {
        counters.dropped++;
      }
      return;
    }
    if (typeof msg.n === 'number' && msg.n >= 0 && Number.isFinite(msg.n)) {
      let presence = remote.get(topic);
      if (msg.n === 0) presence?.delete(msg.i);
      else if (local.has(topic)) {
        if (!presence) remote.set(topic, (presence = new Map()));
        presence.set(msg.i, { n: msg.n, at: Date.now() });
      }
      if (msg.q === 1 && local.has(topic)) void announce(topic);
    }
  });

  // Losing Redis: local relaying goes on; on 'ready' the channels and counts are set up again.
  const lost = () => {
    if (closed || down) return;
    down = true;
    remote.clear();
    options.onEvent?.({ type: 'down', error: lastError.sub || lastError.pub || 'connection closed' });
  };
  pub.on('close', lost);
  sub.on('close', lost);
  const ready = () => {
    if (closed || pub.status !== 'ready' || sub.status !== 'ready') return;
    for (const topic of local.keys()) join(topic);
    if (down) {
      down = false;
      counters.reconnects++;
      options.onEvent?.({ type: 'up' });
    }
  };
  pub.on('ready', ready);
  sub.on('ready', ready);

  const heartbeat = setInterval(() => {
    for (const topic of local.keys()) void announce(topic);
    for (const topic of remote.keys()) bus.remoteCount(topic); // sweeps the silent
  }, interval);
  heartbeat.unref?.();

  hub.useBus(bus);
  let closing: Promise<void> | undefined;
  return {
    instance,
    stats: () => ({ url: shown, instance, connected: !down && pub.status === 'ready' && sub.status === 'ready', ...counters }),
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        clearTimeout(flushTimer);
        // Goodbye first, so the others stop counting our subscribers now rather than in 3 intervals.
        const goodbyes = [...local.keys()].map((topic) => {
          local.delete(topic);
          return send(topic, { n: 0 });
        });
        closed = true;
        await Promise.race([Promise.all(goodbyes), new Promise((r) => setTimeout(r, 1000).unref?.())]);
        await Promise.all([pub, sub].map((c) => (c.status === 'ready' ? c.quit().then(() => undefined, () => c.disconnect()) : c.disconnect())));
      })();
      return closing;
    },
  };
}
