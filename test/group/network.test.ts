// A Byzantine group built from one descriptor over real WebRTC (one process, a local signaling
// server): replicas get their transport from the descriptor, and a client given only the
// descriptor votes like a Byzantine client (the client without `faultModel` accepted a
// single reply: `agreed: ["r4"]`).
import { describe, expect, it } from 'vitest';
import { createClient, createReplica, generateIdentity, startSignalingServer, type GroupDescriptor } from '../../src/node.ts';
import { counter } from '../fixtures/machines.ts';

describe('a group from one descriptor over WebRTC', () => {
  it('byzantine: replicas and a client built from the descriptor alone; replies are voted (f+1 agree)', { timeout: 120_000 }, async () => {
    const server = await startSignalingServer({ port: 0 });
    const ids = await Promise.all(Array.from({ length: 4 }, () => generateIdentity()));
    const group: GroupDescriptor = {
      faultModel: 'byzantine',
      members: ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.id })),
      signaling: [server.url],
      room: 'descriptor-test',
    };
    const replicas = ids.map((identity) => createReplica({ group, identity, machine: counter }));
    const client = createClient({ group });
    try {
      await Promise.all(replicas.map((r) => r.start()));
      const out = await client.send({ type: 'INC' });
      expect(out.snapshot.context).toEqual({ count: 1 });
      expect(out.agreed.length).toBeGreaterThanOrEqual(2);
      expect(client.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(replicas.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
    } finally {
      client.close();
      await Promise.all(replicas.map((r) => r.stop()));
      await server.close();
    }
  });
});
