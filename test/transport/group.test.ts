import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { generateIdentity } from '../../src/crypto/index.ts';
import { webrtcTransport } from '../../src/transport/webrtc.ts';
import { createReplica } from '../../src/replica/index.ts';
import { createClient } from '../../src/client/index.ts';
import { kvMachine } from '../fixtures/machines.ts';
import { startRelay } from './relay.ts';
const require = createRequire(import.meta.url);
const wrtc = require('@roamhq/wrtc');

describe('replicas over WebRTC in one process', () => {
  for (const faultModel of ['crash', 'byzantine'] as const) {
    it(faultModel, async () => {
      const relay = await startRelay();
      const n = faultModel === 'crash' ? 3 : 4;
      const ids = await Promise.all(Array.from({ length: n }, () => generateIdentity()));
      const members = ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey }));
      const replicas = ids.map((identity, i) =>
        createReplica({ machine: kvMachine, identity, id: `r${i + 1}`, group: { faultModel, members }, transport: webrtcTransport({ signaling: relay.url, room: 'g', wrtc, WebSocket: WebSocket as any }) }),
      );
      await Promise.all(replicas.map((r) => r.start()));
      const ci = await generateIdentity();
      const keys = new Map(members.map((m) => [m.id, m.publicKey]));
      const client = createClient({ id: ci.id, faultModel, replicas: members.map((m) => m.id), transport: webrtcTransport({ signaling: relay.url, room: 'g', identity: ci, peerKey: (id) => keys.get(id), wrtc, WebSocket: WebSocket as any }) });
      const t0 = Date.now();
      const out = await client.send({ type: 'PUT', key: 'a', value: 1 });
      const t1 = Date.now();
      for (let i = 0; i < 200; i++) await client.send({ type: 'PUT', key: 'a', value: i });
      const t2 = Date.now();
      console.log(faultModel, 'first', t1 - t0, 'ms; 200 sequential', t2 - t1, 'ms', out.index, out.agreed);
      expect(out.snapshot.context).toEqual({ data: { a: 1 } });
      client.close();
      await Promise.all(replicas.map((r) => r.stop()));
      await relay.close();
    });
  }
});
