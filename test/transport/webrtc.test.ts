// The WebRTC transport between real peers (@roamhq/wrtc) on loopback, met through a relay the
// tests control: delivery, chunking, backpressure and bounds, glare, redial after a restart,
// and a malicious relay that forges, alters, redirects and replays signaling.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateIdentity, type Identity } from '../../src/crypto/index.ts';
import { webrtcTransport, type WebrtcTransport } from '../../src/transport/webrtc.ts';
import type { WebSocketConstructor } from '../../src/transport/signaling-client.ts';
import { transportKit, wrtc } from './relay.ts';


afterEach(async () => {
  await closeAll();
});

const { transport, relayed, closeAll } = transportKit();

/** Collects messages; `next(k)` resolves when k messages have arrived in all. */
function inbox(t: WebrtcTransport) {
  const got: Array<{ from: string; bytes: Uint8Array }> = [];
  const waiters: Array<{ k: number; resolve: () => void }> = [];
  t.onMessage((from, bytes) => {
    got.push({ from, bytes });
    for (const w of waiters.splice(0)) if (got.length >= w.k) w.resolve();
    else waiters.push(w);
  });
  return {
    got,
    next: (k: number) => (got.length >= k ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ k, resolve }))),
  };
}

function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 255;
  return out;
}
/** Byte equality without a deep comparison element by element (slow for MiB arrays). */
const same = (x: Uint8Array, y: Uint8Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));

