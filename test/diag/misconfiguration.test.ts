// Misconfiguration surfaces within seconds with a message naming the cause: an unreachable
// signaling server (replica.start() and a client's first send reject with the URL and the
// error), a client that reaches no replica (NoLinkError: who announced, who failed the key
// check and why, or an empty room), status() showing signaling and links, and a typo'd id.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import WebSocket from 'ws';
import { generateIdentity, type Identity } from '../../src/crypto/index.ts';
import { webrtcTransport, type WebrtcTransportOptions } from '../../src/transport/webrtc.ts';
import { NoLinkError, SignalingUnreachableError } from '../../src/transport/diagnostics.ts';
import { createReplica, type AnyReplica, type GroupMember } from '../../src/replica/index.ts';
import { createClient, type Client } from '../../src/client/index.ts';
import { counter } from '../fixtures/machines.ts';
import { startRelay, wrtc, type Relay } from '../transport/relay.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function transport(signaling: string, extra: Partial<WebrtcTransportOptions> = {}) {
  return webrtcTransport({ signaling, room: 'diag', wrtc, WebSocket: WebSocket as never, ...extra });
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function relay(): Promise<Relay> {
  const r = await startRelay();
  cleanup.push(() => r.close());
  return r;
}

async function group(n: number): Promise<{ ids: Identity[]; members: GroupMember[] }> {
  const ids = await Promise.all(Array.from({ length: n }, () => generateIdentity()));
  return { ids, members: ids.map((identity, i) => ({ id: `r${i + 1}`, publicKey: identity.publicKey })) };
}

function replicas(r: Relay, g: { ids: Identity[]; members: GroupMember[] }): AnyReplica[] {
  const out = g.ids.map((identity) => createReplica({ machine: counter, identity, group: { faultModel: 'crash', members: g.members }, transport: transport(r.url) }));
  cleanup.push(() => Promise.all(out.map((x) => x.stop())));
  return out;
}

function client(c: Client): Client {
  cleanup.push(() => c.close());
  return c;
}

