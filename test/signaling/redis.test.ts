/**
 * Signaling server instances sharing rooms through Redis (signaling/redis.ts), in this process
 * against a real redis-server the test starts.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../signaling/args.ts';
import { startSignalingServer, type SignalingServer } from '../../signaling/node.ts';
import { checkRedisUrl, redactRedisUrl } from '../../signaling/redis.ts';
import { TestClient, type Json } from './helpers.ts';
import { scratchPackage, spawnProc, waitUntil } from './processes.ts';
import { freePort, startRedis, type TestRedis } from './redis-server.ts';

let redis: TestRedis;
const servers: SignalingServer[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
  await redis?.stop();
});

async function instance(options: Parameters<typeof startSignalingServer>[0] = {}): Promise<SignalingServer> {
  const s = await startSignalingServer({ redis: redis.url, ...options });
  servers.push(s);
  return s;
}

async function member(server: SignalingServer, topic: string): Promise<TestClient> {
  const c = await TestClient.open(server.url);
  clients.push(c);
  c.send({ type: 'subscribe', topics: [topic] });
  await c.sync();
  return c;
}

/**
 * Publishes from `sender` (a fresh `n` each time) until every receiver has one with
 * `pred`: subscriptions and counts reach Redis asynchronously. Returns what each received.
 */
async function publishUntil(sender: TestClient, topic: string, receivers: TestClient[], pred: (m: Json) => boolean = () => true, timeoutMs = 10_000): Promise<Json[]> {
  const deadline = Date.now() + timeoutMs;
  const got: Array<Json | undefined> = receivers.map(() => undefined);
  const seen: Json[] = [];
  for (let n = 0; got.some((g) => g === undefined); n++) {
    if (Date.now() > deadline) throw new Error(`not every receiver got a matching message within ${timeoutMs} ms; last seen: ${JSON.stringify(seen.slice(-6))}`);
    sender.send({ type: 'publish', topic, n });
    await Promise.all(
      receivers.map(async (r, i) => {
        if (got[i]) return;
        try {
          const m = await r.next((m) => m['type'] === 'publish' && m['n'] === n, 300);
          seen.push(m);
          if (pred(m)) got[i] = m;
        } catch {
          // not yet: publish again
        }
      }),
    );
  }
  return got as Json[];
}

