// Trace hash per seed of the randomized scenario, one `seed hash` line each, to prove a refactor
// changed no behaviour: `node scripts/trace-hashes.mjs --model byzantine --seeds 200 [--base 1] > before.txt`,
// again after the change, then diff. Runs test/trace-hashes.test.ts (skipped in ordinary test runs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const dir = mkdtempSync(join(tmpdir(), 'trace-hashes-'));
const out = join(dir, 'hashes.txt');
const r = spawnSync('npx', ['vitest', 'run', 'test/trace-hashes.test.ts'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    TRACE_HASHES_OUT: out,
    TRACE_HASHES_MODEL: opt('model', 'byzantine'),
    TRACE_HASHES_SEEDS: opt('seeds', '200'),
    TRACE_HASHES_BASE: opt('base', '1'),
  },
});
let text = '';
try {
  text = readFileSync(out, 'utf8');
} catch {
  // vitest failed before the first seed; its status says so below
}
process.stdout.write(text);
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
