/**
 * The Node/Deno WebRTC binding, measured: @roamhq/wrtc against node-datachannel (libdatachannel,
 * through its own W3C polyfill, `node-datachannel/polyfill`), in one run, each in its own child
 * process (clean fd and thread counts), through statechorus's webrtcTransport over a local
 * signaling server:
 *   connect ms      start of both transports -> both see the link up (median of CONNECTIONS)
 *   msgs/s          100-byte messages, one direction, one channel, until all arrived
 *   CPU µs/send     process CPU (user+sys) during the send loop / messages sent
 *   fds, threads    per connection: (after CONNECTIONS links - before) / CONNECTIONS
 *
 *   npm run bench:webrtc -- [--messages 50000] [--connections 4]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from '../src/crypto/index.ts';
import { webrtcTransport } from '../src/transport/webrtc.ts';
import { startSignalingServer } from '../signaling/node.ts';

const require = createRequire(import.meta.url);
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg('messages', 50_000);
const CONNECTIONS = arg('connections', 4);
const BINDINGS = { '@roamhq/wrtc': () => require('@roamhq/wrtc'), 'node-datachannel': () => require('node-datachannel/polyfill') } as const;
type Binding = keyof typeof BINDINGS;

const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(2);
  }
}

async function measure(binding: Binding): Promise<Record<string, number>> {
  const wrtc = BINDINGS[binding]();
  const signaling = await startSignalingServer({ port: 0, host: '127.0.0.1' });
  const fd0 = fds();
  const th0 = threads();
  const connectMs: number[] = [];
  const pairs = [];
  for (let c = 0; c < CONNECTIONS; c++) {
    const [ia, ib] = [await generateIdentity(), await generateIdentity()];
    const room = `bench-${c}`;
    const a = webrtcTransport({ signaling: signaling.url, room, identity: ia, wrtc, WebSocket: ((globalThis as { WebSocket?: unknown }).WebSocket ?? require('ws')) as never });
    const b = webrtcTransport({ signaling: signaling.url, room, identity: ib, wrtc, WebSocket: ((globalThis as { WebSocket?: unknown }).WebSocket ?? require('ws')) as never });
    let received = 0;
    b.onMessage(() => void received++);
    const t0 = performance.now();
    await a.start({ id: ia.id, identity: ia, peerKey: () => undefined, peers: [] });
    await b.start({ id: ib.id, identity: ib, peerKey: () => undefined, peers: [] });
    a.connect([ib.id]);
    await waitFor(() => a.connectedPeers().includes(ib.id) && b.connectedPeers().includes(ia.id), 'link up');
    connectMs.push(performance.now() - t0);
    pairs.push({ a, b, ib, count: () => received });
  }
  await sleep(200);
  const fdPer = (fds() - fd0) / CONNECTIONS;
  const thPer = (threads() - th0) / CONNECTIONS;

  // Throughput and CPU per send on the first link; sends in turns of 256 so the queue drains.
  const { a, ib, count } = pairs[0]!;
  const payload = new Uint8Array(100).fill(7);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sendCpuUs = 0;
  for (let sent = 0; sent < MESSAGES; ) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 256 && sent < MESSAGES; i++, sent++) a.send(ib.id, payload);
    const c1 = process.cpuUsage(c0);
    sendCpuUs += c1.user + c1.system;
    await new Promise((r) => setImmediate(r));
    if (sent - count() > 20_000) await waitFor(() => sent - count() <= 5_000, 'receiver catching up', 60_000);
  }
  await waitFor(() => count() >= MESSAGES, `${MESSAGES} messages`, 120_000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const p of pairs) {
    await p.a.close();
    await p.b.close();
  }
  await signaling.close();
  connectMs.sort((x, y) => x - y);
  return {
    connectMs: connectMs[Math.floor(connectMs.length / 2)]!,
    msgsPerSec: MESSAGES / seconds,
    // The send loop's CPU (framing, packing and the channel's send calls) per message, and the
    // whole process's CPU (both ends, receiving included) per message.
    sendCpuUs: sendCpuUs / MESSAGES,
    processCpuUs: (cpu.user + cpu.system) / MESSAGES,
    fdsPerConnection: fdPer,
    threadsPerConnection: thPer,
  };
}

const child = process.argv.indexOf('--child');
if (child > 0) {
  const result = await measure(process.argv[child + 1] as Binding);
  console.log(JSON.stringify(result));
  process.exit(0); // native threads can hold the process open
} else {
  const self = fileURLToPath(import.meta.url);
  console.log(`WebRTC bindings: ${CONNECTIONS} connections (two transports each, one process), ${MESSAGES} messages of 100 bytes on one channel`);
  const rows: Array<[string, Record<string, number> | string]> = [];
  for (const binding of Object.keys(BINDINGS) as Binding[]) {
    const r = spawnSync(process.execPath, [self, '--child', binding, '--messages', String(MESSAGES), '--connections', String(CONNECTIONS)], { encoding: 'utf8', timeout: 300_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      rows.push([binding, JSON.parse(line)]);
    } catch {
      rows.push([binding, `failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`]);
    }
  }
  console.log('| binding | connect ms (median) | 100 B msgs/s | send CPU µs/msg | process CPU µs/msg | fds/connection | threads/connection |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, r] of rows) {
    if (typeof r === 'string') console.log(`| ${name} | ${r} |`);
    else console.log(`| ${name} | ${r.connectMs!.toFixed(0)} | ${Math.round(r.msgsPerSec!)} | ${r.sendCpuUs!.toFixed(2)} | ${r.processCpuUs!.toFixed(2)} | ${r.fdsPerConnection!.toFixed(1)} | ${r.threadsPerConnection!.toFixed(1)} |`);
  }
}