/** Resolves when `cond` holds (polled; the transport's own timers drive it). */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('webrtcTransport', () => {
  it('delivers messages both ways, in order, chunked up to MiB sizes', async () => {
    const relay = await relayed();
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a);
    const tb = transport(relay, b);
    const inA = inbox(ta);
    const inB = inbox(tb);
    await Promise.all([ta.start(), tb.start()]);
    const sizes = [0, 1, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100_000, 2 * 1024 * 1024, 5];
    sizes.forEach((n, i) => ta.send(b.id, bytesOf(n, i)));
    tb.send(a.id, bytesOf(10, 99));
    await Promise.all([inB.next(sizes.length), inA.next(1)]);
    expect(inB.got.map((m) => m.bytes.length)).toEqual(sizes);
    expect(inB.got.every((m, i) => same(m.bytes, bytesOf(sizes[i]!, i)))).toBe(true);
    expect(inB.got.every((m) => m.from === a.id)).toBe(true);
    expect(inA.got[0]!.from).toBe(b.id);
    expect(ta.connectedPeers()).toEqual([b.id]);
  });

  it('queues behind bufferedAmount and delivers 64 MiB in order', async () => {
    const relay = await relayed();
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a, { maxQueuedBytes: 128 * 1024 * 1024 });
    const tb = transport(relay, b);
    const inB = inbox(tb);
    await Promise.all([ta.start(), tb.start()]);
    const count = 1024;
    for (let i = 0; i < count; i++) ta.send(b.id, bytesOf(64 * 1024, i));
    await inB.next(count);
    expect(inB.got.every((m, i) => m.bytes[0] === (i & 255) && m.bytes.length === 64 * 1024)).toBe(true);
    expect(ta.stats().dropped).toEqual({});
  }, 60_000);

  it('drops and counts messages over the bounds without harming the link', async () => {
    const relay = await relayed();
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a, { maxQueuedBytes: 1024 * 1024 });
    const tb = transport(relay, b, { maxMessageBytes: 50_000 });
    const inB = inbox(tb);
    await Promise.all([ta.start(), tb.start()]);
    // Before the link is up, at most maxQueuedBytes wait; the rest is dropped and counted.
    ta.send(b.id, bytesOf(60_000, 1)); // over the receiver's bound
    for (let i = 0; i < 40; i++) ta.send(b.id, bytesOf(40_000, i));
    ta.send(b.id, bytesOf(7, 7));
    await until(() => inB.got.some((m) => m.bytes.length === 7));
    expect(ta.stats().dropped['sendQueueFull']).toBeGreaterThan(0);
    expect(tb.stats().dropped['oversized']).toBe(1);
    expect(inB.got.filter((m) => m.bytes.length === 40_000).length).toBe(40 - (ta.stats().dropped['sendQueueFull'] ?? 0));
  });

  it('settles on one link when both peers dial each other at the same moment', async () => {
    const relay = await relayed();
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
      const ta = transport(relay, a);
      const tb = transport(relay, b);
      const inA = inbox(ta);
      const inB = inbox(tb);
      // Each wants the other from the start: both dial as soon as they hear the other's announce.
      await Promise.all([ta.start({ id: a.id, identity: a, peerKey: () => undefined, peers: [b.id] }), tb.start({ id: b.id, identity: b, peerKey: () => undefined, peers: [a.id] })]);
      ta.send(b.id, bytesOf(3, 1));
      tb.send(a.id, bytesOf(3, 2));
      await Promise.all([inA.next(1), inB.next(1)]);
      expect(ta.connectedPeers()).toEqual([b.id]);
      expect(tb.connectedPeers()).toEqual([a.id]);
    }
  }, 60_000);

  it('redials a peer that restarted (new session, same identity)', async () => {
    const relay = await relayed();
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a);
    const inA = inbox(ta);
    await ta.start({ id: a.id, identity: a, peerKey: () => undefined, peers: [b.id] });
    const tb1 = transport(relay, b);
    await tb1.start();
    tb1.send(a.id, bytesOf(1, 1));
    await inA.next(1);
    await tb1.close();
    const tb2 = transport(relay, b);
    const inB2 = inbox(tb2);
    await tb2.start();
    // a wants b (a member): it notices the new session and dials it. Messages sent while the
    // old link is dying may be lost (the protocols retransmit), so a keeps sending.
    const resend = setInterval(() => ta.send(b.id, bytesOf(2, 2)), 200);
    await inB2.next(1).finally(() => clearInterval(resend));
    expect(inB2.got[0]!.from).toBe(a.id);
    expect(ta.stats().linksLost).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('packs many small messages sent together, between large ones, and keeps their order', async () => {
    const relay = await relayed();
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a);
    const tb = transport(relay, b);
    const inB = inbox(tb);
    await Promise.all([ta.start(), tb.start()]);
    ta.send(b.id, bytesOf(1, 0));
    await inB.next(1);
    // One turn of the event loop: 2,000 messages of sizes around the packing bounds.
    const sizes = Array.from({ length: 2000 }, (_, i) => (i % 97 === 0 ? 40_000 : i % 13 === 0 ? 16 * 1024 - 5 : (i * 37) % 300));
    sizes.forEach((n, i) => ta.send(b.id, bytesOf(n, i)));
    await inB.next(1 + sizes.length);
    const got = inB.got.slice(1);
    expect(got.map((m) => m.bytes.length)).toEqual(sizes);
    expect(got.every((m, i) => m.bytes.length === 0 || (m.bytes[0] === bytesOf(1, i)[0] && m.bytes.at(-1) === bytesOf(sizes[i]!, i).at(-1)))).toBe(true);
  }, 30_000);

  it('carries many endpoints over one connection, each with its own address', async () => {
    const relay = await relayed();
    const [server, load] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ts = transport(relay, server);
    const tl = transport(relay, load, { peerKey: (id) => (id === 's' ? server.publicKey : undefined) });
    // The server answers whoever wrote, at the address it saw.
    const seenFrom: string[] = [];
    ts.onMessage((from, bytes) => {
      seenFrom.push(from);
      ts.send(from, bytes);
    });
    await ts.start({ id: 's', identity: server, peerKey: () => undefined, peers: [] });
    const endpoints = ['c1', 'c2', 'c3'].map((name) => tl.endpoint(name));
    const inboxes = endpoints.map((e) => {
      const got: Array<[string, number]> = [];
      e.onMessage((from, bytes) => void got.push([from, bytes[0]!]));
      return got;
    });
    await Promise.all(endpoints.map((e) => e.start!()));
    endpoints.forEach((e, i) => e.send('s', Uint8Array.of(i + 1)));
    await until(() => inboxes.every((g) => g.length === 1));
    expect(inboxes).toEqual([[['s', 1]], [['s', 2]], [['s', 3]]]);
    expect(seenFrom.sort()).toEqual([`${load.id}/c1`, `${load.id}/c2`, `${load.id}/c3`]);
    expect(endpoints[0]!.id).toBe(`${load.id}/c1`);
    // One connection carried them all.
    expect(ts.connectedPeers()).toEqual([load.id]);
    // An address nobody listens on is dropped and counted.
    ts.send(`${load.id}/nobody`, Uint8Array.of(9));
    await until(() => tl.stats().dropped['unknownEndpoint'] === 1);
    expect(() => tl.endpoint('c1')).toThrow(/taken/);
    expect(() => tl.endpoint('a/b')).toThrow(/without '\/'/);
  }, 30_000);

  it("lets an endpoint talk to its own peer without a link (a tab's client and the tab's replica)", async () => {
    const relay = await relayed();
    const server = await generateIdentity();
    const ts = transport(relay, server);
    const seen: string[] = [];
    ts.onMessage((from, bytes) => {
      seen.push(`${from}:${bytes[0]}`);
      ts.send(from, Uint8Array.of(bytes[0]! + 100));
    });
    const client = ts.endpoint('client');
    const replies: string[] = [];
    client.onMessage((from, bytes) => void replies.push(`${from}:${bytes[0]}`));
    await ts.start({ id: 's', identity: server, peerKey: () => undefined, peers: [] });
    client.send('s', Uint8Array.of(1));
    client.send('s', Uint8Array.of(2));
    await until(() => replies.length === 2);
    expect(seen).toEqual(['s/client:1', 's/client:2']);
    expect(replies).toEqual(['s:101', 's:102']);
    // A peer's message to itself is still dropped, and nothing needed a connection.
    ts.send('s', Uint8Array.of(3));
    client.send('s/client', Uint8Array.of(4));
    client.send('s', Uint8Array.of(5)); // delivered in order: had 3 or 4 arrived, they would be first
    await until(() => replies.length === 3);
    expect(seen).toEqual(['s/client:1', 's/client:2', 's/client:5']);
    expect(ts.connectedPeers()).toEqual([]);
  }, 30_000);

  it('errors clearly on wrong options', async () => {
    expect(() => webrtcTransport({ signaling: 'http://x', room: 'r' })).toThrow(/ws:\/\//);
    expect(() => webrtcTransport({ signaling: 'ws://x', room: '' })).toThrow(/room/);
    expect(() => webrtcTransport({ signaling: 'ws://x', room: 'r', iceTransportPolicy: 'none' as 'all' })).toThrow(/iceTransportPolicy/);
    await expect(webrtcTransport({ signaling: 'ws://127.0.0.1:1', room: 'r', wrtc, WebSocket: WebSocket as unknown as WebSocketConstructor }).start()).rejects.toThrow(/identity/);
  });
});

