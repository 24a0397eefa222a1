/**
 * Smoke test of the Deno adapter: runs `deno run signaling/deno.ts` (the `deno` npm dev
 * dependency, offline: --cached-only, nothing to fetch) and talks to it from Node with `ws`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SilentClient, TestClient } from './helpers.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

/** The deno executable itself (bin.cjs is a Node wrapper that would not pass signals on). */
function denoExecutable(): string | undefined {
  try {
    const exe = join(dirname(require.resolve('deno/bin.cjs')), process.platform === 'win32' ? 'deno.exe' : 'deno');
    return existsSync(exe) ? exe : undefined;
  } catch {
    return undefined;
  }
}

const deno = denoExecutable();

interface DenoRun {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
  listening: Promise<string>;
}

function runDeno(args: string[]): DenoRun {
  const child = spawn(deno!, ['run', '--cached-only', '--no-prompt', '--allow-net', 'signaling/deno.ts', ...args], {
    cwd: repo,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /signaling server listening on (ws:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`deno exited with ${code} before listening; stderr: ${err}`)));
  });
  listening.catch(() => {});
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  return { child, out: () => out, err: () => err, exit, listening };
}

describe.skipIf(!deno)('signaling server on Deno (signaling/deno.ts)', () => {
  let server: DenoRun;
  let url = '';
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = runDeno(['--port', '0', '--rate', '1', '--burst', '10']); // small burst: a flood is quick to make
    url = await server.listening;
  });

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    if (server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exit;
    }
  });

  const open = async () => {
    const c = await TestClient.open(url);
    clients.push(c);
    return c;
  };

  it('relays within a room, sender included, with the count; answers pings; errors on bad frames', async () => {
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    a.send({ type: 'subscribe', topics: ['room'] });
    b.send({ type: 'subscribe', topics: ['room'] });
    c.send({ type: 'subscribe', topics: ['other'] });
    await Promise.all([a.sync(), b.sync(), c.sync()]);
    a.send({ type: 'publish', topic: 'room', data: { from: 'a' } });
    const expected = { type: 'publish', topic: 'room', data: { from: 'a' }, clients: 2 };
    expect(await a.next((m) => m['type'] === 'publish')).toEqual(expected);
    expect(await b.next((m) => m['type'] === 'publish')).toEqual(expected);
    await c.sync();
    expect(c.inbox).toEqual([]);
    c.send('not json');
    expect(await c.next()).toEqual({ type: 'error', message: 'frame is not valid JSON' });
    c.ws.send(Buffer.from([1, 2, 3]));
    expect(await c.next()).toMatchObject({ type: 'error', message: expect.stringMatching(/binary/) });
  });

  it('closes with 1009 on an oversized frame and 1008 on a flood', async () => {
    const big = await open();
    big.send('x'.repeat(64 * 1024 + 1));
    expect((await big.closed).code).toBe(1009);
    // burst 10, then 30 drops close it. Exactly that many frames: Deno resets the TCP
    // connection when more data arrives after its close frame, and the client then sees 1006.
    const flooder = await open();
    for (let i = 0; i < 40; i++) flooder.send({ type: 'ping' });
    expect(await flooder.closed).toEqual({ code: 1008, reason: 'rate limit exceeded' });
    const pongs = flooder.inbox.filter((m) => m['type'] === 'pong').length;
    expect(pongs).toBe(10); // the burst
    const ok = await open();
    await ok.sync(); // still serving
  });

  it('answers HTTP health checks', async () => {
    const res = await fetch(url.replace('ws:', 'http:') + '/health');
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/signaling server: ok/);
  });

  it('closes connections that stop answering pings (Deno\'s idleTimeout, whole seconds)', async () => {
    const other = runDeno(['--port', '0', '--ping-interval', '1000']);
    try {
      const otherUrl = await other.listening;
      const good = await TestClient.open(otherUrl);
      const silent = new SilentClient(Number(new URL(otherUrl).port));
      await silent.ready();
      const started = Date.now();
      await silent.closed;
      expect(silent.pingsSeen).toBeGreaterThanOrEqual(1);
      expect(Date.now() - started).toBeLessThan(10_000); // ~1-2 s: idleTimeout 1 s
      await good.sync(); // ws answers pings: still connected
      good.ws.terminate();
    } finally {
      other.child.kill('SIGKILL');
      await other.exit;
    }
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const port = new URL(url).port;
    const second = runDeno(['--port', port]);
    expect(await second.exit).toBe(1);
    expect(second.err()).toMatch(new RegExp(`port ${port} is already in use`));
  });

  it('stays single-instance: --redis exits 1 pointing to the Node server', async () => {
    const shared = runDeno(['--port', '0', '--redis', 'redis://127.0.0.1:6379']);
    expect(await shared.exit).toBe(1);
    expect(shared.err()).toMatch(/the Deno server does not share rooms through Redis; run the Node server \(npx statechorus signal --redis URL\)/);
  });

  it('stops cleanly on SIGTERM, closing clients with 1001', async () => {
    const a = await open();
    await a.sync();
    server.child.kill('SIGTERM');
    expect((await a.closed).code).toBe(1001);
    expect(await server.exit).toBe(0);
    expect(server.out()).toMatch(/SIGTERM: shutting down\nsignaling server stopped/);
  });
});
