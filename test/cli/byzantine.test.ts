/**
 * The CLI with a Byzantine group (3f+1 = 4 replicas): init, a signaling server, four replica
 * processes, a send voted by the client (f+1 replicas agree), status answered by every member
 * (what it executed and its members), SIGINT stops a replica cleanly and the group still commits,
 * and remove-member takes the stopped one out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../net/build.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(repo, 'bin', 'statechorus.mjs');
const children: ChildProcess[] = [];
let scratch = '';

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function run(args: string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: scratch, env: { ...process.env, PORT: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (out += d.toString()));
  return { child, out: () => out, exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

async function waitFor(get: () => string, re: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(get());
    if (m) return m;
    if (Date.now() > until) throw new Error(`${what}: no ${re} within ${timeoutMs} ms; saw:\n${get()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ok(args: string[]): Promise<string> {
  const r = run(args);
  expect(await r.exit, `statechorus ${args.join(' ')} printed:\n${r.out()}`).toBe(0);
  return r.out();
}

describe('CLI with a Byzantine group', () => {
  it('four replicas from init, a voted send, status from every member, one stopped by SIGINT, still commits, then removed', { timeout: 300_000 }, async () => {
    ensureBuilt();
    mkdirSync(join(repo, '.tmp'), { recursive: true });
    scratch = mkdtempSync(join(repo, '.tmp', 'cli-bft-'));
    writeFileSync(join(scratch, 'app.mjs'), "import { assign, createMachine } from 'xstate';\nexport const machine = createMachine({ context: { count: 0 }, on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } } });\n");
    const signal = run(['signal', '--port', '0']);
    const [, url] = await waitFor(signal.out, /listening on (ws:\/\/\S+)\n/, 'signal');
    await ok(['init', '--fault-model', 'byzantine', '--f', '1', '--dir', './bft', '--signaling', url!]);
    const replicas = [1, 2, 3, 4].map((i) => run(['replica', '--group', './bft/group.json', '--identity', `./bft/r${i}.key`, '--machine', './app.mjs#machine', '--data', `./data/r${i}`, '--status-every', '1s']));
    for (const r of replicas) await waitFor(r.out, /\] started/, 'replica start');

    const first = JSON.parse((await ok(['send', '--group', './bft/group.json', '{"type":"INC"}'])).trim()) as { agreed: string[]; snapshot: { context: { count: number } } };
    expect(first.snapshot.context.count).toBe(1);
    expect(first.agreed.length).toBeGreaterThanOrEqual(2); // f+1 matching replies, not one
    const status = await ok(['status', '--group', './bft/group.json']);
    expect(status).toMatch(/^group: byzantine, 4 members/m);
    for (const id of ['r1', 'r2', 'r3', 'r4']) expect(status).toMatch(new RegExp(`^  ${id}  link up +normal \\(view \\d+, leader r\\d\\) applied \\d+, commit \\d+, digest \\w+, members r1,r2,r3,r4$`, 'm'));
    await waitFor(replicas[0]!.out, /\[r1\] status: \w+ \(view \d+, leader r\d\) applied \d+/, 'status line');

    replicas[3]!.child.kill('SIGINT');
    expect(await replicas[3]!.exit).toBe(0);
    expect(replicas[3]!.out()).toMatch(/\[r4\] SIGINT: shutting down\n\[r4\] stopped\n/);
    const second = JSON.parse((await ok(['send', '--group', './bft/group.json', '{"type":"INC"}'])).trim()) as { agreed: string[]; snapshot: { context: { count: number } } };
    expect(second.snapshot.context.count).toBe(2);
    expect(second.agreed).not.toContain('r4');

    // remove-member r4 (stopped): the others report it gone, then group.json lists three.
    const removed = await ok(['remove-member', '--group', './bft/group.json', '--admin', './bft/admin.key', '--id', 'r4']);
    expect(removed).toMatch(/^r4 removed:\n(  r[123]: (took the command|refused it: a signed change with nonce \d+ or later was applied already .*); status: normal .* members r1,r2,r3\n){3}/m);
    expect(removed).toMatch(/bft\/group\.json: members r1,r2,r3$/m);
    const after = await ok(['status', '--group', './bft/group.json']);
    expect(after).toMatch(/^group: byzantine, 3 members/m);

    for (const r of replicas.slice(0, 3)) r.child.kill('SIGTERM');
    for (const r of replicas.slice(0, 3)) expect(await r.exit, r.out()).toBe(0);
    signal.child.kill('SIGTERM');
    expect(await signal.exit).toBe(0);
  });
});