/** Polls `cond` (the transports' own timers drive it); on giving up, says what it last saw. */
async function until<T>(read: () => T, cond: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (cond(v)) return v;
    if (Date.now() > end) throw new Error(`condition not reached in ${ms} ms; last seen: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('signaling unreachable', () => {
  it('replica.start() rejects naming the URL and the error, within the signaling timeout', async () => {
    const url = `ws://127.0.0.1:${await deadPort()}`;
    const g = await group(3);
    const replica = createReplica({ machine: counter, identity: g.ids[0]!, group: { faultModel: 'crash', members: g.members }, transport: transport(url, { signalingTimeoutMs: 1_500 }) });
    const t0 = Date.now();
    const err = await replica.start().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SignalingUnreachableError);
    expect((err as Error).message).toContain(url);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(replica.status().running).toBe(false);
  });

  it("a client's first send rejects naming the URL and the error", async () => {
    const url = `ws://127.0.0.1:${await deadPort()}`;
    const identity = await generateIdentity();
    const c = client(createClient({ id: identity.id, faultModel: 'crash', replicas: ['r1', 'r2', 'r3'], transport: transport(url, { identity, signalingTimeoutMs: 1_000 }) }));
    const err = await c.send({ type: 'INC' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SignalingUnreachableError);
    expect((err as Error).message).toBe(`cannot reach any signaling server within 1000 ms: ${url}: connect ECONNREFUSED ${url.slice(5)}`);
  });

  it('a server that answers but is not a WebSocket server: the HTTP status is named', async () => {
    const { createServer: http } = await import('node:http');
    const server = http((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
    const t = transport(url, { identity: await generateIdentity(), signalingTimeoutMs: 1_000 });
    await expect(t.start()).rejects.toThrow(`${url}: Unexpected server response: 404`);
  });

  it('a later loss of signaling is reported in status, not thrown', async () => {
    const r = await startRelay();
    const g = await group(3);
    const rs = replicas(r, g);
    await Promise.all(rs.map((x) => x.start()));
    expect(rs[0]!.status().signaling).toEqual([{ url: r.url, state: 'connected', opens: 1 }]);
    await r.close();
    const seen = await until(() => rs[0]!.status().signaling, (s) => s?.[0]?.state === 'failed');
    expect(seen![0]!.lastError).toMatch(/ECONNREFUSED|code 1006/);
    expect(rs[0]!.status().running).toBe(true);
  });
});

describe('a client with no link to any replica fails fast with the cause', () => {
  it('no peerKey configured: names the replicas announced and why their key check failed; not applied', async () => {
    const r = await relay();
    const g = await group(3);
    await Promise.all(replicas(r, g).map((x) => x.start()));
    const identity = await generateIdentity();
    // The mistake: no peerKey, so the replicas' ids ('r1'…) cannot be checked against a key.
    const c = client(createClient({ id: identity.id, faultModel: 'crash', replicas: ['r1', 'r2', 'r3'], noLinkAfterMs: 2_000, transport: transport(r.url, { identity }) }));
    const t0 = Date.now();
    const err = await c.send({ type: 'INC' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NoLinkError);
    const message = (err as Error).message;
    expect(message).toMatch(/^no link to any replica after \d+ ms; nothing was sent, so the request was not applied\./);
    for (const id of ['r1', 'r2', 'r3']) {
      expect(message).toContain(`${id} (key check failed: no key configured for ${id} (pass it through peerKey / the group's members) and the id is not derived from its key)`);
    }
    expect(message).toContain("announced in room 'diag'");
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a wrong key for a replica: key mismatch is named', async () => {
    const r = await relay();
    const g = await group(3);
    await Promise.all(replicas(r, g).map((x) => x.start()));
    const identity = await generateIdentity();
    const other = await generateIdentity();
    const keys = new Map(g.members.map((m) => [m.id, m.id === 'r1' ? other.publicKey : m.publicKey]));
    // Only r1 is listed, and its key is wrong.
    const c = client(createClient({ id: identity.id, faultModel: 'crash', replicas: ['r1'], noLinkAfterMs: 2_000, transport: transport(r.url, { identity, peerKey: (id) => keys.get(id) }) }));
    const err = await c.send({ type: 'INC' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NoLinkError);
    expect((err as Error).message).toMatch(/r1 \(key check failed: its key \S+ is not the key configured for r1\)/);
    expect((err as Error).message).toMatch(/links: r1 failed \(key check failed\)$/);
  });

  it('an empty room (or a wrong room name): says nobody announced', async () => {
    const r = await relay();
    const identity = await generateIdentity();
    const c = client(createClient({ id: identity.id, faultModel: 'byzantine', replicas: ['r1', 'r2', 'r3', 'r4'], noLinkAfterMs: 1_500, transport: transport(r.url, { identity }) }));
    const err = await c.read().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NoLinkError);
    expect((err as Error).message).toContain(`room 'diag' on ${r.url} is empty: no replica announced itself`);
    expect((err as Error).message).toContain('links: r1 connecting (not seen in the room yet), r2 connecting (not seen in the room yet)');
  });

  it('nothing queued leaves after NoLinkError: the replicas never apply the request', async () => {
    const r = await relay();
    const g = await group(3);
    const rs = replicas(r, g);
    await Promise.all(rs.map((x) => x.start()));
    const identity = await generateIdentity();
    const t = transport(r.url, { identity });
    const c = client(createClient({ id: identity.id, faultModel: 'crash', replicas: ['r1', 'r2', 'r3'], noLinkAfterMs: 1_500, transport: t }));
    await expect(c.send({ type: 'INC' })).rejects.toBeInstanceOf(NoLinkError);
    expect(t.diagnostics().peers.map((p) => p.sent)).toEqual([0, 0, 0]);
    expect(rs.every((x) => x.status().appliedIndex <= 1)).toBe(true); // the leader's own entry at most
  });
});

describe('status() shows signaling and links', () => {
  it('links up between members; a member whose key differs from the configured one shows the failed key check', async () => {
    const r = await relay();
    const g = await group(3);
    const wrong = await generateIdentity();
    // r1 was given a wrong key for r3 (a copy-paste slip in its configuration).
    const r1Members = g.members.map((m) => (m.id === 'r3' ? { id: 'r3', publicKey: wrong.publicKey } : m));
    const r1 = createReplica({ machine: counter, identity: g.ids[0]!, group: { faultModel: 'crash', members: r1Members }, transport: transport(r.url) });
    const others = g.ids.slice(1).map((identity) => createReplica({ machine: counter, identity, group: { faultModel: 'crash', members: g.members }, transport: transport(r.url) }));
    cleanup.push(() => Promise.all([r1, ...others].map((x) => x.stop())));
    await Promise.all([r1, ...others].map((x) => x.start()));
    expect(r1.status().signaling).toEqual([{ url: r.url, state: 'connected', opens: 1 }]);
    const links = await until(() => r1.status().links, (l) => l?.find((x) => x.id === 'r2')?.state === 'up' && l?.find((x) => x.id === 'r3')?.state === 'failed');
    expect(links!.find((x) => x.id === 'r3')!.reason).toMatch(/^key check failed: its key \S+ is not the key configured for r3$/);
  });
});

describe('a replica id that is not a member', () => {
  it('a typo (r9 for a member identity) is refused at createReplica', async () => {
    const r = await relay();
    const g = await group(3);
    expect(() => createReplica({ machine: counter, identity: g.ids[0]!, id: 'r9', group: { faultModel: 'crash', members: g.members }, transport: transport(r.url) })).toThrow(
      'createReplica: id r9 is not a member of the group (r1, r2, r3); this identity is member r1\'s',
    );
  });

  it('an unknown id with an unknown key is refused unless joining', async () => {
    const r = await relay();
    const g = await group(3);
    const stranger = await generateIdentity();
    const r4 = await generateIdentity();
    expect(() => createReplica({ machine: counter, identity: stranger, id: 'r9', group: { faultModel: 'byzantine', members: [...g.members, { id: 'r4', publicKey: r4.publicKey }] }, transport: transport(r.url) })).toThrow(
      'createReplica: id r9 is not a member of the group (r1, r2, r3, r4); pass `join: true` for a replica being added to a running group',
    );
  });
});
