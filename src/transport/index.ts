export type { Transport, TransportContext } from './types.ts';
export { memoryNetwork, type MemoryTransport, type MemoryNetwork, type MemoryNetworkStats } from './memory.ts';
export { webrtcTransport, WebrtcTransport, type WebrtcTransportOptions, type TransportStats } from './webrtc.ts';
export type { WebSocketConstructor, WebSocketLike } from './signaling-client.ts';
export { SignalingUnreachableError, NoLinkError, explainNoLink, type TransportDiagnostics, type PeerLinkState, type AnnouncedPeer, type SignalingState } from './diagnostics.ts';
