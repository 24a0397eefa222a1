import { assign, setup } from 'xstate';

/** The README's counter. */
export const counter = setup({
  types: { context: {} as { count: number }, events: {} as { type: 'INC' } | { type: 'ADD'; amount: number } },
}).createMachine({
  context: { count: 0 },
  on: {
    INC: { actions: assign({ count: ({ context }) => context.count + 1 }) },
    ADD: { actions: assign({ count: ({ context, event }) => context.count + event.amount }) },
  },
});

/** A key-value register map: PUT writes, GET reads through the log (for linearizability histories). */
export const kvMachine = setup({
  types: {
    context: {} as { data: Record<string, number> },
    events: {} as { type: 'PUT'; key: string; value: number } | { type: 'NOOP' },
  },
}).createMachine({
  context: { data: {} },
  on: {
    PUT: { actions: assign({ data: ({ context, event }) => ({ ...context.data, [event.key]: event.value }) }) },
    NOOP: {},
  },
});

/** A lock that releases itself 30 s (replicated time) after it was taken. */
export const autoLock = setup({
  types: { context: {} as { holder: string | null; taken: number }, events: {} as { type: 'TAKE'; who: string } | { type: 'RELEASE' } },
}).createMachine({
  initial: 'free',
  context: { holder: null, taken: 0 },
  states: {
    free: { on: { TAKE: { target: 'held', actions: assign({ holder: ({ event }) => event.who, taken: ({ context }) => context.taken + 1 }) } } },
    held: {
      after: { 30_000: { target: 'free', actions: assign({ holder: null }) } },
      on: { RELEASE: { target: 'free', actions: assign({ holder: null }) } },
    },
  },
});
