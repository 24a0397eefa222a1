/**
 * `npx statechorus signal` as users run it: the package installed in a consumer directory,
 * started through npx (npm exec → sh -c → node bin). npm passes a SIGTERM sent to it on to
 * the shell only; the server must stop anyway and leave no process behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, descendants, hasProc, portOpen, repo, scratchPackage, spawnProc, waitUntil } from './processes.ts';

let pkg: ReturnType<typeof scratchPackage> | undefined;
let consumer = '';
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

beforeAll(() => {
  pkg = scratchPackage('npx-pkg-');
  consumer = mkdtempSync(join(repo, '.tmp', 'npx-consumer-'));
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  // A directory dependency is linked, not copied: offline and quick, and the bin is the real one.
  execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', pkg.dir], { cwd: consumer, stdio: 'pipe' });
}, 120_000);

afterAll(() => {
  if (consumer) rmSync(consumer, { recursive: true, force: true });
  pkg?.remove();
});

describe.skipIf(!hasProc)('npx statechorus signal', () => {
  // SIGTERM to the npx process alone, as a supervisor or `kill PID` sends it; SIGINT to its
  // process group, as Ctrl-C in a terminal sends it. (A SIGINT to the npx pid alone is held by
  // npm's `sh -c`, which waits for its child: nothing stops, and nothing is left behind either.)
  const cases = [
    { signal: 'SIGTERM', to: 'the npx process', target: (pid: number) => pid },
    { signal: 'SIGINT', to: "npx's process group (Ctrl-C)", target: (pid: number) => -pid },
  ] as const;
  for (const { signal, to, target } of cases) {
    it(`${signal} to ${to} stops the server: port closed, no process left`, async () => {
      const npx = spawnProc('npx', ['--no-install', 'statechorus', 'signal', '--port', '0'], { cwd: consumer, detached: true });
      let exited = false;
      void npx.exit.then(() => void (exited = true));
      let below: number[] = [];
      try {
        const [, port] = await npx.waitFor(/signaling server listening on ws:\/\/127\.0\.0\.1:(\d+)\n/, 60_000);
        below = descendants(npx.child.pid!);
        expect(below.length, 'npx runs the server in a child process').toBeGreaterThan(0);
        expect(await portOpen(Number(port))).toBe(true);

        process.kill(target(npx.child.pid!), signal);
        await waitUntil(
          async () => exited && !(await portOpen(Number(port))) && below.every((p) => !alive(p)),
          15_000,
          () => `npx ${exited ? 'exited' : 'still running'}; port ${port} open or processes left: ${below.filter(alive).map((p) => `${p} (${cmdline(p)})`).join(', ')}; stdout: ${npx.stdout()}`,
        );
        expect(npx.stdout()).toMatch(new RegExp(`${signal}: shutting down\\nsignaling server stopped`));
      } finally {
        for (const p of below.filter(alive)) process.kill(p, 'SIGKILL');
        if (!exited) process.kill(npx.child.pid!, 'SIGKILL');
      }
    }, 90_000);
  }
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '?';
  }
}
