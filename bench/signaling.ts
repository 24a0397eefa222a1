/**
 * `npm run bench:signaling`: rooms × peers served by one signaling instance (the default
 * server, no Redis) against three instances sharing rooms through Redis, in one invocation.
 *
 *   node dist/bench/signaling.js [--rooms 50] [--peers 6] [--window 4] [--seconds 5]
 *
 * Each instance is a real `statechorus signal` process (per-connection rate limits raised out
 * of the way); the peers are WebSocket clients in this process, peer i of a room on instance
 * i mod n, so with three instances every room spans all of them.
 * - join latency: from opening a peer's connection to its hello (published right after its
 *   subscribe, and every 50 ms until heard) having reached every earlier peer of its room;
 * - relayed per second: publish frames delivered to peers per second, under a closed loop:
 *   each room carries `window` messages at once, each passed on by the next peer when it gets
 *   there (so a message reaches all `peers` subscribers, its sender included).
 * Needs redis-server (bash scripts/apt-ensure.sh redis-server:redis-server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/statechorus.mjs', import.meta.url));

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a whole number >= 1, got ${process.argv[i + 1]}`);
  return v;
}

const rooms = flag('rooms', 50);
const peers = flag('peers', 6);
const window = flag('window', 4);
const seconds = flag('seconds', 5);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (!a || typeof a !== 'object') throw new Error('no free port');
  return a.port;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d: Buffer) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
  });
}

async function startRedis(): Promise<{ url: string; stop: () => void }> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('redis-server is not installed: run `bash scripts/apt-ensure.sh redis-server:redis-server`');
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  while (!(await ping(port))) {
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}

async function startInstance(redisUrl?: string): Promise<{ url: string; child: ChildProcess }> {
  const args = [bin, 'signal', '--port', '0', '--rate', '1000000', '--burst', '1000000', '--max-connections-per-ip', '0', '--max-topics', '8'];
  if (redisUrl) args.push('--redis', redisUrl);
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`signaling instance exited (${code}) before listening: ${out}`)));
  });
  return { url, child };
}

interface Peer {
  ws: WebSocket;
  room: number;
  index: number;
  onMessage: (m: { n?: number; hop?: number; ring?: number; join?: number }) => void;
}

function openPeer(url: string, room: number, index: number): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const peer: Peer = { ws, room, index, onMessage: () => {} };
    ws.on('message', (data) => peer.onMessage(JSON.parse(String(data)) as Parameters<Peer['onMessage']>[0]));
    ws.once('open', () => resolve(peer));
    ws.once('error', reject);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

interface Result {
  instances: number;
  joinP50: number;
  joinP99: number;
  relayedPerSecond: number;
}

async function measure(urls: string[]): Promise<Result> {
  const byRoom: Peer[][] = Array.from({ length: rooms }, () => []);
  const joins: number[] = [];
  // Joins: rooms in parallel, the peers of a room one after another.
  await Promise.all(
    byRoom.map(async (members, r) => {
      for (let i = 0; i < peers; i++) {
        const t0 = performance.now();
        const peer = await openPeer(urls[i % urls.length]!, r, i);
        const earlier = [...members];
        const reached = earlier.map(
          (m) =>
            new Promise<void>((resolve) => {
              m.onMessage = (msg) => {
                if (msg.join === i) resolve();
              };
            }),
        );
        peer.ws.send(JSON.stringify({ type: 'subscribe', topics: [`room-${r}`] }));
        // Repeated until heard: an instance that just got its first subscriber of the room
        // hears the others only once its Redis subscription is in place (peers re-announce too).
        const hello = JSON.stringify({ type: 'publish', topic: `room-${r}`, join: i });
        peer.ws.send(hello);
        const again = setInterval(() => peer.ws.send(hello), 50);
        await Promise.all(reached);
        clearInterval(again);
        if (earlier.length > 0) joins.push(performance.now() - t0);
        members.push(peer);
      }
    }),
  );

  // Relaying: `window` messages circulate in each room; the next peer passes each on.
  let delivered = 0;
  let counting = false;
  let running = true;
  for (const members of byRoom) {
    for (const m of members) {
      m.onMessage = (msg) => {
        if (msg.hop === undefined) return;
        if (counting) delivered++;
        if (running && msg.hop % peers === (m.index + peers - 1) % peers) {
          m.ws.send(JSON.stringify({ type: 'publish', topic: `room-${m.room}`, ring: msg.ring, hop: msg.hop + 1 }));
        }
      };
    }
    for (let w = 0; w < window; w++) members[0]!.ws.send(JSON.stringify({ type: 'publish', topic: `room-${members[0]!.room}`, ring: w, hop: 0 }));
  }
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  for (const members of byRoom) for (const m of members) m.ws.terminate();
  return { instances: urls.length, joinP50: pct(joins, 50), joinP99: pct(joins, 99), relayedPerSecond: delivered / elapsed };
}

async function run(instances: number, redisUrl?: string): Promise<Result> {
  const started = await Promise.all(Array.from({ length: instances }, () => startInstance(redisUrl)));
  try {
    return await measure(started.map((s) => s.url));
  } finally {
    await Promise.all(started.map((s) => new Promise((r) => (s.child.once('exit', r), s.child.kill('SIGTERM')))));
  }
}

const redis = await startRedis();
try {
  console.log(`signaling: ${rooms} rooms × ${peers} peers, ${window} messages circulating per room, ${seconds} s measured; ${availableParallelism()} CPUs (instances, Redis and the peers share them)`);
  const one = await run(1);
  const three = await run(3, redis.url);
  const row = (name: string, r: Result) =>
    `${name.padEnd(28)} relayed ${Math.round(r.relayedPerSecond).toString().padStart(8)}/s   join p50 ${r.joinP50.toFixed(1).padStart(6)} ms  p99 ${r.joinP99.toFixed(1).padStart(6)} ms`;
  console.log(row('1 instance (no Redis)', one));
  console.log(row('3 instances + Redis', three));
  console.log(
    `ratio 3/1: relayed ×${(three.relayedPerSecond / one.relayedPerSecond).toFixed(2)}, join p50 ×${(three.joinP50 / one.joinP50).toFixed(2)}, p99 ×${(three.joinP99 / one.joinP99).toFixed(2)}`,
  );
} finally {
  redis.stop();
}
