// The README's counter, as an application machine for the browser bundle (an entry of
// scripts/browser-build.mjs, so it shares the bundle's copy of xstate).
import { assign, setup } from 'xstate';

export const counter = setup({
  types: { context: /** @type {{ count: number }} */ ({}), events: /** @type {{ type: 'INC' } | { type: 'ADD'; amount: number }} */ ({}) },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  on: {
    INC: { actions: assign({ count: ({ context }) => context.count + 1 }) },
    ADD: { actions: assign({ count: ({ context, event }) => context.count + event.amount }) },
  },
});
