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
  start?(): Promise<void>;
  close?(): Promise<void>;
}
