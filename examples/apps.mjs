// Application statecharts that run in separate replica processes (the process group loads a
// machine by module path and export name): the multi-process tests, the WebRTC benchmark and
// `npm start` use them.
import { assign, setup } from 'xstate';

/** A key-value map of numbers: PUT writes one key (histories check against a kv model). */
export const kvMachine = setup({}).createMachine({
  context: { data: {} },
  on: {
    PUT: { actions: assign({ data: ({ context, event }) => ({ ...context.data, [event.key]: event.value }) }) },
    NOOP: {},
  },
});

/** The README's counter. */
export const counter = setup({}).createMachine({
  context: { count: 0 },
  on: {
    INC: { actions: assign({ count: ({ context }) => context.count + 1 }) },
    ADD: { actions: assign({ count: ({ context, event }) => context.count + event.amount }) },
  },
});
