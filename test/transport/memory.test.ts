// The in-process transport (src/transport/memory.ts): the transport contract, and what is its own
// (ids handed out once, the start check, counted drops).
import { describe, expect, it } from 'vitest';
import { createClient, createReplica, generateIdentity } from '../../src/index.ts';
import { memoryNetwork } from '../../src/transport/memory.ts';
import { counter } from '../fixtures/machines.ts';
import { describeTransportContract } from './contract.ts';

const network = memoryNetwork();
describeTransportContract('memoryNetwork', {
  setUp: async () => {
    const peers = (['a', 'b', 'c'] as const).map((id) => ({ id, transport: network.transport(id) }));
    await Promise.all(peers.map((p) => p.transport.start()));
    return { peers: peers as never, tearDown: async () => void (await Promise.all(peers.map((p) => p.transport.close()))) };
  },
  // The hub gives an id to one open transport at a time: there is no way to send as another.
  impersonate: async (victim) => {
    try {
      network.transport(victim.id);
    } catch (err) {
      return { refused: err as Error };
    }
    throw new Error(`memoryNetwork handed out ${victim.id} twice`);
  },
  absentId: 'nobody',
  waitMs: 5_000,
});

/** Resolves when `cond` holds; a timeout names what it waited for. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not reached within 5 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('memoryNetwork', () => {
  it('delivers after send returns, never inside it', async () => {
    const net = memoryNetwork();
    const [x, y] = [net.transport('x'), net.transport('y')];
    const got: string[] = [];
    y.onMessage((from) => void got.push(from));
    x.send('y', Uint8Array.of(1));
    expect(got).toEqual([]);
    await until(() => got.length === 1, 'the message at y');
    expect(got).toEqual(['x']);
  });

  it('frees an id when its transport closes (a restart), and the old transport stays silent', async () => {
    const net = memoryNetwork();
    const old = net.transport('x');
    const y = net.transport('y');
    const got: number[] = [];
    y.onMessage((_, bytes) => void got.push(bytes[0]!));
    await old.close();
    const again = net.transport('x');
    old.send('y', Uint8Array.of(1));
    again.send('y', Uint8Array.of(2));
    await until(() => got.length === 1, 'the new x at y');
    expect(got).toEqual([2]);
    expect(net.peers().sort()).toEqual(['x', 'y']);
  });

  it('refuses to start under another id than the one it was given', async () => {
    const t = memoryNetwork().transport('r1');
    await expect(t.start({ id: 'r2', identity: undefined as never, peerKey: () => undefined, peers: [] })).rejects.toThrow(/started as "r2".*"r1"/);
  });

  it('counts what it cannot deliver: an unknown peer, a peer not listening, a closed one, a failing handler', async () => {
    const net = memoryNetwork();
    const [x, quiet, closing, failing] = ['x', 'quiet', 'closing', 'failing'].map((id) => net.transport(id)) as [ReturnType<typeof net.transport>, ReturnType<typeof net.transport>, ReturnType<typeof net.transport>, ReturnType<typeof net.transport>];
    closing.onMessage(() => {});
    failing.onMessage(() => {
      throw new Error('bug');
    });
    x.send('nobody', Uint8Array.of(1));
    x.send('quiet', Uint8Array.of(2));
    x.send('closing', Uint8Array.of(3));
    x.send('failing', Uint8Array.of(4));
    await closing.close();
    await until(() => Object.values(net.stats.dropped).reduce((s, n) => s + n, 0) === 4, 'four drops');
    expect(net.stats.dropped).toEqual({ unknownPeer: 1, notListening: 1, closed: 1, handlerError: 1 });
    expect(quiet.closed).toBe(false);
  });

  it('errors clearly on bad arguments', () => {
    const net = memoryNetwork();
    expect(() => net.transport('')).toThrow(/non-empty string/);
    const x = net.transport('x');
    expect(() => net.transport('x')).toThrow(/taken/);
    expect(() => x.send('y', [1, 2] as never)).toThrow(/Uint8Array/);
    expect(() => x.onMessage(undefined as never)).toThrow(/function/);
  });
});

describe('memoryNetwork under a replica group', () => {
  it('carries a crash group and its client on the real clock, without the simulator', async () => {
    const net = memoryNetwork();
    const ids = ['r1', 'r2', 'r3'];
    const identities = await Promise.all(ids.map(() => generateIdentity()));
    const members = ids.map((id, i) => ({ id, publicKey: identities[i]!.publicKey }));
    const replicas = ids.map((id, i) => createReplica({ machine: counter, identity: identities[i]!, id, group: { faultModel: 'crash', members }, transport: net.transport(id) }));
    const client = createClient({ id: 'c1', transport: net.transport('c1'), replicas: ids, faultModel: 'crash', machine: counter });
    try {
      await Promise.all(replicas.map((r) => r.start()));
      const out = await client.send({ type: 'ADD', amount: 3 });
      expect(out.snapshot.context).toEqual({ count: 3 });
      expect(net.stats.delivered).toBeGreaterThan(0);
    } finally {
      client.close();
      await Promise.all(replicas.map((r) => r.stop()));
    }
  }, 30_000);
});
