// The WebRTC transport for Node and Deno: RTCPeerConnection from @roamhq/wrtc, and `ws` where
// the runtime has no WebSocket (Node 20).
import { createRequire } from 'node:module';
import type { WebSocketConstructor } from './signaling-client.ts';
import { webrtcTransport as coreWebrtcTransport, type WebrtcTransport, type WebrtcTransportOptions } from './webrtc.ts';

const require = createRequire(import.meta.url);
let wrtc: unknown;
let WebSocketImpl: WebSocketConstructor | undefined;

/** WebRTC data channels through @roamhq/wrtc; see WebrtcTransportOptions. */
export function webrtcTransport(options: WebrtcTransportOptions): WebrtcTransport {
  wrtc ??= options.wrtc ?? require('@roamhq/wrtc');
  WebSocketImpl ??= options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (require('ws') as WebSocketConstructor);
  return coreWebrtcTransport({ ...options, wrtc: options.wrtc ?? wrtc, WebSocket: options.WebSocket ?? WebSocketImpl });
}
