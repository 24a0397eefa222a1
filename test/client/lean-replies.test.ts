import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { createAppExecutor, OMITTED_VIEW, SESSION_EVENT } from '../../src/app/index.ts';
import { createLocalCluster, type FaultModel } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

// A client created with `snapshots: false` asks for replies without the state: the cost of its
// requests must not grow with the state, and it must still get an agreed index and digest.

const big = setup({ types: { context: {} as { blob: string; n: number } } }).createMachine({
  context: { blob: 'x'.repeat(200_000), n: 0 },
  on: { INC: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
});

describe('replies without the state', () => {
  for (const faultModel of ['crash', 'byzantine'] as FaultModel[]) {
    it(`${faultModel}: a lean client gets the agreed index and digest, its actor keeps the last state, a full client still gets the state`, async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 3 });
      try {
        const full = cluster.createClient();
        const lean = cluster.createClient({ snapshots: false });
        const a = await full.send({ type: 'INC' });
        expect(a.snapshot.context).toEqual({ count: 1 });
        const b = await lean.send({ type: 'INC' });
        expect(b.snapshot).toEqual(OMITTED_VIEW);
        expect(b.index).toBeGreaterThan(a.index);
        expect(b.digest).toMatch(/^[0-9a-f]{64}$/);
        expect(b.agreed.length).toBe(faultModel === 'crash' ? 1 : 2);
        expect(lean.actor.getSnapshot().status).not.toBe('omitted');
        expect((await lean.read()).context).toEqual({ count: 2 });
        const c = await full.send({ type: 'INC' });
        expect(c.snapshot.context).toEqual({ count: 3 });
      } finally {
        await cluster.stop();
      }
    });
  }

  it('keeps the state out of the session table, so a snapshot does not grow with lean sessions', () => {
    const ex = createAppExecutor(big);
    const sessions: number[] = [];
    for (let i = 0; i < 10; i++) sessions.push(ex.applyRequest(i + 1, i, { client: `c${i}`, session: 0, seq: 1, event: { type: SESSION_EVENT }, snapshot: false }).session!.id);
    const base = ex.snapshot().length;
    sessions.forEach((session, i) => {
      const r = ex.applyRequest(11 + i, 20 + i, { client: `c${i}`, session, seq: 1, event: { type: 'INC' }, snapshot: false });
      expect(r.snapshot).toBe(OMITTED_VIEW);
    });
    // ten cached results, each without the 200 kB state
    expect(ex.snapshot().length).toBeLessThan(base + 10_000);
    // a retry is answered from the table, also without the state
    const again = ex.answerFromCache({ client: 'c0', session: sessions[0]!, seq: 1, event: { type: 'INC' } });
    expect(again?.duplicate).toBe(true);
    expect(again?.snapshot).toBe(OMITTED_VIEW);
  });

  it('refuses a request whose snapshot flag is not false', () => {
    const ex = createAppExecutor(counter);
    expect(() => ex.applyRequest(1, 0, { client: 'c', session: 0, seq: 1, event: { type: SESSION_EVENT }, snapshot: true as never })).toThrow(/request\.snapshot must be false or absent/);
  });
});
