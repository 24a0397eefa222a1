// Crash model: a new member's public key travels in the ordered config entry, so the group grows
// with no side channel (no knowMember): in the local cluster, over real WebRTC, and through an
// admin-signed command (the Byzantine model's signReconfiguration). Bad commands and bad keys in
// config entries are refused and counted.
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createLocalCluster } from '../../src/index.ts';
import { generateIdentity } from '../../src/crypto/index.ts';
import { createReplica, Replica, signReconfiguration, type GroupMember } from '../../src/replica/index.ts';
import { createClient } from '../../src/client/index.ts';
import { webrtcTransport } from '../../src/transport/webrtc.ts';
import { validateRaftMessage, RaftCore, DEFAULT_RAFT_CONFIG } from '../../actors/crash/index.ts';
import { counter } from '../fixtures/machines.ts';
import { startRelay, wrtc } from '../transport/relay.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('crash model: member keys in the ordered config entry', () => {
  it('the local cluster adds a replica without knowMember; it leads and commits', async () => {
    const knowMember = vi.spyOn(Replica.prototype, 'knowMember');
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'crash', f: 1, seed: 5 });
    cleanup.push(() => cluster.stop());
    const client = cluster.createClient();
    await client.send({ type: 'INC' });
    const id = await cluster.addReplica();
    expect(knowMember).not.toHaveBeenCalled();
    await cluster.waitFor(() => cluster.replica(id).status().members.includes(id), { timeoutMs: 30_000 });
    // Leading needs every other replica to verify its signatures: the key came from the log.
    await cluster.transferLeadership(id);
    expect(cluster.leader()).toBe(id);
    const out = await client.send({ type: 'INC' });
    expect(out.snapshot.context).toEqual({ count: 2 });
    expect(knowMember).not.toHaveBeenCalled();
  });

  it('config entries with a bad key are malformed (dropped by ingress)', () => {
    const entry = (keys: unknown) => ({ type: 'append', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, time: 0, kind: 'config', data: { voters: ['a'], learners: ['b'], keys } }] });
    expect(validateRaftMessage(entry([{ id: 'b', key: new Uint8Array(32) }]))).toHaveProperty('type', 'append');
    expect(validateRaftMessage(entry([{ id: 'b', key: new Uint8Array(31) }]))).toBe('bad append entries');
    expect(validateRaftMessage(entry([{ id: 'z', key: new Uint8Array(32) }]))).toBe('bad append entries'); // not a member
    expect(validateRaftMessage(entry([{ id: 'b', key: 'AAAA' }]))).toBe('bad append entries');
    expect(validateRaftMessage(entry([]))).toBe('bad append entries');
  });

  it('a signed change is taken once: a replayed nonce is refused by the core', () => {
    const core = new RaftCore({ config: { ...DEFAULT_RAFT_CONFIG, id: 'a' }, hardState: { term: 0, vote: null, commit: 0 }, membership: { voters: ['a'], learners: [] }, snapshot: null, entries: [], seed: 1 });
    for (let t = 0; t < 40 && core.role !== 'leader'; t++) core.tick(t);
    core.persisted(core.log.lastIndex);
    const key = new Uint8Array(32).fill(7);
    expect(core.changeMembership({ add: 'b', key, nonce: 3 }, 100)).toBe(null);
    expect(core.membership).toEqual({ voters: ['a'], learners: ['b'], keys: [{ id: 'b', key }], adminNonce: 3 });
    core.persisted(core.log.lastIndex);
    core.tick(200);
    expect(core.changeMembership({ remove: 'b', nonce: 3 }, 300)).toMatch(/nonce 3 or later was applied already/);
  });
});

