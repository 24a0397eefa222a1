// The transport contract (contract.ts) run against the WebRTC transport in Node (@roamhq/wrtc)
// over a local relay: three transports, linked once for the file (links take a while).
import { generateIdentity } from '../../src/crypto/index.ts';
import type { WebrtcTransport } from '../../src/transport/webrtc.ts';
import { describeTransportContract } from './contract.ts';
import { transportKit } from './relay.ts';

const kit = transportKit();
const ids = ['r1', 'r2', 'r3'] as const;
const keys = new Map<string, Uint8Array>();
const peerKey = (id: string) => keys.get(id);
let relayUrl = '';
const transports = new Map<string, WebrtcTransport>();

describeTransportContract('webrtcTransport (Node, @roamhq/wrtc)', {
  setUp: async () => {
    const relay = await kit.relayed();
    relayUrl = relay.url;
    const identities = await Promise.all(ids.map(() => generateIdentity()));
    ids.forEach((id, i) => keys.set(id, identities[i]!.publicKey));
    const peers = ids.map((id, i) => {
      const transport = kit.transport(relay, identities[i]!, { peerKey });
      transports.set(id, transport);
      return { id, transport };
    });
    // Each wants the others from the start: the links come up while the suite warms up.
    await Promise.all(peers.map((p, i) => p.transport.start({ id: p.id, identity: identities[i]!, peerKey, peers: ids.filter((x) => x !== p.id) })));
    return { peers: peers as never, tearDown: () => kit.closeAll().then(() => undefined) };
  },
  // Mallory has a key of her own and claims the victim's id: the receiver checks the signed
  // handshake against the victim's key and turns her away.
  impersonate: async (victim, receiver) => {
    const mallory = await generateIdentity();
    const transport = kit.transport(relayUrl, mallory, { peerKey });
    await transport.start({ id: victim.id, identity: mallory, peerKey, peers: [receiver.id] });
    const target = transports.get(receiver.id)!;
    return { transport, turnedAway: () => (target.stats().dropped['signaling:unknownSender'] ?? 0) >= 1, close: () => transport.close() };
  },
  absentId: 'r9',
  waitMs: 30_000,
});