describe('an untrusted signaling relay', () => {
  type Msg = Record<string, unknown> & { data: { body: string; sig: string } };
  const body = (m: Msg) => JSON.parse(m.data.body) as Record<string, unknown>;
  const withBody = (m: Msg, change: (b: Record<string, unknown>) => void): Msg => {
    const b = body(m);
    change(b);
    return { ...m, data: { ...m.data, body: JSON.stringify(b) } };
  };

  it('cannot swap the session descriptions (the DTLS fingerprints) in offers and answers', async () => {
    let tampering = true;
    const swapped: string[] = [];
    const relay = await relayed((m) => {
      const msg = m as Msg;
      if (!tampering || body(msg).kind !== 'signal') return [m];
      // A man in the middle puts its own fingerprint in.
      return [withBody(msg, (b) => {
        const d = b.description as { sdp: string };
        d.sdp = d.sdp.replace(/a=fingerprint:sha-256 [0-9A-F:]+/, 'a=fingerprint:sha-256 ' + Array(32).fill('AB').join(':'));
        swapped.push(d.sdp);
      })];
    });
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a);
    const tb = transport(relay, b);
    const inB = inbox(tb);
    await Promise.all([ta.start(), tb.start()]);
    ta.send(b.id, bytesOf(5, 5));
    await until(() => (tb.stats().dropped['signaling:badSignature'] ?? 0) >= 1);
    expect(swapped.length).toBeGreaterThan(0);
    expect(inB.got).toEqual([]);
    expect(tb.connectedPeers()).toEqual([]);
    // An honest relay again: the peers connect.
    tampering = false;
    await inB.next(1);
    expect(inB.got[0]!.from).toBe(a.id);
  }, 60_000);

  it('cannot redirect signals, impersonate a member, or make a replay count', async () => {
    const replays: Msg[] = [];
    const relay = await relayed((m) => {
      const msg = m as Msg;
      replays.push(msg);
      const out: Array<Record<string, unknown>> = [m];
      // Replay everything seen so far, and a redirected copy of signals.
      out.push(...replays.slice(-5));
      if (body(msg).kind === 'signal') out.push(withBody(msg, (b) => void (b.to = 'r3')));
      return out;
    });
    const [a, b, mallory] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const keys = new Map([['r1', a.publicKey], ['r2', b.publicKey]]);
    const peerKey = (id: string) => keys.get(id);
    const t1 = transport(relay, a, { peerKey });
    const t2 = transport(relay, b, { peerKey });
    // Mallory has her own key but claims to be r2.
    const tm = transport(relay, mallory, { peerKey });
    const in1 = inbox(t1);
    await t1.start({ id: 'r1', identity: a, peerKey, peers: [] });
    await tm.start({ id: 'r2', identity: mallory, peerKey, peers: ['r1'] });
    tm.send('r1', bytesOf(9, 9));
    await until(() => (t1.stats().dropped['signaling:unknownSender'] ?? 0) >= 1);
    await t2.start({ id: 'r2', identity: b, peerKey, peers: ['r1'] });
    t2.send('r1', bytesOf(4, 4));
    await in1.next(1);
    // Only the real r2's message arrives, once.
    await new Promise((r) => setTimeout(r, 300));
    expect(in1.got.map((m) => [m.from, m.bytes.length])).toEqual([['r2', 4]]);
    const dropped = t1.stats().dropped;
    expect(dropped['signaling:replay'] ?? 0).toBeGreaterThan(0);
    expect(dropped['signaling:unknownSender']).toBeGreaterThan(0);
    expect(tm.connectedPeers()).toEqual([]);
  }, 60_000);

  it('counts garbage from the relay and keeps working', async () => {
    const relay = await relayed((m) => [
      m,
      { ...m, data: 'garbage' },
      { ...m, data: { statechorus: 1, body: '{"kind":"announce"', sig: 'x' } },
      { ...m, data: { statechorus: 1, body: JSON.stringify({ kind: 'announce', room: 'room', from: 'x', key: 'AAAA', session: 's', t: 1, n: 1 }), sig: 'AAAA' } },
    ]);
    const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
    const ta = transport(relay, a);
    const tb = transport(relay, b);
    const inB = inbox(tb);
    await Promise.all([ta.start(), tb.start()]);
    ta.send(b.id, bytesOf(3, 3));
    await inB.next(1);
    expect(tb.stats().dropped['signaling:malformed']).toBeGreaterThan(0);
  }, 30_000);
});
