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
  wrtc ??= options.wrtc ?? loadWrtc();
  WebSocketImpl ??= options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (require('ws') as WebSocketConstructor);
  return coreWebrtcTransport({ ...options, wrtc: options.wrtc ?? wrtc, WebSocket: options.WebSocket ?? WebSocketImpl });
}

// @roamhq/wrtc is an optional dependency (a 26 MB native binary browser-only apps do not need).
function loadWrtc(): unknown {
  try {
    return require('@roamhq/wrtc');
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    throw new Error('statechorus: WebRTC in Node.js and Deno needs the package "@roamhq/wrtc" (npm install @roamhq/wrtc), or pass RTCPeerConnection and friends as the `wrtc` option', { cause: err });
  }
}
