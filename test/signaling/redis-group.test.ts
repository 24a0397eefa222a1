/**
 * A replica group meeting through several signaling instances that share rooms through Redis:
 * peers on different instances form a crash-model group that commits; an instance killed
 * (SIGKILL, a real process) mid-run, and a replica restarted after it, re-links through the
 * instances left and the group keeps committing.
 */
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../src/crypto/index.ts';
import { createClient } from '../../src/client/index.ts';
import { createReplica } from '../../src/replica/index.ts';
import { memoryStorage, type Storage } from '../../src/storage/index.ts';
import { webrtcTransport, type WebrtcTransport } from '../../src/transport/webrtc.ts';
import { startSignalingServer, type SignalingServer } from '../../signaling/node.ts';
import { kvMachine } from '../fixtures/machines.ts';
import { scratchPackage, spawnProc, waitUntil, type Proc } from './processes.ts';
import { startRedis, type TestRedis } from './redis-server.ts';

const require = createRequire(import.meta.url);
const wrtc = require('@roamhq/wrtc') as unknown;

let redis: TestRedis;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);

afterAll(async () => {
  for (const f of cleanup.reverse()) {
    try {
      await f();
    } catch {
      // best effort: the next one still runs
    }
  }
  await redis?.stop();
}, 60_000);

interface Group {
  ids: Identity[];
  members: Array<{ id: string; publicKey: Uint8Array }>;
  keys: Map<string, Uint8Array>;
}

async function makeGroup(n: number): Promise<Group> {
  const ids = await Promise.all(Array.from({ length: n }, () => generateIdentity()));
  const members = ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey }));
  return { ids, members, keys: new Map(members.map((m) => [m.id, m.publicKey])) };
}

function startReplica(g: Group, i: number, signaling: string[], room: string, storage: Storage = memoryStorage()) {
  const transport = webrtcTransport({ signaling, room, wrtc, WebSocket: WebSocket as never });
  const replica = createReplica({ machine: kvMachine, identity: g.ids[i]!, id: `r${i + 1}`, group: { faultModel: 'crash', members: g.members }, transport, storage });
  cleanup.push(() => replica.stop());
  return { replica, transport, storage };
}

async function startClient(g: Group, signaling: string[], room: string) {
  const identity = await generateIdentity();
  const transport = webrtcTransport({ signaling, room, identity, peerKey: (id) => g.keys.get(id), wrtc, WebSocket: WebSocket as never });
  const client = createClient({ id: identity.id, faultModel: 'crash', replicas: g.members.map((m) => m.id), transport });
  cleanup.push(() => client.close());
  return { client, transport };
}

const links = (ts: WebrtcTransport[]) => ts.map((t) => t.stats().linksUp).join(', ');

describe('a group over signaling instances sharing rooms through Redis', () => {
  it('replicas and a client, each on another instance, meet and commit', async () => {
    const servers: SignalingServer[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startSignalingServer({ redis: redis.url });
      servers.push(s);
      cleanup.push(() => s.close());
    }
    const [a, b, c] = servers.map((s) => s.url) as [string, string, string];
    const g = await makeGroup(3);
    const rs = [startReplica(g, 0, [a], 'spread'), startReplica(g, 1, [b], 'spread'), startReplica(g, 2, [c], 'spread')];
    await Promise.all(rs.map((r) => r.replica.start()));
    const { client } = await startClient(g, [b], 'spread');
    for (let i = 1; i <= 3; i++) {
      const out = await client.send({ type: 'PUT', key: 'k', value: i });
      expect(out.snapshot.context).toEqual({ data: { k: i } });
    }
    // Each replica is alone on its instance: every replica-to-replica link went through Redis.
    await waitUntil(() => rs.every((r) => r.transport.stats().linksUp >= 2), 30_000, () => `links up: ${links(rs.map((r) => r.transport))}`);
    for (const s of servers) expect(s.stats().redis?.delivered).toBeGreaterThan(0);
  }, 120_000);

  it('an instance killed mid-run: a replica restarted after it re-links through the others, and the group keeps committing', async () => {
    const pkg = scratchPackage('redis-group-');
    cleanup.push(() => pkg.remove());
    const procs: Proc[] = [];
    const urls: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = spawnProc(process.execPath, [pkg.bin, 'signal', '--port', '0', '--redis', redis.url]);
      cleanup.push(() => p.child.exitCode === null && p.child.signalCode === null && p.child.kill('SIGKILL'));
      procs.push(p);
      const [, url] = await p.waitFor(/signaling server listening on (ws:\/\/\S+)\n/);
      expect(p.stdout()).toMatch(/^sharing rooms through Redis at redis:\/\/127\.0\.0\.1:\d+\/? \(instance [0-9a-f]{16}\)\n/);
      urls.push(url!);
    }
    const [a, b, c] = urls as [string, string, string];
    const g = await makeGroup(3);
    // Every peer on two instances; A is the one that will die.
    const rs = [startReplica(g, 0, [a, b], 'kill'), startReplica(g, 1, [b, c], 'kill'), startReplica(g, 2, [c, a], 'kill')];
    await Promise.all(rs.map((r) => r.replica.start()));
    const { client } = await startClient(g, [a, b], 'kill');
    let value = 0;
    const put = async () => {
      const out = await client.send({ type: 'PUT', key: 'k', value: ++value });
      expect(out.snapshot.context).toEqual({ data: { k: value } });
      return out;
    };
    for (let i = 0; i < 3; i++) await put();

    procs[0]!.child.kill('SIGKILL');
    expect(await procs[0]!.exit).toEqual({ code: null, signal: 'SIGKILL' });
    await put();

    // r3 restarts (same storage). Of its instances only C is left, and r1's only B: r3 reaches
    // r1 only if B and C still share the room through Redis.
    await rs[2]!.replica.stop();
    const r3 = startReplica(g, 2, [c, a], 'kill', rs[2]!.storage);
    await r3.replica.start();
    let last = 0;
    for (let i = 0; i < 3; i++) last = (await put()).index;
    await waitUntil(
      () => r3.transport.stats().linksUp >= 2 && r3.replica.status().appliedIndex >= last,
      60_000,
      () => `restarted r3: links up ${r3.transport.stats().linksUp}, applied ${r3.replica.status().appliedIndex} of ${last}; dropped ${JSON.stringify(r3.transport.stats().dropped)}`,
    );
    expect(procs[1]!.stderr() + procs[2]!.stderr()).toBe('');
  }, 180_000);
});
