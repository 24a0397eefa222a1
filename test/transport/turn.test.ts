// A connection relayed through a local TURN server (coturn, started here) with
// iceTransportPolicy 'relay': the peers get no host candidates, so data can only flow through
// the relay. With wrong TURN credentials nothing connects (the control).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { generateIdentity } from '../../src/crypto/index.ts';
import { webrtcTransport, type WebrtcTransport } from '../../src/transport/webrtc.ts';
import type { WebSocketConstructor } from '../../src/transport/signaling-client.ts';
import { startRelay, type Relay } from './relay.ts';

const require = createRequire(import.meta.url);
const wrtc = require('@roamhq/wrtc') as unknown;

let turn: ChildProcess | undefined;
let turnLog = '';
let turnPort = 0;
let relay: Relay;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  if (spawnSync('sh', ['-c', 'command -v turnserver']).status !== 0) {
    throw new Error('turnserver is not installed: run `bash scripts/apt-ensure.sh turnserver:coturn` (.ci/run does)');
  }
  turnPort = await freePort();
  const relayPorts = 50_000 + Math.floor(Math.random() * 10_000);
  turn = spawn('turnserver', [
    '-n', '--no-cli', '--no-tls', '--no-dtls', '--simple-log', '--verbose', '--log-file=stdout',
    '--listening-ip=127.0.0.1', `--listening-port=${turnPort}`, '--relay-ip=127.0.0.1',
    `--min-port=${relayPorts}`, `--max-port=${relayPorts + 100}`,
    '--realm=statechorus', '--lt-cred-mech', '--user=alice:secret',
    // Loopback is all this machine has; coturn refuses it as a peer address by default.
    '--allow-loopback-peers',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  turn.stdout!.on('data', (d: Buffer) => (turnLog += d.toString()));
  turn.stderr!.on('data', (d: Buffer) => (turnLog += d.toString()));
  // Ready once it has bound its listener.
  const deadline = Date.now() + 10_000;
  while (!/relay 127\.0\.0\.1 initialization done/.test(turnLog)) {
    if (Date.now() > deadline || turn.exitCode !== null) throw new Error(`turnserver did not start:\n${turnLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  relay = await startRelay();
}, 20_000);

afterAll(async () => {
  turn?.kill('SIGKILL');
  await relay?.close();
});

async function pair(credential: string): Promise<{ ta: WebrtcTransport; tb: WebrtcTransport; received: () => number; bId: string }> {
  const [a, b] = await Promise.all([generateIdentity(), generateIdentity()]);
  const ice = { iceServers: [{ urls: `turn:127.0.0.1:${turnPort}?transport=udp`, username: 'alice', credential }], iceTransportPolicy: 'relay' as const };
  const room = `turn-${credential}`;
  const common = { signaling: relay.url, room, wrtc, WebSocket: WebSocket as unknown as WebSocketConstructor, connectTimeoutMs: 4_000, ...ice };
  const ta = webrtcTransport({ ...common, identity: a });
  const tb = webrtcTransport({ ...common, identity: b });
  let n = 0;
  tb.onMessage(() => n++);
  await Promise.all([ta.start(), tb.start()]);
  return { ta, tb, received: () => n, bId: b.id };
}

describe('a connection through TURN', () => {
  it('connects and delivers with relay-only ICE', async () => {
    const { ta, tb, received, bId } = await pair('secret');
    try {
      for (let i = 0; i < 20; i++) ta.send(bId, new Uint8Array(30_000).fill(i));
      const deadline = Date.now() + 15_000;
      while (received() < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received()).toBe(20);
      // The relay allocated for both peers.
      expect((turnLog.match(/ALLOCATE processed, success/g) ?? []).length).toBeGreaterThanOrEqual(2);
    } finally {
      await ta.close();
      await tb.close();
    }
  }, 30_000);

  it('does not connect when the TURN credentials are wrong (no other path exists)', async () => {
    const { ta, tb, received, bId } = await pair('wrong');
    try {
      ta.send(bId, new Uint8Array(10));
      await new Promise((r) => setTimeout(r, 3_000));
      expect(received()).toBe(0);
      expect(ta.connectedPeers()).toEqual([]);
    } finally {
      await ta.close();
      await tb.close();
    }
  }, 30_000);
});
