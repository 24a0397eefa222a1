import { it } from 'vitest';
import { assign, setup } from 'xstate';
import { createAppExecutor, SESSION_EVENT } from '../../src/app/index.ts';

const counter = setup({ types: { context: {} as { count: number } } }).createMachine({
  context: { count: 0 },
  on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

// A measurement, not a check: timings vary too much across machines to assert on.
it('measures apply() cost for a counter machine', () => {
  const measure = (label: string, clients: number, n: number) => {
    const ex = createAppExecutor(counter);
    const seqs = new Array<number>(clients).fill(0);
    const names = Array.from({ length: clients }, (_, i) => `client-${i}`);
    const warm = Math.min(5000, n);
    let index = 0;
    for (const client of names) ex.applyRequest(++index, index, { client, session: 0, seq: 1, event: { type: SESSION_EVENT } });
    const run = (count: number) => {
      for (let i = 0; i < count; i++) {
        const c = index % clients;
        index++;
        ex.applyRequest(index, index, { client: names[c]!, session: c + 1, seq: ++seqs[c]!, event: { type: 'INC' } });
      }
    };
    run(warm);
    const t0 = performance.now();
    run(n);
    const ms = performance.now() - t0;
    const noopT0 = performance.now();
    for (let i = 0; i < n; i++) ex.applyNoop(++index, index);
    const noopMs = performance.now() - noopT0;
    // the digest is lazy: a noop whose digest is read pays for it
    const readT0 = performance.now();
    for (let i = 0; i < n; i++) {
      ex.applyNoop(++index, index);
      if (ex.digest.length !== 64) throw new Error('bad digest');
    }
    const readMs = performance.now() - readT0;
    const rate = (count: number, t: number) => Math.round((count / t) * 1000).toLocaleString('en');
    console.log(
      `app executor, counter machine, ${label}: applyRequest ${rate(n, ms)} ops/s (${((ms * 1000) / n).toFixed(1)} µs each); ` +
        `applyNoop ${rate(n, noopMs)} ops/s; applyNoop + digest ${rate(n, readMs)} ops/s`,
    );
    ex.stop();
  };
  measure('1 client', 1, 30_000);
  measure('100 clients', 100, 30_000);
  measure('1000 clients', 1000, 30_000);
});
