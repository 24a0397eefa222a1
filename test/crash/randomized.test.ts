import { describe, expect, it } from 'vitest';
import { seedsToRun, withSeed } from '../../src/sim/index.ts';
import { runScenario, type ScenarioReport } from '../fixtures/scenario.ts';

const runCrashScenario = (seed: number) => runScenario(seed, { faultModel: 'crash' });

/** CI runs 200 seeds; `npm run sim -- --seeds 10000` (SIM_SEEDS) runs more; SEED=n replays one. */
const count = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.SIM_SEEDS ?? 200);
const base = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.SIM_BASE ?? 1);

describe('crash-fault group under random faults (seeded simulation)', () => {
  it(`stays linearizable, convergent, loses nothing and recovers, on every seed`, async () => {
    const reports: ScenarioReport[] = [];
    for (const seed of seedsToRun(count, base)) {
      reports.push(await withSeed(seed, () => runCrashScenario(seed)));
    }
    const sum = (f: (r: ScenarioReport) => number) => reports.reduce((n, r) => n + f(r), 0);
    const wipes = () => sum((r) => r.faults.filter((f) => f.startsWith('wipe')).length);
    console.log(
      `${reports.length} seeds: ${sum((r) => r.completed)} operations completed, ${sum((r) => r.pending)} gave up, ` +
        `${sum((r) => r.faults.length)} faults injected (${wipes()} disks wiped), ${sum((r) => r.snapshotsInstalled)} snapshot installs, ` +
        `${(sum((r) => r.virtualMs) / 1000).toFixed(0)} s of virtual time`,
    );
    // The scenario must actually exercise faults and snapshot transfer, or it proves little.
    expect(sum((r) => r.faults.filter((f) => f.startsWith('crash')).length)).toBeGreaterThan(0);
    expect(sum((r) => r.faults.filter((f) => f.startsWith('partition')).length)).toBeGreaterThan(0);
    if (reports.length >= 20) expect(sum((r) => r.snapshotsInstalled)).toBeGreaterThan(0);
    if (reports.length >= 20) expect(wipes()).toBeGreaterThan(0);
  }, 1_200_000); // ~4 min on two idle cores; room for a busy CI machine

  it('replays exactly: the same seed gives the same trace, history and state', async () => {
    for (const seed of [3, 17, 42]) {
      const first = await runCrashScenario(seed);
      const second = await runCrashScenario(seed);
      expect(second).toEqual(first);
    }
  }, 120_000);
});