describe('crash model over WebRTC: an admin-signed add-member', () => {
  it('adds r4 with its key in the command; r4 leads and the group commits; bad commands are counted drops', async () => {
    const relay = await startRelay();
    cleanup.push(() => relay.close());
    const admin = await generateIdentity();
    const ids = await Promise.all([1, 2, 3, 4].map(() => generateIdentity()));
    const members: GroupMember[] = ids.slice(0, 3).map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey }));
    const transport = () => webrtcTransport({ signaling: relay.url, room: 'grow', wrtc, WebSocket: WebSocket as never });
    const group = { faultModel: 'crash' as const, members, admin: admin.publicKey };
    const replicas = ids.slice(0, 3).map((identity) => createReplica({ machine: counter, identity, group, transport: transport() }) as Replica);
    cleanup.push(() => Promise.all(replicas.map((r) => r.stop())));
    await Promise.all(replicas.map((r) => r.start()));
    const until = async (cond: () => boolean, what: () => unknown) => {
      const end = Date.now() + 30_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`not reached in 30 s; saw ${JSON.stringify(what())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const statuses = () => replicas.map((r) => ({ id: r.id, phase: r.status().phase, leader: r.status().leader, members: r.status().members, learners: r.status().learners, applied: r.status().appliedIndex }));
    await until(() => replicas.some((r) => r.status().phase === 'leader'), statuses);
    const leader = () => replicas.find((r) => r.status().phase === 'leader')!;

    // Refused, and counted: not signed by the admin, a bad key, a garbled command.
    const stranger = await generateIdentity();
    const forged = await signReconfiguration(stranger, { add: { id: 'r4', key: ids[3]!.publicKey } }, 1);
    expect(await leader().submitReconfiguration(forged)).toBe('the command is not signed by the group admin');
    const shortKey = await signReconfiguration(admin, { add: { id: 'r4', key: new Uint8Array(31) } }, 1);
    expect(await leader().submitReconfiguration(shortKey)).toBe('bad member: an id and a 32-byte public key are required');
    expect(await leader().submitReconfiguration({ p: new Uint8Array([1, 2, 3]), s: new Uint8Array(64) })).toBe('not a signed command');
    expect(leader().metrics.dropped['bad-reconfiguration']).toBe(3);

    // r4 is configured with the current members; nobody is told its key except through the log.
    const r4 = createReplica({ machine: counter, identity: ids[3]!, id: 'r4', join: true, group, transport: transport() }) as Replica;
    cleanup.push(() => r4.stop());
    await r4.start();
    const command = await signReconfiguration(admin, { add: { id: 'r4', key: ids[3]!.publicKey } }, 1);
    // Any replica may be handed the command; only the leader proposes it (followers say so).
    const end = Date.now() + 30_000;
    for (;;) {
      const answers: Array<string | null> = [];
      for (const r of replicas) {
        answers.push(await r.submitReconfiguration(command));
        if (answers.at(-1) === null) break;
      }
      if (answers.at(-1) === null) break;
      if (Date.now() > end) throw new Error(`add-member refused for 30 s: ${answers.join('; ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const all = [...replicas, r4];
    await until(() => all.every((r) => r.status().members.includes('r4')), () => all.map((r) => r.status().members));

    // r4 takes the lead: the others verify its signatures with the key from the log.
    await until(() => r4.status().appliedIndex >= leader().status().commitIndex, () => [r4.status(), leader().status()]);
    await leader().transferLeadership('r4');
    await until(() => r4.status().phase === 'leader', () => all.map((r) => r.status().phase));
    const ci = await generateIdentity();
    const keys = new Map([...members, { id: 'r4', publicKey: ids[3]!.publicKey }].map((m) => [m.id, m.publicKey]));
    const client = createClient({ id: ci.id, faultModel: 'crash', replicas: ['r4', 'r1', 'r2', 'r3'], transport: webrtcTransport({ signaling: relay.url, room: 'grow', identity: ci, peerKey: (id) => keys.get(id), wrtc, WebSocket: WebSocket as never }) });
    cleanup.push(() => client.close());
    const out = await client.send({ type: 'INC' });
    expect(out.agreed).toEqual(['r4']);
    expect(out.snapshot.context).toEqual({ count: 1 });
    for (const r of replicas) expect(r.metrics.dropped['unknown-sender'] ?? 0).toBe(0);
    // A replay of the same signed command is refused (once the promotion of r4 is committed).
    let replay: string | null;
    const end2 = Date.now() + 30_000;
    do {
      replay = await r4.submitReconfiguration(command);
      if (replay !== 'another membership change is in progress') break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < end2);
    expect(replay).toBe('a signed change with nonce 1 or later was applied already (last: 1)');
  }, 60_000);
});
