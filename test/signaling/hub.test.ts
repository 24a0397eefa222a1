import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CloseCode, SignalingHub, resolveHubOptions, type HubOptions, type HubPeer } from '../../signaling/hub.ts';
import { FakeClock, FakeConn } from './helpers.ts';

function setup(options: Partial<HubOptions> = {}) {
  const clock = new FakeClock();
  const hub = new SignalingHub({ now: clock.now, ...options });
  const join = (ip = '10.0.0.1') => {
    const conn = new FakeConn();
    const peer = hub.connect(conn, ip);
    if (!peer) throw new Error('refused');
    const send = (m: unknown) => peer.text(typeof m === 'string' ? m : JSON.stringify(m));
    return { conn, peer, send };
  };
  return { clock, hub, join };
}

const errorsOf = (c: FakeConn) => c.take().filter((m) => m['type'] === 'error').map((m) => m['message'] as string);

describe('SignalingHub: relaying (y-webrtc protocol)', () => {
  it('relays a publish to every subscriber of the topic, sender included, with the subscriber count', () => {
    const { hub, join } = setup();
    const a = join(), b = join(), c = join(), other = join();
    for (const p of [a, b, c]) p.send({ type: 'subscribe', topics: ['room'] });
    other.send({ type: 'subscribe', topics: ['elsewhere'] });
    a.send({ type: 'publish', topic: 'room', data: { type: 'announce', from: 'a' } });
    for (const p of [a, b, c]) {
      expect(p.conn.take()).toEqual([{ type: 'publish', topic: 'room', data: { type: 'announce', from: 'a' }, clients: 3 }]);
    }
    expect(other.conn.take()).toEqual([]);
    const s = hub.stats();
    expect(s).toMatchObject({ connections: 4, topics: 2, subscriptions: 4, published: 1, relayed: 3 });
  });

  it('lets a connection publish to a topic it is not subscribed to (as y-webrtc does); not echoed to it', () => {
    const { join } = setup();
    const a = join(), b = join();
    b.send({ type: 'subscribe', topics: ['room'] });
    a.send({ type: 'publish', topic: 'room', x: 1 });
    expect(b.conn.take()).toEqual([{ type: 'publish', topic: 'room', x: 1, clients: 1 }]);
    expect(a.conn.take()).toEqual([]);
  });

  it('a publish to a topic nobody is in goes nowhere, silently', () => {
    const { hub, join } = setup();
    const a = join();
    a.send({ type: 'publish', topic: 'empty', x: 1 });
    expect(a.conn.take()).toEqual([]);
    expect(hub.stats()).toMatchObject({ published: 1, relayed: 0, topics: 0 });
  });

  it('overwrites a client-supplied "clients" field and keeps other fields as data', () => {
    const { join } = setup();
    const a = join();
    a.send({ type: 'subscribe', topics: ['room'] });
    a.send('{"type":"publish","topic":"room","clients":999,"__proto__":{"polluted":true},"constructor":1}');
    const [m] = a.conn.take();
    expect(m!['clients']).toBe(1);
    expect(Object.getOwnPropertyDescriptor(m, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('unsubscribe stops delivery and deletes empty topics; subscribing twice is idempotent', () => {
    const { hub, join } = setup();
    const a = join(), b = join();
    a.send({ type: 'subscribe', topics: ['room', 'room', 'x'] });
    a.send({ type: 'subscribe', topics: ['room'] });
    b.send({ type: 'subscribe', topics: ['room'] });
    expect(hub.stats()).toMatchObject({ topics: 2, subscriptions: 3 });
    a.send({ type: 'unsubscribe', topics: ['room', 'x', 'never-subscribed'] });
    expect(hub.stats()).toMatchObject({ topics: 1, subscriptions: 1 });
    b.send({ type: 'publish', topic: 'room', n: 1 });
    expect(a.conn.take()).toEqual([]);
    expect(b.conn.take()).toEqual([{ type: 'publish', topic: 'room', n: 1, clients: 1 }]);
    b.send({ type: 'unsubscribe', topics: ['room'] });
    expect(hub.stats()).toMatchObject({ topics: 0, subscriptions: 0 });
  });

  it('a closed connection leaves all its topics; empty topics are deleted', () => {
    const { hub, join } = setup();
    const a = join(), b = join();
    a.send({ type: 'subscribe', topics: ['r1', 'r2'] });
    b.send({ type: 'subscribe', topics: ['r2'] });
    a.peer.closed();
    a.peer.closed(); // idempotent
    expect(hub.stats()).toMatchObject({ connections: 1, topics: 1, subscriptions: 1 });
    b.send({ type: 'publish', topic: 'r2' });
    expect(b.conn.take()).toEqual([{ type: 'publish', topic: 'r2', clients: 1 }]);
    a.send({ type: 'ping' }); // frames after close are ignored
    expect(a.conn.take()).toEqual([]);
  });

  it('answers ping with pong', () => {
    const { hub, join } = setup();
    const a = join();
    a.send({ type: 'ping' });
    expect(a.conn.take()).toEqual([{ type: 'pong' }]);
    expect(hub.stats().pongs).toBe(1);
  });
});

describe('SignalingHub: bad frames', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['non-JSON', 'hello', 'invalidJson', /not valid JSON/],
    ['truncated JSON', '{"type":"ping"', 'invalidJson', /not valid JSON/],
    ['an array', '[1,2]', 'notObject', /JSON object, got an array/],
    ['a number', '42', 'notObject', /got number/],
    ['null', 'null', 'notObject', /got null/],
    ['no type', '{"topic":"x"}', 'invalidField', /string "type"/],
    ['a non-string type', '{"type":7}', 'invalidField', /string "type"/],
    ['an unknown type', '{"type":"hack"}', 'unknownType', /unknown message type "hack"/],
    ['subscribe without topics', '{"type":"subscribe"}', 'invalidField', /"topics": an array/],
    ['subscribe with a string for topics', '{"type":"subscribe","topics":"room"}', 'invalidField', /"topics": an array/],
    ['subscribe with a non-string topic', '{"type":"subscribe","topics":["ok",5]}', 'invalidField', /topics\[1\] must be a non-empty string/],
    ['subscribe with an empty topic', '{"type":"subscribe","topics":[""]}', 'invalidField', /non-empty string/],
    ['unsubscribe without topics', '{"type":"unsubscribe","topics":null}', 'invalidField', /"topics": an array/],
    ['publish without topic', '{"type":"publish","data":1}', 'invalidField', /"topic" must be a non-empty string/],
    ['publish with an object topic', '{"type":"publish","topic":{}}', 'invalidField', /"topic" must be/],
    ['a too long topic', JSON.stringify({ type: 'subscribe', topics: ['x'.repeat(257)] }), 'topicTooLong', /limited to 256 characters/],
    ['too many topics at once', JSON.stringify({ type: 'subscribe', topics: Array.from({ length: 33 }, (_, i) => `t${i}`) }), 'tooManyTopics', /at most 32 topics/],
  ];
  for (const [name, frame, reason, message] of cases) {
    it(`answers ${name} with an error, counts it, and keeps serving`, () => {
      const { hub, join } = setup();
      const a = join();
      a.send({ type: 'subscribe', topics: ['room'] });
      a.send(frame);
      const errors = errorsOf(a.conn);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(hub.stats().dropped[reason as keyof ReturnType<SignalingHub['stats']>['dropped']]).toBe(1);
      expect(hub.stats().errors.sent).toBe(1);
      expect(a.conn.closedWith).toBeUndefined();
      a.send({ type: 'publish', topic: 'room', ok: true });
      expect(a.conn.take()).toEqual([{ type: 'publish', topic: 'room', ok: true, clients: 1 }]);
      expect(hub.stats().subscriptions).toBe(1); // a rejected (un)subscribe changed nothing
    });
  }

  it('a topic of exactly the length limit is fine', () => {
    const { join } = setup();
    const a = join();
    a.send({ type: 'subscribe', topics: ['x'.repeat(256)] });
    a.send({ type: 'publish', topic: 'x'.repeat(256) });
    expect(a.conn.take()).toHaveLength(1);
  });

  it('limits topics per connection across messages, all or nothing', () => {
    const { hub, join } = setup({ maxTopicsPerConnection: 3 });
    const a = join();
    a.send({ type: 'subscribe', topics: ['a', 'b'] });
    a.send({ type: 'subscribe', topics: ['b', 'c'] }); // 'b' again does not count
    expect(errorsOf(a.conn)).toEqual([]);
    a.send({ type: 'subscribe', topics: ['d', 'e'] });
    expect(errorsOf(a.conn)).toEqual(['at most 3 topics per connection']);
    expect(hub.stats()).toMatchObject({ topics: 3, subscriptions: 3 });
    a.send({ type: 'unsubscribe', topics: ['a'] });
    a.send({ type: 'subscribe', topics: ['d'] });
    expect(errorsOf(a.conn)).toEqual([]);
  });

  it('limits subscribers per topic', () => {
    const { hub, join } = setup({ maxSubscribersPerTopic: 2 });
    const [a, b, c] = [join(), join(), join()];
    a.send({ type: 'subscribe', topics: ['room'] });
    b.send({ type: 'subscribe', topics: ['room'] });
    c.send({ type: 'subscribe', topics: ['other', 'room'] });
    expect(errorsOf(c.conn)[0]).toMatch(/"room" has reached 2 subscribers/);
    expect(hub.stats()).toMatchObject({ topics: 1, subscriptions: 2 }); // 'other' not joined either
  });

  it('answers binary frames with an error', () => {
    const { hub, join } = setup();
    const a = join();
    a.peer.binary(10);
    expect(errorsOf(a.conn)).toEqual(['binary frames are not supported; send JSON text frames']);
    expect(hub.stats().dropped.binary).toBe(1);
  });

  it('rate-limits error replies; the frames are still counted', () => {
    const { hub, join, clock } = setup({ errorRate: { perSecond: 1, burst: 3 } });
    const a = join();
    for (let i = 0; i < 10; i++) a.send('garbage');
    expect(errorsOf(a.conn)).toHaveLength(3);
    expect(hub.stats().dropped.invalidJson).toBe(10);
    expect(hub.stats().errors).toEqual({ sent: 3, suppressed: 7 });
    clock.advance(1000);
    a.send('garbage');
    expect(errorsOf(a.conn)).toHaveLength(1);
  });

  it('survives pathological JSON (deep nesting, huge numbers, unicode) without throwing', () => {
    const { hub, join } = setup({ maxFrameBytes: 1 << 20, rate: { perSecond: 1000, burst: 1000 } });
    const a = join();
    a.send({ type: 'subscribe', topics: ['room', '🙂 ünïcödé'] });
    const deep = '{"type":"publish","topic":"room","d":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}';
    expect(() => a.peer.text(deep)).not.toThrow();
    expect(hub.stats().dropped.unrelayable).toBe(1); // parses, but too deep to serialize again
    expect(errorsOf(a.conn)).toEqual(['message cannot be relayed']);
    a.send('{"type":"publish","topic":"room","n":1e400}');
    a.send({ type: 'publish', topic: '🙂 ünïcödé', s: '\u0000\ud800' });
    const out = a.conn.take();
    expect(out.some((m) => m['topic'] === '🙂 ünïcödé')).toBe(true);
    expect(out.some((m) => m['n'] === null)).toBe(true); // 1e400 parses as Infinity, relayed as null
    expect(hub.stats().connections).toBe(1);
  });

  it('never throws and stays consistent on arbitrary input (property)', () => {
    const frame = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({
        type: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'ping', 'pong', ''),
        topics: fc.oneof(fc.array(fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.string(), fc.integer())), fc.jsonValue()),
        topic: fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.jsonValue()),
      }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3), frame, fc.nat(20)), { maxLength: 60 }), (steps) => {
        const { hub, join, clock } = setup({ rate: { perSecond: 20, burst: 5 } });
        const peers = [join(), join(), join(), join()];
        for (const [who, f, dt] of steps) {
          clock.advance(dt);
          peers[who]!.peer.text(f);
        }
        const s = hub.stats();
        expect(s.dropped.internalError).toBe(0);
        expect(s.subscriptions).toBeLessThanOrEqual(4 * 32);
        for (const p of peers) p.peer.closed();
        expect(hub.stats()).toMatchObject({ connections: 0, topics: 0, subscriptions: 0 });
      }),
      { numRuns: 100 },
    );
  });
});

