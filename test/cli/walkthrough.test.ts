/**
 * The README's CLI walkthrough, run as written: the commands are read from README.md (between
 * the walkthrough markers) and executed with bash in a scratch directory inside the repository
 * (so that `npx statechorus` runs this package), acting as the shell: a line ending in `&`
 * starts a job and waits until it says it is ready ("listening on" / "started"), `kill %N`
 * sends SIGTERM to job N (the npx process, as a shell would) and waits for its "stopped" line,
 * every other line must exit 0. The one change: the port 8787 becomes a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../net/build.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The commands of the README's walkthrough block. */
export function walkthroughCommands(readme = readFileSync(join(repo, 'README.md'), 'utf8')): string[] {
  const m = /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme);
  if (!m) throw new Error('README.md has no walkthrough block (<!-- walkthrough:start --> ```sh … ``` <!-- walkthrough:end -->)');
  return m[1]!.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Job {
  line: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  done: boolean;
}

const jobs: Job[] = [];
let scratch = '';

function start(line: string, cwd: string, env: NodeJS.ProcessEnv): Job {
  // Its own process group, so that cleanup after a failure can reach the node under npx.
  const child = spawn('bash', ['-c', line], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (out += d.toString()));
  const job: Job = { line, child, output: () => out, exited: new Promise((resolve) => child.on('close', (code) => resolve(code))), done: false };
  void job.exited.then(() => (job.done = true));
  return job;
}

/** Waits for `re` in the job's output (a condition, polled), or fails with what it printed. */
async function waitFor(job: Job, re: RegExp, what: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!re.test(job.output())) {
    if (job.done && !re.test(job.output())) throw new Error(`${what}: \`${job.line}\` ended without printing ${re}; it printed:\n${job.output()}`);
    if (Date.now() > until) throw new Error(`${what}: \`${job.line}\` did not print ${re} within ${timeoutMs} ms; it printed:\n${job.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(() => {
  for (const j of jobs) {
    if (j.child.pid === undefined) continue;
    try {
      process.kill(-j.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('README walkthrough', () => {
  it('init, a signaling server, three replicas, send, read, status, kill one, the group still commits, add one: as written', { timeout: 300_000 }, async () => {
    ensureBuilt();
    const commands = walkthroughCommands();
    expect(commands.length).toBeGreaterThan(8);
    mkdirSync(join(repo, '.tmp'), { recursive: true });
    scratch = mkdtempSync(join(repo, '.tmp', 'walkthrough-'));
    // The machine the README describes for app.mjs.
    writeFileSync(join(scratch, 'app.mjs'), "import { assign, createMachine } from 'xstate';\nexport const machine = createMachine({ context: { count: 0 }, on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } } });\n");
    const port = await freePort();
    // npx links this package from the repository; it needs no registry.
    const env = { ...process.env, PORT: '', npm_config_offline: 'true', npm_config_update_notifier: 'false' };
    const background: Job[] = [];
    const outputs: Array<{ line: string; out: string }> = [];

    for (const raw of commands) {
      const line = raw.replaceAll('8787', String(port));
      const kill = /^kill((?: %\d+)+)$/.exec(line);
      if (kill) {
        const targets = kill[1]!.trim().split(/\s+/).map((s) => background[Number(s.slice(1)) - 1]);
        for (const job of targets) {
          expect(job, `${line}: no such job`).toBeDefined();
          job!.child.kill('SIGTERM');
        }
        // Each stops cleanly, although the signal reached npx, not the node process under it.
        for (const job of targets) await waitFor(job!, /\] stopped|signaling server stopped/, line);
        continue;
      }
      if (line.endsWith('&')) {
        const job = start(line.slice(0, -1).trim(), scratch, env);
        jobs.push(job);
        background.push(job);
        await waitFor(job, /listening on ws:|\] started/, 'starting a job');
        continue;
      }
      const job = start(line, scratch, env);
      jobs.push(job);
      const code = await Promise.race([job.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
      expect(code, `\`${line}\` exited ${code}; it printed:\n${job.output()}`).toBe(0);
      outputs.push({ line, out: job.output() });
    }

    const of = (command: string) => outputs.filter((o) => o.line.includes(`statechorus ${command} `)).map((o) => o.out);
    const counts = of('send').map((out) => (JSON.parse(out.trim().split('\n').pop()!) as { snapshot: { context: { count: number } } }).snapshot.context.count);
    expect(counts).toEqual([1, 2, 3]);
    const read = JSON.parse(of('read')[0]!.trim()) as { snapshot: { context: { count: number } }; agreed: string[] };
    expect(read.snapshot.context.count).toBe(1);
    const [before, after, grown] = of('status');
    expect(before).toMatch(/^group: crash, 3 members/m);
    expect(before!.match(/link up/g)?.length).toBe(3);
    expect(before).toMatch(/^ {2}r\d +link up +leader \(term \d+, leader r\d\) applied \d+, commit \d+, digest \w+, members r1,r2,r3$/m);
    expect(before).toMatch(/^ {2}r\d +link up +follower \(term \d+, leader r\d\) applied \d+/m);
    // r1 (job 2) was stopped: it no longer answers, and another member leads.
    expect(after).toMatch(/^ {2}r1 +link down +no answer$/m);
    expect(after).toMatch(/^ {2}r[23] +link up +leader \(term \d+, leader r[23]\) applied \d+/m);
    expect(after).toMatch(/read through the group: index \d+, agreed by r[23]/);
    // add-member: a quorum reported r4, group.json lists it, and r4 (started with --join) applies entries.
    expect(of('add-member')[0]).toMatch(/^r4 added:/m);
    expect(grown).toMatch(/^group: crash, 4 members/m);
    expect(grown).toMatch(/^ {2}r4 +link up +(follower|leader) \(term \d+, leader r[234]\) applied [1-9]\d*, commit \d+, digest \w+, members .*r4$/m);
    // Every job stopped on its own (none left behind under PID 1).
    for (const j of background) expect(await Promise.race([j.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 10_000))]), j.line).toBe('exited');
    console.log(outputs.map((o) => `$ ${o.line}\n${o.out}`).join(''));
  });
});