describe('signaling instances sharing rooms through Redis', () => {
  it('a publish on one instance reaches the subscribers of every instance, "clients" counting all of them', async () => {
    const [a, b, c] = [await instance(), await instance(), await instance()];
    const [ca, cb, cc] = [await member(a, 'room-1'), await member(b, 'room-1'), await member(c, 'room-1')];
    const other = await member(b, 'room-2');
    const got = await publishUntil(ca, 'room-1', [ca, cb, cc], (m) => m['clients'] === 3);
    for (const m of got) expect(m).toMatchObject({ type: 'publish', topic: 'room-1', clients: 3 });
    expect(other.inbox.filter((m) => m['topic'] === 'room-1')).toEqual([]);
    expect(a.stats().redis).toMatchObject({ connected: true, url: `redis://127.0.0.1:${redis.port}` });
    await waitUntil(() => (b.stats().redis?.delivered ?? 0) > 0 && (c.stats().redis?.delivered ?? 0) > 0, 5000, () => JSON.stringify([b.stats().redis, c.stats().redis]));

    // A subscriber leaving is counted out on every instance.
    cc.close();
    await publishUntil(cb, 'room-1', [ca, cb], (m) => m['clients'] === 2);
    // An instance closing says goodbye: its subscribers stop counting at once.
    await a.close();
    await publishUntil(cb, 'room-1', [cb], (m) => m['clients'] === 1);
  }, 30_000);

  it('an instance that vanished without a goodbye stops counting after three presence intervals', async () => {
    const a = await instance({ redis: { url: redis.url, presenceIntervalMs: 100 } });
    const ca = await member(a, 'room-ghost');
    // A ghost instance announces 5 subscribers, then never again (as if killed).
    const ghost = new Redis(redis.url);
    try {
      await ghost.publish('statechorus:signal:room-ghost', JSON.stringify({ i: 'ghost', n: 5 }));
      const [m] = await publishUntil(ca, 'room-ghost', [ca], (m) => m['clients'] === 6);
      expect(m!['clients']).toBe(6);
      const before = Date.now();
      const [later] = await publishUntil(ca, 'room-ghost', [ca], (m) => m['clients'] === 1, 5000);
      expect(later!['clients']).toBe(1);
      expect(Date.now() - before).toBeGreaterThanOrEqual(150); // not dropped at once
    } finally {
      ghost.disconnect();
    }
  }, 20_000);

  it('Redis restarting: each instance relays locally meanwhile, then shares rooms again', async () => {
    const local = await startRedis();
    const events: string[] = [];
    const opts = (name: string) => ({ redis: { url: local.url, onEvent: (e: { type: string }) => void events.push(`${name}:${e.type}`) } });
    const a = await instance(opts('a'));
    const b = await instance(opts('b'));
    const [ca, ca2, cb] = [await member(a, 'room-r'), await member(a, 'room-r'), await member(b, 'room-r')];
    await publishUntil(ca, 'room-r', [cb]);

    await local.stop();
    await waitUntil(() => a.stats().redis?.connected === false && b.stats().redis?.connected === false, 10_000, () => JSON.stringify([a.stats().redis, b.stats().redis]));
    expect(events).toEqual(expect.arrayContaining(['a:down', 'b:down']));
    await publishUntil(ca, 'room-r', [ca2]); // still relayed between a's own clients

    const again = await startRedis(local.port);
    try {
      await waitUntil(() => a.stats().redis?.connected === true && b.stats().redis?.connected === true, 20_000, () => JSON.stringify([a.stats().redis, b.stats().redis]));
      expect(events).toEqual(expect.arrayContaining(['a:up', 'b:up']));
      await publishUntil(cb, 'room-r', [ca, ca2, cb], (m) => m['clients'] === 3);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await again.stop();
    }
  }, 60_000);

  it('Redis unreachable at start-up: the server does not start, and says which URL and why', async () => {
    const port = await freePort();
    await expect(startSignalingServer({ redis: `redis://127.0.0.1:${port}` })).rejects.toThrow(
      new RegExp(`^cannot reach Redis at redis://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`),
    );
  });

  it('a Redis URL that is not one is refused with the cause', async () => {
    await expect(startSignalingServer({ redis: 'localhost:6379' })).rejects.toThrow(/the Redis URL must look like redis:\/\/host:6379 .*got "localhost:6379"/);
    expect(() => checkRedisUrl('http://x')).toThrow(TypeError);
    expect(redactRedisUrl('redis://user:secret@h:1/0')).toBe('redis://user:***@h:1/0');
    expect(parseArgs(['signal', '--redis', 'redis://127.0.0.1:6379'])).toMatchObject({ command: { redis: 'redis://127.0.0.1:6379' } });
    expect(() => parseArgs(['signal', '--redis', '127.0.0.1:6379'])).toThrow(/--redis needs a URL like redis:\/\/127\.0\.0\.1:6379, got "127\.0\.0\.1:6379"/);
  });

  it('the CLI: --redis shares rooms and says so; unreachable Redis exits 1 naming the URL and the cause', async () => {
    const pkg = scratchPackage('redis-cli-');
    try {
      const ok = spawnProc(process.execPath, [pkg.bin, 'signal', '--port', '0', '--redis', redis.url]);
      const [, url] = await ok.waitFor(/signaling server listening on (ws:\/\/\S+)\n/);
      expect(ok.stdout()).toMatch(new RegExp(`^sharing rooms through Redis at redis://127\\.0\\.0\\.1:${redis.port}/? \\(instance [0-9a-f]{16}\\)\\n`));
      const b = await instance();
      const [ca, cb] = [await member(b, 'room-cli'), await TestClient.open(url!)];
      clients.push(cb);
      cb.send({ type: 'subscribe', topics: ['room-cli'] });
      await publishUntil(ca, 'room-cli', [cb], (m) => m['clients'] === 2);
      ok.child.kill('SIGTERM');
      expect(await ok.exit).toEqual({ code: 0, signal: null });

      const port = await freePort();
      const bad = spawnProc(process.execPath, [pkg.bin, 'signal', '--port', '0', '--redis', `redis://127.0.0.1:${port}`]);
      expect((await bad.exit).code).toBe(1);
      expect(bad.stderr()).toBe(`statechorus signal: cannot reach Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    } finally {
      pkg.remove();
    }
  }, 60_000);
});