describe('SignalingHub: size and rate limits', () => {
  it('accepts a frame of exactly maxFrameBytes (UTF-8) and closes with 1009 over it', () => {
    const { hub, join } = setup({ maxFrameBytes: 200 });
    const a = join();
    a.send({ type: 'subscribe', topics: ['room'] });
    const frame = (bytes: number, char: string) => {
      const base = '{"type":"publish","topic":"room","p":""}';
      const unit = new TextEncoder().encode(char).length;
      const n = Math.floor((bytes - base.length) / unit);
      const f = base.replace('""', `"${char.repeat(n)}${'x'.repeat(bytes - base.length - n * unit)}"`);
      expect(new TextEncoder().encode(f).length).toBe(bytes);
      return f;
    };
    a.peer.text(frame(200, 'é'));
    a.peer.text(frame(200, '🙂'));
    expect(a.conn.take()).toHaveLength(2);
    a.peer.text(frame(201, '€'));
    expect(a.conn.closedWith).toEqual({ code: CloseCode.messageTooBig, reason: 'frame exceeds 200 bytes' });
    expect(hub.stats()).toMatchObject({ connections: 0, topics: 0 });
    expect(hub.stats().dropped.tooLarge).toBe(1);
    expect(hub.stats().closed.tooLarge).toBe(1);
  });

  it('counts a frame the adapter refused for size, and closes with 1009', () => {
    const { hub, join } = setup();
    const a = join();
    a.peer.tooLarge();
    expect(a.conn.closedWith?.code).toBe(1009);
    expect(hub.stats().dropped.tooLarge).toBe(1);
  });

  it('token bucket: a burst, then the refill rate; drops are counted', () => {
    const { hub, join, clock } = setup({ rate: { perSecond: 10, burst: 5 } });
    const a = join();
    for (let i = 0; i < 8; i++) a.send({ type: 'ping' });
    expect(a.conn.take()).toHaveLength(5);
    expect(hub.stats().dropped.rateLimit).toBe(3);
    clock.advance(200); // 2 tokens
    for (let i = 0; i < 3; i++) a.send({ type: 'ping' });
    expect(a.conn.take()).toHaveLength(2);
    expect(hub.stats().dropped.rateLimit).toBe(4);
    expect(a.conn.closedWith).toBeUndefined();
  });

  it('every frame costs a token, garbage and binary too', () => {
    const { hub, join } = setup({ rate: { perSecond: 1, burst: 3 } });
    const a = join();
    a.send('junk');
    a.peer.binary(4);
    a.send({ type: 'ping' });
    a.send({ type: 'ping' });
    expect(a.conn.take().map((m) => m['type'])).toEqual(['error', 'error', 'pong']);
    expect(hub.stats().dropped.rateLimit).toBe(1);
  });

  it('closes a connection that keeps flooding (floodCloseAfterDrops, default 3 x burst) with 1008', () => {
    const { hub, join } = setup({ rate: { perSecond: 10, burst: 4 } });
    expect(hub.options.floodCloseAfterDrops).toBe(12);
    const a = join(), b = join();
    a.send({ type: 'subscribe', topics: ['room'] });
    b.send({ type: 'subscribe', topics: ['room'] });
    for (let i = 0; i < 100; i++) a.send({ type: 'publish', topic: 'room', i });
    expect(a.conn.closedWith).toEqual({ code: CloseCode.policyViolation, reason: 'rate limit exceeded' });
    // 1 subscribe + 3 publishes within the burst, then 12 drops closed it; the rest was ignored
    expect(b.conn.take().map((m) => m['i'])).toEqual([0, 1, 2]);
    const s = hub.stats();
    expect(s.dropped.rateLimit).toBe(12);
    expect(s.closed.flood).toBe(1);
    expect(s).toMatchObject({ connections: 1, subscriptions: 1 });
  });

  it('a flood ends when the bucket has refilled: occasional bursts never add up to a close', () => {
    const { join, clock } = setup({ rate: { perSecond: 10, burst: 4 } });
    const a = join();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) a.send({ type: 'ping' }); // 4 pass, 6 dropped
      clock.advance(400); // full again
    }
    expect(a.conn.closedWith).toBeUndefined();
    // but flooding without pause does close
    for (let i = 0; i < 20; i++) a.send({ type: 'ping' });
    expect(a.conn.closedWith?.code).toBe(1008);
  });

  it('sustained sending above the rate is a flood too', () => {
    const { join, clock } = setup({ rate: { perSecond: 10, burst: 4 } });
    const a = join();
    let t = 0;
    while (!a.conn.closedWith && t < 10_000) {
      a.send({ type: 'ping' });
      clock.advance(50); // 20/s against 10/s allowed
      t += 50;
    }
    expect(a.conn.closedWith?.code).toBe(1008);
  });
});

