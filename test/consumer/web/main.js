// A browser app: a crash-model replica in this page, storing in IndexedDB, driven by
// browser-run.mjs through window.app.
import { createReplica, generateIdentity, idbStorage, idToPublicKey, webrtcTransport } from 'statechorus';
import { counter } from '../machine.mjs';

const errors = [];
addEventListener('error', (e) => errors.push(String(e.message ?? e)));
addEventListener('unhandledrejection', (e) => errors.push(String(e.reason?.stack ?? e.reason)));
let replica;
const identity = generateIdentity();

window.app = {
  errors,
  id: () => identity.then((x) => x.id),
  /** members: [{ id, key }] with key the member's identity id. */
  async startReplica({ id, members, signaling, room }) {
    replica = createReplica({
      machine: counter,
      identity: await identity,
      id,
      group: { faultModel: 'crash', members: members.map((m) => ({ id: m.id, publicKey: idToPublicKey(m.key) })) },
      transport: webrtcTransport({ signaling, room }),
      storage: idbStorage(`consumer-${id}`),
    });
    await replica.start();
    document.getElementById('status').textContent = `replica ${id} started`;
  },
  status: () => replica?.status(),
};
document.getElementById('status').textContent = 'ready';
