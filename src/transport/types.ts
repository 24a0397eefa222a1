import type { Identity } from '../crypto/index.ts';
import type { TransportDiagnostics } from './diagnostics.ts';

/**
 * What a replica or client needs from a network: send bytes to a peer id, and receive
 * bytes with the id of the peer they came from. Implementations authenticate the link, so
 * the peer id they report is true: the simulated network by construction, WebRTC through
 * session descriptions signed with the peer's identity key.
 */
export interface Transport {
  send(to: string, bytes: Uint8Array): void;
  /** The handler may return a promise; a transport that can wait (the simulator) awaits it. */
  onMessage(handler: (from: string, bytes: Uint8Array) => unknown): void;
  start?(context?: TransportContext): Promise<void>;
  close?(): Promise<void>;
  /** Peers to connect to and keep connected (a replica's group as it changes). */
  connect?(ids: Iterable<string>): void;
  /** Why peers are or are not reachable (a network transport): shown in status(), used in client errors. */
  diagnostics?(): TransportDiagnostics;
  /** Drops messages still waiting for a link to these peers (never sent). */
  discardWaiting?(ids: Iterable<string>): void;
}

/** What a replica tells its transport when it starts it. */
export interface TransportContext {
  /** The replica's member id. */
  id: string;
  identity: Identity;
  /** The key a member id must have; unregistered ids must be derived from the peer's key. */
  peerKey: (id: string) => Uint8Array | undefined;
  /** Peers to connect to at once (the group's other members). */
  peers: string[];
}
