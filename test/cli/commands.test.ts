/**
 * The group commands of bin/statechorus.mjs on the compiled code: what `init` writes, and the
 * errors each command gives for a misconfiguration (checked by message), and that a command
 * started through npx stops when npx is sent SIGTERM (it used to stay running under PID 1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../src/group/descriptor.ts';
import { ensureBuilt } from '../net/build.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(repo, 'bin', 'statechorus.mjs');
let scratch = '';
const children: ChildProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  mkdirSync(join(repo, '.tmp'), { recursive: true });
  scratch = mkdtempSync(join(repo, '.tmp', 'cli-'));
  writeFileSync(join(scratch, 'app.mjs'), "import { createMachine } from 'xstate';\nexport const machine = createMachine({ context: { count: 0 } });\nexport const notAMachine = 1;\n");
}, 300_000);

afterAll(() => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function run(args: string[], command = process.execPath, prefix: string[] = [bin]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(command, [...prefix, ...args], { cwd: scratch, env: { ...process.env, PORT: '', npm_config_offline: 'true', npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  return { child, out: () => out, err: () => err, exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

async function fails(args: string[]): Promise<string> {
  const r = run(args);
  const code = await r.exit;
  expect(code, `statechorus ${args.join(' ')} printed:\n${r.out()}${r.err()}`).toBe(1);
  return r.err();
}

async function waitFor(get: () => string, re: RegExp, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!re.test(get())) {
    if (Date.now() > until) throw new Error(`no ${re} within ${timeoutMs} ms; saw:\n${get()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('statechorus init', () => {
  it('writes a key per member (mode 0600), admin and client keys, and group.json (byzantine: 3f+1)', async () => {
    const r = run(['init', '--fault-model', 'byzantine', '--f', '1', '--dir', './orders', '--room', 'orders', '--ice', 'stun:stun.example.org:3478']);
    expect(await r.exit, r.err()).toBe(0);
    expect(r.out()).toMatch(/group\.json: byzantine group of 4 \(f=1\): r1 r2 r3 r4; room orders; signaling ws:\/\/127\.0\.0\.1:8787/);
    for (const f of ['r1', 'r2', 'r3', 'r4', 'admin', 'client']) expect(statSync(join(scratch, 'orders', `${f}.key`)).mode & 0o777, f).toBe(0o600);
    const group = parseGroup(readFileSync(join(scratch, 'orders', 'group.json'), 'utf8'));
    expect(group.members.map((m) => m.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(group.iceServers).toEqual([{ urls: 'stun:stun.example.org:3478' }]);
    const key = JSON.parse(readFileSync(join(scratch, 'orders', 'r2.key'), 'utf8')) as { id: string; publicKey: string };
    expect(key.publicKey).toBe(group.members[1]!.publicKey);
    // A second init into the same directory would replace private keys: refused.
    expect(await fails(['init', '--fault-model', 'byzantine', '--dir', './orders'])).toMatch(/orders\/r1\.key exists; refusing to overwrite a key/);
  });

  it('has no default fault model and names bad arguments', async () => {
    expect(await fails(['init', '--dir', './x'])).toBe('statechorus init: --fault-model is required\nRun "statechorus init --help" for usage.\n');
    expect(await fails(['init', '--fault-model', 'paxos', '--dir', './x'])).toMatch(/^statechorus init: --fault-model must be crash or byzantine, got "paxos" \(there is no default\)/);
    expect(await fails(['init', '--fault-model', 'crash', '--f', 'two', '--dir', './x'])).toMatch(/--f must be a whole number/);
    expect(await fails(['init', '--fault-model', 'crash', '--dir', './x', '--signaling', 'http://x'])).toMatch(/signaling URL "http:\/\/x" is not a ws:\/\/ or wss:\/\/ URL/);
    expect(await fails(['inti'])).toMatch(/^statechorus unknown command "inti" \(expected signal, init, replica, send, read, status, add-member, remove-member\)/);
  });
});

describe('statechorus replica and client commands: misconfiguration', () => {
  it('names a key that is no member, a missing export, a missing group file, an event that is not JSON', async () => {
    const common = ['--group', './orders/group.json', '--data', './data/x'];
    expect(await fails(['replica', ...common, '--identity', './orders/admin.key', '--machine', './app.mjs#machine'])).toMatch(/is not a member of the group \(members: r1, r2, r3, r4\)/);
    expect(await fails(['replica', ...common, '--identity', './orders/r1.key', '--machine', './app.mjs#nope'])).toMatch(/exports no XState machine named "nope" \(it exports machine, notAMachine\)/);
    expect(await fails(['replica', '--group', './nowhere.json', '--identity', './orders/r1.key', '--machine', './app.mjs', '--data', './d'])).toMatch(/nowhere\.json: cannot read the group file \(no such file\)/);
    expect(await fails(['replica', '--group', './orders/group.json', '--machine', './app.mjs', '--data', './d'])).toMatch(/--identity is required/);
    expect(await fails(['send', '--group', './orders/group.json', '{type:INC}'])).toMatch(/^statechorus send: the event is not JSON/);
    expect(await fails(['send', '--group', './orders/group.json'])).toMatch(/the event is missing/);
    // add-member checks the admin key and the id before anything goes over the network.
    expect(await fails(['add-member', '--group', './orders/group.json', '--admin', './orders/client.key', '--id', 'r5'])).toMatch(/orders\/client\.key: not the group's admin key/);
    expect(await fails(['add-member', '--group', './orders/group.json', '--admin', './orders/admin.key', '--id', 'r2'])).toMatch(/r2 is already a member in \.\/orders\/group\.json/);
    expect(await fails(['remove-member', '--group', './orders/group.json', '--admin', './orders/admin.key', '--id', 'r9'])).toMatch(/r9 is not a member/);
    expect(await fails(['add-member', '--group', './orders/group.json', '--admin', './orders/admin.key', '--id', 'a/b'])).toMatch(/id must be 1 to 64 letters/);
  });
});

describe('under npx', () => {
  it('`npx statechorus signal` stops cleanly when npx gets SIGTERM (no server left under PID 1)', { timeout: 120_000 }, async () => {
    const r = run(['statechorus', 'signal', '--port', '0'], 'npx', []);
    await waitFor(r.out, /signaling server listening on ws:\/\/127\.0\.0\.1:\d+\n/);
    r.child.kill('SIGTERM'); // npx's process only, as `kill PID` does
    await waitFor(r.out, /signaling server stopped/, 20_000);
    expect(await r.exit).not.toBe(undefined);
  });
});
