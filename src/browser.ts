// The entry for browsers: everything in index.ts (the WebRTC transport uses the browser's own
// RTCPeerConnection and WebSocket) and IndexedDB storage.
export * from './index.ts';
export { idbStorage } from './storage/idb.ts';
