// `npm start`'s program end to end, short: replica processes over WebRTC, one killed and
// restarted, and a summary that says nothing was lost and the states are equal.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from './build.ts';

const START = fileURLToPath(new URL('../../examples/start.mjs', import.meta.url));

beforeAll(() => ensureBuilt(), 120_000);

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [START, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('npm start (examples/start.mjs)', () => {
  for (const model of ['byzantine', 'crash']) {
    it(`${model}: survives the kill, loses nothing, ends with equal states`, async () => {
      const { code, out } = await run(['--fault-model', model, '--duration', '12', '--clients', '4', '--port', '0']);
      expect(out, out).toMatch(/killed r\d .* with SIGKILL/);
      expect(out).toMatch(/restarted r\d from its files/);
      expect(out).toMatch(/final counter +(\d+) \(acknowledged \1, none lost\)/);
      expect(out).toMatch(/replica states +identical on every replica/);
      // Each replica's applied index and digest, as the comparison saw them: one of each.
      const rows = [...out.matchAll(/^ +(r\d) +applied +(\d+) +digest ([0-9a-f]{16}) /gm)];
      expect(rows.map((r) => r[1])).toEqual(model === 'crash' ? ['r1', 'r2', 'r3'] : ['r1', 'r2', 'r3', 'r4']);
      expect(new Set(rows.map((r) => `${r[2]} ${r[3]}`)).size).toBe(1);
      expect(code).toBe(0);
    }, 90_000);
  }

  it('rejects bad arguments with usage', async () => {
    const { code, out } = await run(['--fault-model', 'paxos']);
    expect(code).toBe(2);
    expect(out).toMatch(/--fault-model is crash or byzantine/);
    expect(out).toMatch(/usage: npm start/);
  });
});
