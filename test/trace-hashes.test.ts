import { appendFileSync, writeFileSync } from 'node:fs';
import { it } from 'vitest';
import { runScenario } from './fixtures/scenario.ts';
import type { FaultModel } from '../src/index.ts';

/**
 * Records the trace hash of each seed of a randomized scenario, to show a refactor changed no
 * behaviour: `node scripts/trace-hashes.mjs --model byzantine --seeds 200 > before.txt`, then again
 * after, and diff. Skipped unless the script sets TRACE_HASHES_OUT.
 */
const env = process.env;
const out = env.TRACE_HASHES_OUT;

it.skipIf(!out)('records `seed hash` lines for a seed range', async () => {
  const model = (env.TRACE_HASHES_MODEL ?? 'byzantine') as FaultModel;
  const base = Number(env.TRACE_HASHES_BASE ?? 1);
  const count = Number(env.TRACE_HASHES_SEEDS ?? 200);
  writeFileSync(out!, '');
  for (let seed = base; seed < base + count; seed++) {
    const report = await runScenario(seed, { faultModel: model });
    appendFileSync(out!, `${seed} ${report.traceHash}\n`);
  }
}, 24 * 3600_000);
