export type { Transport, TransportContext } from './types.ts';
export { webrtcTransport, WebrtcTransport, type WebrtcTransportOptions, type TransportStats } from './webrtc.ts';
export type { WebSocketConstructor, WebSocketLike } from './signaling-client.ts';
