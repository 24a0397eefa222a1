// Node ESM, as a user writes it: the package by name, xstate alongside.
import { spawn } from 'node:child_process';
import { createClient, createLocalCluster, createReplica, exportIdentity, generateIdentity, memoryStorage, startSignalingServer, webrtcTransport } from 'statechorus';
import { counter } from './machine.mjs';

const check = (ok, what) => {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
};

for (const faultModel of ['crash', 'byzantine']) {
  const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 3 });
  const client = cluster.createClient();
  let out;
  for (let i = 0; i < 3; i++) out = await client.send({ type: 'INC' });
  check(out.snapshot.context.count === 3, `local cluster (${faultModel}) commits 3 INC`);
  await cluster.stop();
}

// A crash group of three over WebRTC: r1 and the client here, r2 and r3 in a child process.
const signaling = await startSignalingServer({ port: 0, host: '127.0.0.1' });
const ids = [await generateIdentity(), await generateIdentity(), await generateIdentity()];
const members = ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey }));
const room = `node-${process.pid}`;
const child = spawn(process.execPath, [new URL('./node-replicas.mjs', import.meta.url).pathname], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, SIGNALING: signaling.url, ROOM: room, IDS: JSON.stringify(ids.slice(1).map(exportIdentity)), MEMBERS: JSON.stringify(ids.map((x, i) => ({ id: `r${i + 1}`, key: x.id }))) },
});
const r1 = createReplica({ machine: counter, identity: ids[0], id: 'r1', group: { faultModel: 'crash', members }, transport: webrtcTransport({ signaling: signaling.url, room }), storage: memoryStorage() });
await r1.start();
const me = await generateIdentity();
const keys = new Map(members.map((m) => [m.id, m.publicKey]));
const transport = webrtcTransport({ signaling: signaling.url, room, identity: me, peerKey: (id) => keys.get(id) });
const client = createClient({ id: me.id, faultModel: 'crash', replicas: members.map((m) => m.id), transport });
const counts = [];
for (let i = 0; i < 3; i++) counts.push((await client.send({ type: 'INC' })).snapshot.context.count);
check(counts.join() === '1,2,3', `crash group across two processes over WebRTC commits (counts ${counts.join()})`);
client.close();
await transport.close();
await r1.stop();
child.kill('SIGTERM');
await signaling.close();
process.exit(0); // the native WebRTC threads can hold the process open
