import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startSignalingServer, type SignalingServer, type SignalingServerOptions } from '../../signaling/node.ts';
import { SilentClient, TestClient, until as waitFor, type Json } from './helpers.ts';

const servers: SignalingServer[] = [];
const clients: TestClient[] = [];

async function serve(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const s = await startSignalingServer({ port: 0, ...options });
  servers.push(s);
  return s;
}

async function client(server: SignalingServer): Promise<TestClient> {
  const c = await TestClient.open(server.url);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const isPublish = (pred: (m: Json) => boolean = () => true) => (m: Json) => m['type'] === 'publish' && pred(m);

describe('signaling server on Node (ws)', () => {
  it('listens on a free port with port 0 and answers plain HTTP health checks', async () => {
    const server = await serve();
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}`);
    for (const path of ['/', '/health']) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/signaling server: ok/);
    }
    expect((await fetch(`http://127.0.0.1:${server.port}/nope`)).status).toBe(404);
  });

  it('relays within a room only, to the sender too, with the subscriber count', async () => {
    const server = await serve();
    const [a, b, c] = await Promise.all([client(server), client(server), client(server)]);
    a.send({ type: 'subscribe', topics: ['room-1'] });
    b.send({ type: 'subscribe', topics: ['room-1'] });
    c.send({ type: 'subscribe', topics: ['room-2'] });
    await Promise.all([a.sync(), b.sync(), c.sync()]);
    a.send({ type: 'publish', topic: 'room-1', data: { type: 'announce', from: 'a' } });
    const expected = { type: 'publish', topic: 'room-1', data: { type: 'announce', from: 'a' }, clients: 2 };
    expect(await a.next(isPublish())).toEqual(expected);
    expect(await b.next(isPublish())).toEqual(expected);
    c.send({ type: 'publish', topic: 'room-2', data: 'only c' });
    expect(await c.next(isPublish())).toMatchObject({ data: 'only c', clients: 1 });
    await Promise.all([a.sync(), b.sync()]);
    expect(a.inbox.concat(b.inbox)).toEqual([]); // nothing from room-2 leaked
    expect(server.stats()).toMatchObject({ connections: 3, topics: 2, published: 2, relayed: 3 });
  });

  it('unsubscribe, and a closed connection leaves its topics', async () => {
    const server = await serve();
    const [a, b] = await Promise.all([client(server), client(server)]);
    a.send({ type: 'subscribe', topics: ['room', 'side'] });
    b.send({ type: 'subscribe', topics: ['room'] });
    await Promise.all([a.sync(), b.sync()]);
    a.send({ type: 'unsubscribe', topics: ['room'] });
    await a.sync();
    b.send({ type: 'publish', topic: 'room', n: 1 });
    expect(await b.next(isPublish())).toMatchObject({ n: 1, clients: 1 });
    await a.sync();
    expect(a.inbox).toEqual([]);
    a.close();
    await a.closed;
    // no client event tells when the server has processed a's close: watch the counter
    await waitFor(() => server.stats().connections === 1);
    expect(server.stats()).toMatchObject({ topics: 1, subscriptions: 1 });
  });

  it('errors on bad frames (JSON, types, fields, binary) and keeps the connection', async () => {
    const server = await serve();
    const a = await client(server);
    const bad: Array<[string | Buffer, RegExp]> = [
      ['not json', /not valid JSON/],
      ['"a string"', /JSON object, got string/],
      ['{"type":"launch"}', /unknown message type "launch"/],
      ['{"type":"subscribe","topics":[1]}', /non-empty string/],
      [JSON.stringify({ type: 'subscribe', topics: ['t'.repeat(300)] }), /limited to 256 characters/],
      [Buffer.from([1, 2, 3]), /binary frames are not supported/],
    ];
    for (const [frame, message] of bad) {
      a.ws.send(frame);
      expect(await a.next((m) => m['type'] === 'error')).toEqual({ type: 'error', message: expect.stringMatching(message) });
    }
    await a.sync();
    const d = server.stats().dropped;
    expect([d.invalidJson, d.notObject, d.unknownType, d.invalidField, d.topicTooLong, d.binary]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('relays a frame of exactly maxFrameBytes; closes with 1009 on a bigger one', async () => {
    const server = await serve({ maxFrameBytes: 64 * 1024 });
    const a = await client(server);
    a.send({ type: 'subscribe', topics: ['room'] });
    const base = '{"type":"publish","topic":"room","pad":""}';
    const frame = (n: number) => base.replace('""', `"${'x'.repeat(n - base.length)}"`);
    a.send(frame(64 * 1024));
    expect(((await a.next(isPublish()))['pad'] as string).length).toBe(64 * 1024 - base.length);
    a.send(frame(64 * 1024 + 1));
    expect((await a.closed).code).toBe(1009);
    await waitFor(() => server.stats().connections === 0);
    expect(server.stats().dropped.tooLarge).toBe(1);
    expect(server.stats().topics).toBe(0);
  });

  it('refuses an oversized frame from its header, without waiting for (buffering) the payload', async () => {
    const server = await serve();
    const raw = new SilentClient(server.port);
    await raw.ready();
    raw.sendHeaderOnly(50 * 1024 * 1024); // announces 50 MiB, sends none of it
    await raw.closed;
    await waitFor(() => server.stats().dropped.tooLarge === 1);
  });

  it('rate limit: a burst passes, the rest is dropped, a flooder is closed with 1008', async () => {
    const server = await serve({ rate: { perSecond: 0.001, burst: 10 } }); // practically no refill
    const a = await client(server);
    const b = await client(server);
    for (let i = 0; i < 10; i++) a.send({ type: 'ping' });
    for (let i = 0; i < 10; i++) await a.next((m) => m['type'] === 'pong');
    for (let i = 0; i < 100; i++) a.send({ type: 'ping' });
    const closed = await a.closed;
    expect(closed).toEqual({ code: 1008, reason: 'rate limit exceeded' });
    expect(a.inbox).toEqual([]); // not one pong more
    expect(server.stats().dropped.rateLimit).toBe(30); // 3 x burst
    expect(server.stats().closed.flood).toBe(1);
    await b.sync(); // others are unaffected
  });

  it('closes connections that stop answering pings, and removes them from their topics', async () => {
    const server = await serve({ pingIntervalMs: 250 });
    const good = await client(server);
    let goodPings = 0;
    const threePings = new Promise<void>((resolve) => good.ws.on('ping', () => ++goodPings === 3 && resolve()));
    good.send({ type: 'subscribe', topics: ['room'] });
    const silent = new SilentClient(server.port);
    await silent.ready();
    silent.sendText(JSON.stringify({ type: 'subscribe', topics: ['room', 'lonely'] }));
    await good.sync();
    await waitFor(() => server.stats().subscriptions === 3);
    good.send({ type: 'publish', topic: 'room' });
    expect(await good.next(isPublish())).toMatchObject({ clients: 2 }); // the silent one is in the room
    await silent.closed;
    expect(silent.pingsSeen).toBeGreaterThanOrEqual(1);
    const s = server.stats();
    expect(s.closed.dead).toBe(1);
    expect(s).toMatchObject({ connections: 1, topics: 1, subscriptions: 1 });
    // the good client (ws answers pings by itself) lives through more rounds
    await threePings;
    good.send({ type: 'publish', topic: 'room' });
    expect(await good.next(isPublish())).toMatchObject({ clients: 1 });
    expect(server.stats().closed.dead).toBe(1);
  });

  it('keeps serving good peers through a flood of garbage from others', async () => {
    const server = await serve();
    const [alice, bob] = await Promise.all([client(server), client(server)]);
    alice.send({ type: 'subscribe', topics: ['room'] });
    bob.send({ type: 'subscribe', topics: ['room'] });
    await Promise.all([alice.sync(), bob.sync()]);

    const flooders = await Promise.all(Array.from({ length: 6 }, () => client(server)));
    const [junk, binary, spam, huge, mixed, topics] = flooders as [TestClient, TestClient, TestClient, TestClient, TestClient, TestClient];
    const flood = () => {
      for (let i = 0; i < 1000; i++) { // 100 pass (burst), 300 drops close it; the rest is margin
        junk.send(`garbage ${i} {[`);
        binary.ws.send(Buffer.alloc(512, i));
        spam.send({ type: 'publish', topic: 'room', from: 'spam', junk: 'x'.repeat(200) });
        mixed.send(i % 3 === 0 ? '[]' : i % 3 === 1 ? '{"type":"nope"}' : '{"type":"publish"}');
        topics.send({ type: 'subscribe', topics: Array.from({ length: 40 }, (_, k) => `t${i}-${k}`) });
      }
      huge.send('x'.repeat(70 * 1024));
    };
    flood();

    // meanwhile alice and bob exchange 40 round trips (within their burst allowance)
    for (let n = 0; n < 40; n++) {
      alice.send({ type: 'publish', topic: 'room', from: 'alice', n });
      expect(await bob.next(isPublish((m) => m['from'] === 'alice' && m['n'] === n))).toBeTruthy();
      bob.send({ type: 'publish', topic: 'room', from: 'bob', n });
      expect(await alice.next(isPublish((m) => m['from'] === 'bob' && m['n'] === n))).toBeTruthy();
    }

    const codes = await Promise.all(flooders.map((f) => f.closed.then((c) => c.code)));
    expect(codes).toEqual([1008, 1008, 1008, 1009, 1008, 1008]);
    const s = server.stats();
    expect(s.closed.flood).toBe(5);
    expect(s.closed.tooLarge).toBe(1);
    expect(s.dropped.rateLimit).toBe(5 * 300);
    expect(s.dropped.invalidJson).toBeGreaterThan(0);
    expect(s.dropped.binary).toBeGreaterThan(0);
    expect(s.dropped.tooManyTopics).toBeGreaterThan(0);
    expect(s.dropped.internalError).toBe(0);
    expect(s).toMatchObject({ connections: 2, topics: 1, subscriptions: 2 });
    // and a newcomer is served as usual
    const carol = await client(server);
    carol.send({ type: 'subscribe', topics: ['room'] });
    await carol.sync();
    carol.send({ type: 'publish', topic: 'room', from: 'carol' });
    expect(await alice.next(isPublish((m) => m['from'] === 'carol'))).toMatchObject({ clients: 3 });
  });

  it('limits connections per address (HTTP 503 before the upgrade) and in total', async () => {
    const server = await serve({ maxConnectionsPerIp: 2 });
    await client(server);
    await client(server);
    await expect(TestClient.open(server.url)).rejects.toThrow(/503/);
    expect(server.stats().refused.ipLimit).toBe(1);

    const small = await serve({ maxConnections: 1 });
    await client(small);
    await expect(TestClient.open(small.url)).rejects.toThrow(/503/);
    expect(small.stats().refused.serverFull).toBe(1);
  });

  it('says clearly when the port is taken', async () => {
    const server = await serve();
    await expect(startSignalingServer({ port: server.port })).rejects.toThrow(`port ${server.port} is already in use`);
  });

  it('close() sends 1001 to the clients and stops listening', async () => {
    const server = await startSignalingServer({ port: 0 });
    const a = await TestClient.open(server.url);
    await server.close();
    expect((await a.closed).code).toBe(1001);
    await expect(TestClient.open(server.url)).rejects.toThrow();
    await server.close(); // idempotent
    const again = await serve({ port: server.port }); // the port is free again
    expect(again.port).toBe(server.port);
  });

  it('serves a client that speaks the protocol with the WHATWG-style API (y-webrtc over ws)', async () => {
    const server = await serve();
    const ws = new WebSocket(server.url);
    const got = new Promise<Json>((resolve) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data)) as Json;
        if (m['type'] === 'publish') resolve(m);
      };
    });
    await new Promise((r) => (ws.onopen = r));
    ws.send(JSON.stringify({ type: 'subscribe', topics: ['yjs-room'] }));
    ws.send(JSON.stringify({ type: 'publish', topic: 'yjs-room', data: { type: 'announce', from: 'peer-id' } }));
    expect(await got).toEqual({ type: 'publish', topic: 'yjs-room', data: { type: 'announce', from: 'peer-id' }, clients: 1 });
    ws.close();
  });
});
