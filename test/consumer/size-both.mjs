// Size entry: the same app with the main entry's createReplica (both fault models).
export { createClient, createReplica, webrtcTransport, generateIdentity, idbStorage } from 'statechorus';
