// What both signaling server adapters (node.ts, deno.ts) take and return.
import type { HubOptions, SignalingStats } from './hub.ts';

export interface SignalingServerOptions extends Partial<HubOptions> {
  /** 0 picks a free port (default 0). */
  port?: number;
  /** Default 127.0.0.1; '0.0.0.0' (or '::') to accept connections from other machines. */
  host?: string;
  /** How long `close()` waits for clients to finish the closing handshake (default 1000 ms). */
  closeGraceMs?: number;
  /**
   * Share rooms with other instances through Redis pub/sub (Node only): a `redis://host:6379`
   * URL, or the options of redis.ts. Start-up fails when Redis cannot be reached.
   */
  redis?: string | RedisBusOptions;
}

export interface RedisBusOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). */
  url: string;
  /** Channel name prefix; instances share rooms only with the same prefix (default `statechorus:signal:`). */
  prefix?: string;
  /** How often each instance repeats its subscriber counts (default 10 000 ms). */
  presenceIntervalMs?: number;
  /** How long connecting to Redis may take before start-up fails (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Told when the Redis connection is lost and when it is back (the CLI logs these). */
  onEvent?: (event: RedisBusEvent) => void;
}

export type RedisBusEvent = { type: 'down'; error: string } | { type: 'up' };

/** The Redis side of a server started with `redis` (see redis.ts). */
export interface RedisBusStats {
  /** The Redis URL, password hidden. */
  url: string;
  /** This instance's id on the bus. */
  instance: string;
  /** Both Redis connections are up. */
  connected: boolean;
  /** Messages sent to Redis (publishes and subscriber counts). */
  published: number;
  /** Messages from other instances. */
  received: number;
  /** Frames sent to this instance's clients for other instances' publishes. */
  delivered: number;
  /** Messages not sent to or not delivered from Redis (Redis away, or a failure). */
  dropped: number;
  /** Times the connection to Redis came back after a loss. */
  reconnects: number;
}

export interface SignalingServer {
  /** The port actually listened on (useful with port 0). */
  port: number;
  host: string;
  /** `ws://host:port` */
  url: string;
  /** The hub's counters; `redis` when sharing rooms through Redis. */
  stats(): SignalingStats & { redis?: RedisBusStats };
  /** Closes every connection (1001) and stops listening. Idempotent. */
  close(): Promise<void>;
}

export const HEALTH_TEXT = 'statechorus signaling server: ok\n';
