// The benchmarks' application: a small store whose events of ~100 bytes set one of 8 keys (a
// context of ~1 kB, typical of a statechart). In its own module so replica processes can load
// it (dist/bench/apps.js) as well as the in-process runs.
import { assign, setup } from 'xstate';

export const store = setup({
  types: { context: {} as { items: Record<string, string>; writes: number }, events: {} as { type: 'SET'; key: string; value: string } },
}).createMachine({
  context: { items: {}, writes: 0 },
  on: {
    SET: { actions: assign({ items: ({ context, event }) => ({ ...context.items, [event.key]: event.value }), writes: ({ context }) => context.writes + 1 }) },
  },
});

/** The i-th event: ~100 bytes. */
export const storeEvent = (i: number) => ({ type: 'SET' as const, key: `k${i % 8}`, value: 'v'.repeat(70) + String(i).padStart(8, '0') });
