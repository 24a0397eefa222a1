// Long randomized runs: `npm run sim -- --seeds 10000 [--base 1] [--model crash|byzantine]`. Runs
// the seeded fault scenarios (test/crash/randomized.test.ts, test/byzantine/randomized.test.ts)
// over that many seeds; a failure names its seed.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const seeds = opt('seeds', '1000');
const base = opt('base', '1');
const model = opt('model', 'both');
const files = model === 'both' ? ['test/crash/randomized.test.ts', 'test/byzantine/randomized.test.ts'] : [`test/${model}/randomized.test.ts`];
const r = spawnSync('npx', ['vitest', 'run', ...files, '-t', 'on every seed'], {
  stdio: 'inherit',
  env: { ...process.env, SIM_SEEDS: seeds, SIM_BASE: base },
});
process.exit(r.status ?? 1);
