/**
 * The `statechorus signal` command line: argument parsing, and the real bin script run as a
 * child process. The bin imports ../dist/signaling/cli.js; so that this test does not depend
 * on a fresh `npm run build`, it transpiles the current signaling/ sources into a scratch
 * dist/ under .tmp/ next to a copy of the bin.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PORT, parseArgs, UsageError } from '../../signaling/args.ts';
import { TestClient } from './helpers.ts';
import { spawnProc, type Proc } from './processes.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let scratch = '';
let bin = '';

beforeAll(() => {
  mkdirSync(join(repo, '.tmp'), { recursive: true });
  scratch = mkdtempSync(join(repo, '.tmp', 'signal-cli-'));
  const out = join(scratch, 'dist', 'signaling');
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(join(repo, 'signaling')).filter((f) => f.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(join(repo, 'signaling', file), 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, rewriteRelativeImportExtensions: true, verbatimModuleSyntax: true },
    });
    writeFileSync(join(out, file.replace(/\.ts$/, '.js')), outputText);
  }
  mkdirSync(join(scratch, 'bin'));
  bin = join(scratch, 'bin', 'statechorus.mjs');
  copyFileSync(join(repo, 'bin', 'statechorus.mjs'), bin);
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The command under test as a child process (one way to spawn for every signaling test). */
function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return spawnProc(process.execPath, [script, ...args], { env });
}

async function takenPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const address = blocker.address();
  if (!address || typeof address !== 'object') throw new Error('no port');
  return { port: address.port, release: () => new Promise((r) => blocker.close(() => r())) };
}

describe('parseArgs', () => {
  it('parses the signal command and its options', () => {
    expect(parseArgs(['signal', '--port', '8787'])).toEqual({ kind: 'signal', command: { port: 8787, host: '127.0.0.1', limits: {} } });
    expect(parseArgs(['signal', '--port=0', '--host', '0.0.0.0', '--rate', '20', '--burst=40', '--max-connections-per-ip', '0', '--ping-interval', '5000'])).toEqual({
      kind: 'signal',
      command: { port: 0, host: '0.0.0.0', limits: { rate: { perSecond: 20, burst: 40 }, maxConnectionsPerIp: 0, pingIntervalMs: 5000 } },
    });
  });

  it('takes the port from $PORT, else 8787', () => {
    expect(parseArgs(['signal'], { PORT: '4444' })).toMatchObject({ command: { port: 4444 } });
    expect(parseArgs(['signal'], {})).toMatchObject({ command: { port: DEFAULT_PORT } });
    expect(parseArgs(['signal', '--port', '1'], { PORT: '4444' })).toMatchObject({ command: { port: 1 } });
  });

  it('help, and the command word is optional for the Deno entry', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['signal', '-h'])).toEqual({ kind: 'help' });
    expect(parseArgs(['--port', '9'], {}, true)).toMatchObject({ command: { port: 9 } });
    expect(parseArgs([], {}, true)).toMatchObject({ command: { port: DEFAULT_PORT } });
  });

  it('rejects bad arguments with readable messages', () => {
    const bad: Array<[string[], RegExp]> = [
      [[], /missing command/],
      [['serve'], /unknown command "serve"/],
      [['signal', '--port'], /--port needs a value/],
      [['signal', '--port', '--host', 'x'], /--port needs a value/],
      [['signal', '--port', '80a'], /--port needs a whole number, got "80a"/],
      [['signal', '--port', '70000'], /--port must be between 0 and 65535/],
      [['signal', '--rate', '0'], /--rate must be between 1/],
      [['signal', '--nope', '1'], /unknown option --nope/],
      [['signal', 'extra'], /unexpected argument "extra"/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseArgs(argv, {}), argv.join(' ')).toThrow(UsageError);
      expect(() => parseArgs(argv, {})).toThrow(message);
    }
    expect(() => parseArgs(['signal'], { PORT: 'http' })).toThrow(/\$PORT must be a port number/);
  });
});

describe('bin/statechorus.mjs signal', () => {
  it('starts on --port 0, prints the real URL, relays, and stops cleanly on SIGTERM', async () => {
    const p = run(bin, ['signal', '--port', '0']);
    const [, url] = await p.waitFor(/signaling server listening on (ws:\/\/127\.0\.0\.1:(\d+))\n/);
    const a = await TestClient.open(url!);
    a.send({ type: 'subscribe', topics: ['room'] });
    a.send({ type: 'publish', topic: 'room', hello: 1 });
    expect(await a.next((m) => m['type'] === 'publish')).toEqual({ type: 'publish', topic: 'room', hello: 1, clients: 1 });
    p.child.kill('SIGTERM');
    expect((await a.closed).code).toBe(1001);
    expect(await p.exit).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toMatch(/SIGTERM: shutting down\nsignaling server stopped \(1 connections served, 1 messages relayed\)/);
    expect(p.stderr()).toBe('');
  });

  it('stops on SIGINT too, and listens where --host says', async () => {
    const p = run(bin, ['signal', '--port=0', '--host', 'localhost']);
    await p.waitFor(/listening on ws:\/\/localhost:\d+\n/);
    p.child.kill('SIGINT');
    expect((await p.exit).code).toBe(0);
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const { port, release } = await takenPort();
    try {
      const p = run(bin, ['signal', '--port', String(port)]);
      expect((await p.exit).code).toBe(1);
      expect(p.stderr()).toBe(`statechorus signal: port ${port} is already in use (host 127.0.0.1)\n`);
    } finally {
      await release();
    }
  });

  it('exits 1 on bad arguments; --help prints the usage', async () => {
    const bad = run(bin, ['signal', '--prot', '80']);
    expect((await bad.exit).code).toBe(1);
    expect(bad.stderr()).toMatch(/^statechorus: unknown option --prot\nRun "statechorus --help" for usage\.\n$/);
    const help = run(bin, ['--help']);
    expect((await help.exit).code).toBe(0);
    expect(help.stdout()).toMatch(/^Usage: statechorus signal \[options\]/);
    expect(help.stdout()).toMatch(/--port N/);
  });

  it('tells to build first when dist/ is missing', async () => {
    const lonely = mkdtempSync(join(repo, '.tmp', 'signal-nodist-'));
    try {
      mkdirSync(join(lonely, 'bin'));
      copyFileSync(join(repo, 'bin', 'statechorus.mjs'), join(lonely, 'bin', 'statechorus.mjs'));
      const p = run(join(lonely, 'bin', 'statechorus.mjs'), ['signal']);
      expect((await p.exit).code).toBe(1);
      expect(p.stderr()).toMatch(/dist\/signaling\/cli\.js is missing; run "npm run build" first/);
    } finally {
      rmSync(lonely, { recursive: true, force: true });
    }
  });
});
