// The whole test command: type-check, build, vitest (Node), the runtime-neutral suites under Deno,
// the browser tests (Chromium), the consumer test (the packed package in a temporary project).
// Every step runs even when an earlier one fails, and the last line is `N passed, N failed`
// summed over all of them (the type-check and the build count as one test each).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

mkdirSync('.tmp', { recursive: true });
const totals = { passed: 0, failed: 0 };
const STEP_TIMEOUT_MS = 20 * 60 * 1000;
const steps = [];

function run(name, cmd, args, count) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const started = Date.now();
  // A hung step (a blocked event loop defeats the runner's own timeouts) becomes a failure.
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28, timeout: STEP_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.error) console.log(`${name}: ${r.error.message}`);
  process.stdout.write(r.stdout ?? '');
  const { passed, failed } = count(r.stdout ?? '', r.status);
  // A step that exits non-zero without a counted failure (crash, timeout) still counts as one.
  const extra = r.status !== 0 && failed === 0 ? 1 : 0;
  totals.passed += passed;
  totals.failed += failed + extra;
  steps.push(`${name}: ${passed} passed, ${failed + extra} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

// System programs some tests start (coturn for the TURN test, Chromium for the browser tests, redis-server
// for the signaling instances sharing rooms), installed when missing.
spawnSync('bash', ['scripts/apt-ensure.sh', 'turnserver:coturn', 'chromium:chromium', 'redis-server:redis-server'], { stdio: 'inherit' });

run('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], (_out, status) => (status === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 }));

// The multi-process, storage-crash and signaling CLI tests run compiled code in child processes.
run('build', 'npx', ['tsc', '-p', 'tsconfig.build.json'], (_out, status) => (status === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 }));
process.env.STATECHORUS_BUILT = '1';

const vitestJson = '.tmp/vitest-report.json';
rmSync(vitestJson, { force: true });
run('vitest (node)', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`], () => {
  try {
    const report = JSON.parse(readFileSync(vitestJson, 'utf8'));
    return { passed: report.numPassedTests, failed: report.numFailedTests };
  } catch {
    return { passed: 0, failed: 0 };
  }
});

run('deno', 'node', ['scripts/deno-test.mjs'], (out) => {
  // The last summary line is the script's own, over both Deno runs.
  const m = [...strip(out).matchAll(/(?:ok|FAILED) \| (\d+) passed[^|]*\| (\d+) failed/g)].pop();
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 0 };
});

// Real Chromium pages as peers (Playwright driving Debian's chromium); prints `N passed, N failed`.
run('browser', 'node', ['scripts/browser-test.mjs'], (out) => {
  const m = /(\d+) passed, (\d+) failed\s*$/.exec(strip(out).trim());
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 0 };
});

// The packed package as a dependency: Node, Deno, Vite, esbuild, Chromium and tsc in a temporary
// project (registry installs through the npm cache); prints `N passed, N failed` and bundle sizes.
run('consumer', 'node', ['scripts/consumer-test.mjs'], (out) => {
  const m = /(\d+) passed, (\d+) failed\s*$/.exec(strip(out).trim());
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 0 };
});

console.log('\n' + steps.join('\n'));
const line = `${totals.passed} passed, ${totals.failed} failed`;
writeFileSync('.tmp/test-summary', line + '\n');
console.log(line);
process.exit(totals.failed === 0 ? 0 : 1);
