// Size entry: a crash-model browser app (core + crash protocol + WebRTC + IndexedDB), with the
// crash-only createReplica: the Byzantine protocol must not be in its bundle.
export { createClient, webrtcTransport, generateIdentity } from 'statechorus';
export { createReplica } from 'statechorus/crash';
export { idbStorage } from 'statechorus/idb';
