/**
 * A throwaway redis-server for tests: a free port on 127.0.0.1, no persistence, stopped by the
 * test. Missing redis-server is an error naming the fix (npm test and .ci/run install it), not
 * a skip: CI must not pass these tests silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';

export interface TestRedis {
  port: number;
  url: string;
  /** Stops it (SIGTERM, then waits for the exit). */
  stop(): Promise<void>;
}

export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const address = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (!address || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

/** Answers PING with +PONG? */
export function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.startsWith('+PONG'));
      }
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts redis-server on `port` (a free one by default) and resolves once it answers PING. */
export async function startRedis(port?: number): Promise<TestRedis> {
  if (!redisServerInstalled()) {
    throw new Error('redis-server is not installed: run `bash scripts/apt-ensure.sh redis-server:redis-server` (npm test and .ci/run do it)');
  }
  const p = port ?? (await freePort());
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', tmpdir(), '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (d: Buffer) => void (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (log += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  void exit.then(() => void (exited = true));
  const deadline = Date.now() + 15_000;
  while (!(await redisPing(p))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${p} ${exited ? 'exited' : 'did not answer PING within 15 s'}; its output: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    stop: async () => {
      if (!exited) child.kill('SIGTERM');
      await exit;
    },
  };
}
