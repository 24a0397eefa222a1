// Size entry: a crash-model browser app (core + crash protocol + WebRTC + IndexedDB).
export { createReplica, createClient, webrtcTransport, generateIdentity } from 'statechorus';
export { idbStorage } from 'statechorus/idb';
