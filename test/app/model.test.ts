import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { appModel, createAppExecutor, SESSION_EVENT } from '../../src/app/index.ts';
import type { AppModelInput, AppModelOutput } from '../../src/app/index.ts';
import { checkLinearizable } from '../../src/check/index.ts';
import type { Operation } from '../../src/check/index.ts';
import { counter } from '../fixtures/machines.ts';


type Op = Operation<AppModelInput, AppModelOutput>;

/** What a client.send() result looks like; the model looks only at `snapshot`. */
function sent(count: number, index: number): AppModelOutput {
  return { snapshot: { value: {}, context: { count }, status: 'active' }, index, digest: 'ab'.repeat(32), agreed: ['r1', 'r2'], dissent: [] } as AppModelOutput;
}

function inc(client: string, call: number, ret: number, count: number, index: number): Op {
  return { client, input: { type: 'INC' }, call, return: ret, output: sent(count, index) };
}

describe('appModel', () => {
  const model = appModel(counter);

  it('accepts a valid concurrent history of INCs', () => {
    const history: Op[] = [
      inc('c1', 0, 10, 2, 2), // overlaps c2's: may go second
      inc('c2', 1, 5, 1, 1),
      inc('c3', 11, 20, 3, 3),
      { client: 'c4', input: { type: 'INC' }, call: 12 }, // never returned: may or may not have happened
      { client: 'c5', input: null, call: 21, return: 22, output: { value: {}, context: { count: 3 }, status: 'active' } },
      { client: 'c1', input: { type: 'ADD', amount: 10 }, call: 23, return: 30, output: sent(14, 5) }, // c4's took effect first
    ];
    const result = checkLinearizable(model, history);
    expect(result.ok).toBe(true);
  });

  it('rejects a history with a wrong result', () => {
    const history: Op[] = [
      inc('c1', 0, 10, 1, 1),
      inc('c2', 11, 20, 1, 2), // strictly after c1's: must see 2
    ];
    const result = checkLinearizable(model, history);
    expect(result.ok).toBe(false);
    if (result.ok === false) expect(result.explanation).toContain('"count":2');
  });

  it('rejects a stale read', () => {
    const history: Op[] = [
      inc('c1', 0, 10, 1, 1),
      { client: 'c2', input: null, call: 11, return: 12, output: { value: {}, context: { count: 0 }, status: 'active' } },
    ];
    expect(checkLinearizable(model, history).ok).toBe(false);
  });

  it('checks real executor results', () => {
    const ex = createAppExecutor(counter);
    const history: Op[] = [];
    for (let c = 0; c < 4; c++) ex.applyRequest(c + 1, 0, { client: `c${c}`, session: 0, seq: 1, event: { type: SESSION_EVENT } });
    for (let i = 1; i <= 30; i++) {
      const event = i % 3 ? ({ type: 'INC' } as const) : ({ type: 'ADD', amount: i } as const);
      const result = ex.applyRequest(i + 4, i * 10, { client: `c${i % 4}`, session: (i % 4) + 1, seq: i, event });
      history.push({ client: `c${i % 4}`, input: event, call: i * 10 - 15, return: i * 10 + 15, output: result });
    }
    expect(checkLinearizable(model, history).ok).toBe(true);
  });

  it('uses the $meta the history supplies', () => {
    type Meta = { index: number; time: number; random: number };
    const dice = setup({ types: { context: {} as { last: number }, events: {} as { type: 'ROLL'; $meta: Meta } } }).createMachine({
      context: { last: 0 },
      on: { ROLL: { actions: assign({ last: ({ event }) => event.$meta.random % 6 }) } },
    });
    const m = appModel(dice);
    const out = (last: number): AppModelOutput => ({ value: {}, context: { last }, status: 'active' });
    const ok: Op[] = [{ client: 'a', input: { type: 'ROLL', $meta: { index: 1, time: 0, random: 9 } }, call: 0, return: 1, output: out(3) }];
    expect(checkLinearizable(m, ok).ok).toBe(true);
    const wrong: Op[] = [{ client: 'a', input: { type: 'ROLL', $meta: { index: 1, time: 0, random: 9 } }, call: 0, return: 1, output: out(4) }];
    expect(checkLinearizable(m, wrong).ok).toBe(false);
  });

  it('keys states by canonical encoding', () => {
    const s0 = model.init();
    const a = model.step(s0, { type: 'ADD', amount: 2 }, undefined, true).state;
    const b = model.step(model.step(s0, { type: 'INC' }, undefined, true).state, { type: 'INC' }, undefined, true).state;
    expect(model.key(a)).toBe(model.key(b));
    expect(model.key(a)).not.toBe(model.key(s0));
    expect(model.readOnly?.(null)).toBe(true);
    expect(model.readOnly?.({ type: 'INC' })).toBe(false);
  });
});
