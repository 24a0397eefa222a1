// The child process of node-app.mjs: replicas r2 and r3 of its crash group over WebRTC.
import { idToPublicKey, importIdentity, memoryStorage, webrtcTransport } from 'statechorus';
import { createReplica } from 'statechorus/crash'; // the crash-only entry
import { counter } from './machine.mjs';

const { SIGNALING: signaling, ROOM: room } = process.env;
const ids = await Promise.all(JSON.parse(process.env.IDS).map((x) => importIdentity(x)));
/** [{ id, key }]: key is the member's identity id (its public key, base64url). */
const members = JSON.parse(process.env.MEMBERS).map((m) => ({ id: m.id, publicKey: idToPublicKey(m.key) }));
for (const [i, identity] of ids.entries()) {
  const replica = createReplica({ machine: counter, identity, id: `r${i + 2}`, group: { faultModel: 'crash', members }, transport: webrtcTransport({ signaling, room }), storage: memoryStorage() });
  await replica.start();
}
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(1), 60_000); // never outlive a parent that died
