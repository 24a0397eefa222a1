// What both signaling server adapters (node.ts, deno.ts) take and return.
import type { HubOptions, SignalingStats } from './hub.ts';

export interface SignalingServerOptions extends Partial<HubOptions> {
  /** 0 picks a free port (default 0). */
  port?: number;
  /** Default 127.0.0.1; '0.0.0.0' (or '::') to accept connections from other machines. */
  host?: string;
  /** How long `close()` waits for clients to finish the closing handshake (default 1000 ms). */
  closeGraceMs?: number;
}

export interface SignalingServer {
  /** The port actually listened on (useful with port 0). */
  port: number;
  host: string;
  /** `ws://host:port` */
  url: string;
  stats(): SignalingStats;
  /** Closes every connection (1001) and stops listening. Idempotent. */
  close(): Promise<void>;
}

export const HEALTH_TEXT = 'statechorus signaling server: ok\n';