describe('SignalingHub: connection lifetime and limits', () => {
  it('heartbeat pings, then closes (terminates) the connections that did not answer', () => {
    const { hub, join } = setup();
    const a = join(), b = join(), c = join();
    for (const p of [a, b, c]) p.send({ type: 'subscribe', topics: ['room'] });
    hub.heartbeat();
    expect([a, b, c].map((p) => p.conn.pings)).toEqual([1, 1, 1]);
    a.peer.pong();
    c.send({ type: 'ping' }); // any frame shows the connection is alive
    hub.heartbeat();
    expect(b.conn.terminated).toBe(true);
    expect(a.conn.terminated || c.conn.terminated).toBe(false);
    expect(hub.stats()).toMatchObject({ connections: 2, subscriptions: 2 });
    expect(hub.stats().closed.dead).toBe(1);
    hub.heartbeat();
    expect(a.conn.terminated && c.conn.terminated).toBe(true);
    expect(hub.stats()).toMatchObject({ connections: 0, topics: 0 });
  });

  it('closes a receiver that stopped reading (send buffer over the limit), keeps serving the others', () => {
    const { hub, join } = setup({ maxBufferedBytes: 1000 });
    const a = join(), slow = join();
    a.send({ type: 'subscribe', topics: ['room'] });
    slow.send({ type: 'subscribe', topics: ['room'] });
    slow.conn.bufferedAmount = 5000;
    a.send({ type: 'publish', topic: 'room' });
    expect(slow.conn.terminated).toBe(true);
    expect(a.conn.take()).toEqual([{ type: 'publish', topic: 'room', clients: 2 }]);
    expect(hub.stats().closed.slowConsumer).toBe(1);
    a.send({ type: 'publish', topic: 'room' });
    expect(a.conn.take()).toEqual([{ type: 'publish', topic: 'room', clients: 1 }]);
  });

  it('a send that throws closes that receiver only', () => {
    const { hub, join } = setup();
    const a = join(), broken = join();
    a.send({ type: 'subscribe', topics: ['room'] });
    broken.send({ type: 'subscribe', topics: ['room'] });
    broken.conn.failSend = true;
    expect(() => a.send({ type: 'publish', topic: 'room' })).not.toThrow();
    expect(a.conn.take()).toHaveLength(1);
    expect(hub.stats().closed.sendFailed).toBe(1);
    expect(hub.stats().connections).toBe(1);
  });

  it('limits connections in total and per address; closing frees the slot', () => {
    const { hub } = setup({ maxConnections: 3, maxConnectionsPerIp: 2 });
    const conns = [new FakeConn(), new FakeConn(), new FakeConn(), new FakeConn(), new FakeConn()];
    const p0 = hub.connect(conns[0]!, '1.1.1.1');
    expect(hub.connect(conns[1]!, '1.1.1.1')).toBeDefined();
    expect(hub.wouldRefuse('1.1.1.1')).toBe('ipLimit');
    expect(hub.connect(conns[2]!, '1.1.1.1')).toBeUndefined();
    expect(conns[2]!.closedWith).toEqual({ code: 1013, reason: 'too many connections from this address' });
    expect(hub.connect(conns[3]!, '2.2.2.2')).toBeDefined();
    expect(hub.connect(conns[4]!, '3.3.3.3')).toBeUndefined();
    expect(conns[4]!.closedWith).toEqual({ code: 1013, reason: 'server full' });
    expect(hub.stats().refused).toEqual({ serverFull: 1, ipLimit: 1 });
    (p0 as HubPeer).closed();
    expect(hub.wouldRefuse('1.1.1.1')).toBeUndefined();
    expect(hub.wouldRefuse('3.3.3.3')).toBeUndefined();
  });

  it('closeAll closes every connection with 1001', () => {
    const { hub, join } = setup();
    const a = join(), b = join();
    a.send({ type: 'subscribe', topics: ['room'] });
    hub.closeAll();
    expect(a.conn.closedWith).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(b.conn.closedWith?.code).toBe(1001);
    expect(hub.stats()).toMatchObject({ connections: 0, topics: 0 });
  });

  it('rejects invalid options with a clear error', () => {
    expect(() => resolveHubOptions({ maxFrameBytes: 0 })).toThrow(/maxFrameBytes must be a positive number/);
    expect(() => resolveHubOptions({ rate: { perSecond: -1, burst: 2 } })).toThrow(/rate.perSecond/);
    expect(resolveHubOptions({ rate: { perSecond: 5, burst: 7 } }).floodCloseAfterDrops).toBe(21);
  });
});
