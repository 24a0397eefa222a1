// Networking under Deno: the Deno signaling server (signaling/deno.ts), the Node/Deno WebRTC
// transport (@roamhq/wrtc loaded through Deno's Node-API support) and a crash-model replica
// group with a client, all through the package's Node/Deno entry (src/node.ts).
//
// Runs under Deno only (`node scripts/deno-test.mjs`); vitest.config.ts excludes the folder
// (test/transport covers the same under Node). Tests are
// registered with Deno.test directly so that the sanitizers can be turned off: the native
// addon keeps threads and handles of its own, and the transport's timers end asynchronously.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, setup } from 'xstate';
import { createClient, createReplica, fileStorage, generateIdentity, memoryStorage, webrtcTransport, type Identity } from '../../src/node.ts';
import { startSignalingServer } from '../../signaling/deno.ts';

// deno-lint-ignore no-explicit-any
declare const Deno: any;
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

function test(name: string, fn: () => Promise<void>, timeoutMs = 60_000): void {
  if (!isDeno) return;
  Deno.test({
    name: `deno-net > ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    // Deno.test has no timeout of its own: a hang fails here instead of blocking the run.
    fn: () => withTimeout(fn(), timeoutMs, name),
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done in ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function assertEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const counter = setup({
  types: { context: {} as { count: number }, events: {} as { type: 'INC' } },
}).createMachine({
  context: { count: 0 },
  on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

test('two webrtcTransports through the Deno signaling server: both ways, 1 MiB chunked', async () => {
  const started = Date.now();
  const server = await startSignalingServer({ port: 0 });
  const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
  const ta = webrtcTransport({ signaling: server.url, room: 'deno-pair', identity: a });
  const tb = webrtcTransport({ signaling: server.url, room: 'deno-pair', identity: b });
  try {
    const inA: Array<{ from: string; bytes: Uint8Array }> = [];
    const inB: Array<{ from: string; bytes: Uint8Array }> = [];
    let wake = () => {};
    ta.onMessage((from, bytes) => void (inA.push({ from, bytes }), wake()));
    tb.onMessage((from, bytes) => void (inB.push({ from, bytes }), wake()));
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise<void>((resolve) => (wake = resolve));
    };
    await Promise.all([ta.start(), tb.start()]);

    const sizes = [0, 5, 16 * 1024 + 1, 1024 * 1024, 7];
    sizes.forEach((n, i) => ta.send(b.id, bytesOf(n, i)));
    tb.send(a.id, bytesOf(10, 99));
    tb.send(a.id, bytesOf(1024 * 1024, 98));
    await until(() => inB.length >= sizes.length && inA.length >= 2);

    assertEqual(inB.map((m) => m.bytes.length), sizes, 'sizes a -> b');
    inB.forEach((m, i) => {
      if (!sameBytes(m.bytes, bytesOf(sizes[i]!, i))) throw new Error(`a -> b message ${i} differs`);
      if (m.from !== a.id) throw new Error(`a -> b message ${i} from ${m.from}`);
    });
    assertEqual(inA.map((m) => m.bytes.length), [10, 1024 * 1024], 'sizes b -> a');
    if (!sameBytes(inA[0]!.bytes, bytesOf(10, 99)) || !sameBytes(inA[1]!.bytes, bytesOf(1024 * 1024, 98))) throw new Error('b -> a bytes differ');
    if (inA.some((m) => m.from !== b.id)) throw new Error('b -> a sender');
    assertEqual(ta.connectedPeers(), [b.id], 'a connected to');
    assertEqual(tb.connectedPeers(), [a.id], 'b connected to');
    const s = ta.stats();
    if (s.linksUp !== 1 || s.bytesOut < 1024 * 1024) throw new Error(`a stats ${JSON.stringify(s)}`);
    console.log(`deno-net pair: ${Date.now() - started} ms`);
  } finally {
    await Promise.all([ta.close(), tb.close()]);
    await server.close();
  }
});

test('crash-model group of 3 replicas and a client over WebRTC', async () => {
  const started = Date.now();
  const server = await startSignalingServer({ port: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'statechorus-deno-net-'));
  const room = 'deno-group';
  const ids = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  const members = ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey }));
  const keys = new Map(members.map((m) => [m.id, m.publicKey]));
  // r1 keeps its state in files, the others in memory: both storages under Deno.
  const storages = ids.map((_, i) => (i === 0 ? fileStorage(join(dir, 'r1')) : memoryStorage()));
  const replicas = ids.map((identity: Identity, i) =>
    createReplica({
      machine: counter,
      identity,
      id: `r${i + 1}`,
      group: { faultModel: 'crash', members },
      transport: webrtcTransport({ signaling: server.url, room }),
      storage: storages[i]!,
    }),
  );
  const ci = await generateIdentity();
  const client = createClient({
    id: ci.id,
    faultModel: 'crash',
    replicas: members.map((m) => m.id),
    transport: webrtcTransport({ signaling: server.url, room, identity: ci, peerKey: (id) => keys.get(id) }),
  });
  try {
    await Promise.all(replicas.map((r) => r.start()));
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await client.send({ type: 'INC' });
      counts.push((out.snapshot.context as { count: number }).count);
    }
    assertEqual(counts, [1, 2, 3, 4, 5], 'counts');
    assertEqual((await client.read()).context, { count: 5 }, 'read');
    // Every replica applies the five entries (followers learn the commit index a little later).
    const end = Date.now() + 10_000;
    while (!replicas.every((r) => r.status().appliedIndex >= 5 && (r.app.getSnapshot().context as { count: number }).count === 5)) {
      if (Date.now() > end) throw new Error(`replicas not caught up: ${JSON.stringify(replicas.map((r) => r.status()))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`deno-net group: ${Date.now() - started} ms`);
  } finally {
    client.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(storages.map((s) => s.close()));
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
