// Deno, as a Deno user imports an npm package: npm: specifiers resolved from this project's
// node_modules (deno.json: nodeModulesDir "manual"). The signaling server is the driver's.
import { createClient, createLocalCluster, createReplica, generateIdentity, memoryStorage, webrtcTransport } from 'npm:statechorus';
import { counter } from './machine.mjs';

const check = (ok, what) => {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
};

for (const faultModel of ['crash', 'byzantine']) {
  const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 5 });
  const client = cluster.createClient();
  let out;
  for (let i = 0; i < 3; i++) out = await client.send({ type: 'INC' });
  check(out.snapshot.context.count === 3, `Deno: local cluster (${faultModel}) commits 3 INC`);
  await cluster.stop();
}

const signaling = Deno.env.get('SIGNALING');
const room = `deno-${Deno.pid}`;
const ids = [await generateIdentity(), await generateIdentity(), await generateIdentity()];
const members = ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey }));
const replicas = ids.map((identity, i) => createReplica({ machine: counter, identity, id: `r${i + 1}`, group: { faultModel: 'crash', members }, transport: webrtcTransport({ signaling, room }), storage: memoryStorage() }));
await Promise.all(replicas.map((r) => r.start()));
const me = await generateIdentity();
const keys = new Map(members.map((m) => [m.id, m.publicKey]));
const transport = webrtcTransport({ signaling, room, identity: me, peerKey: (id) => keys.get(id) });
const client = createClient({ id: me.id, faultModel: 'crash', replicas: members.map((m) => m.id), transport });
const counts = [];
for (let i = 0; i < 3; i++) counts.push((await client.send({ type: 'INC' })).snapshot.context.count);
check(counts.join() === '1,2,3', `Deno: crash group over WebRTC (@roamhq/wrtc) commits (counts ${counts.join()})`);
Deno.exit(0);
