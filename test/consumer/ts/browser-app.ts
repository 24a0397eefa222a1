// A browser app's imports (bundler resolution takes the browser types).
import { setup } from 'xstate';
import { createClient, generateIdentity, idbStorage, webrtcTransport, type ReplicaStatus } from 'statechorus';
import { createReplica } from 'statechorus/crash';
import { createReplica as createByzantineReplica } from 'statechorus/byzantine';
import { idbStorage as idb2 } from 'statechorus/idb';

const machine = setup({}).createMachine({ context: { n: 0 } });
export async function start(signaling: string): Promise<ReplicaStatus> {
  const identity = await generateIdentity();
  const replica = createReplica({ machine, identity, id: 'r1', group: { faultModel: 'crash', members: [{ id: 'r1', publicKey: identity.publicKey }] }, transport: webrtcTransport({ signaling, room: 'x' }), storage: idbStorage('a') ?? idb2('b') });
  await replica.start();
  void createClient; void createByzantineReplica;
  return replica.status();
}
