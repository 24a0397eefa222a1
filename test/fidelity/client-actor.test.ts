/** The client as an XState-style actor: defined before the first reply, XState snapshot methods, refused sends reported. */
import { describe, expect, it } from 'vitest';
import { assign, setup, type InspectionEvent } from 'xstate';
import { createClient, createLocalCluster, EventTooLargeError } from '../../src/index.ts';

const door = setup({
  types: { context: {} as { opened: number }, events: {} as { type: 'OPEN' } | { type: 'CLOSE' } | { type: 'LOCK'; code: number } },
  guards: { rightCode: ({ event }) => event.type === 'LOCK' && event.code === 42 },
}).createMachine({
  id: 'door',
  initial: 'closed',
  context: { opened: 0 },
  states: {
    closed: { tags: ['shut'], on: { OPEN: { target: 'open', actions: assign({ opened: ({ context }) => context.opened + 1 }) }, LOCK: { guard: 'rightCode', target: 'locked' } } },
    open: { on: { CLOSE: 'closed' } },
    locked: { tags: ['shut'] },
  },
});

for (const faultModel of ['crash', 'byzantine'] as const) {
  describe(`${faultModel}: client.actor`, () => {
    it('starts from the initial state (not agreed), then shows voted states with matches, hasTag and can', async () => {
      const cluster = await createLocalCluster({ machine: door, faultModel, f: 1, seed: 9 });
      try {
        const client = cluster.createClient();
        const first = client.actor.getSnapshot();
        expect(first).toMatchObject({ value: 'closed', context: { opened: 0 }, status: 'active', agreed: false, index: 0 });
        expect(first.hasTag('shut')).toBe(true);
        const seen: unknown[] = [];
        client.actor.subscribe((s) => seen.push([s.value, s.agreed]));
        await client.send({ type: 'OPEN' });
        const s = client.actor.getSnapshot();
        expect(s).toMatchObject({ value: 'open', context: { opened: 1 }, agreed: true });
        expect(s.matches('open')).toBe(true);
        expect(s.hasTag('shut')).toBe(false);
        expect(s.can({ type: 'CLOSE' })).toBe(true);
        expect(s.can({ type: 'OPEN' })).toBe(false);
        await client.send({ type: 'CLOSE' });
        expect(client.actor.getSnapshot().can({ type: 'LOCK', code: 1 })).toBe(false); // the guard is evaluated
        expect(client.actor.getSnapshot().can({ type: 'LOCK', code: 42 })).toBe(true);
        expect(seen).toEqual([['open', true], ['closed', true]]);
      } finally {
        await cluster.stop();
      }
    });

    it('a refused event throws from client.actor.send instead of being dropped', async () => {
      const cluster = await createLocalCluster({ machine: door, faultModel, f: 1, seed: 9 });
      try {
        const client = cluster.createClient();
        expect(() => client.actor.send({ type: 'OPEN', when: new Date() } as never)).toThrow(/refused: the event is not plain serializable data/);
        expect(() => client.actor.send({ type: 'xstate.done.actor.x' } as never)).toThrow(/reserved/);
        expect(() => client.actor.send({ type: 'LOCK', code: 1, pad: 'x'.repeat(2 * 1024 * 1024) } as never)).toThrow(EventTooLargeError);
        await client.send({ type: 'OPEN' }); // nothing refused reached the group
        expect(client.actor.getSnapshot().context.opened).toBe(1);
      } finally {
        await cluster.stop();
      }
    });
  });
}

it('is typed from the machine: send takes only its events, snapshots carry its context type', async () => {
  const cluster = await createLocalCluster({ machine: door, seed: 4 });
  try {
    const client = cluster.createClient();
    const opened: number = client.actor.getSnapshot().context.opened;
    expect(opened).toBe(0);
    // @ts-expect-error KNOCK is not one of the door's events (the type-check step fails if this compiles)
    const notAnEvent = () => client.send({ type: 'KNOCK' });
    // @ts-expect-error LOCK needs a numeric code
    const missingField = () => client.actor.send({ type: 'LOCK' });
    expect(typeof notAnEvent).toBe('function');
    expect(typeof missingField).toBe('function');
    const direct = createClient({ id: 'typed', machine: door, faultModel: 'crash', replicas: ['r1'], transport: { send: () => {}, onMessage: () => {} } });
    // @ts-expect-error the same typing for createClient given the machine
    const alsoNotAnEvent = () => direct.send({ type: 'KNOCK' });
    expect(typeof alsoNotAnEvent).toBe('function');
    direct.close();
  } finally {
    await cluster.stop();
  }
});

it('createLocalCluster accepts an XState inspection observer', async () => {
  const events: InspectionEvent[] = [];
  const cluster = await createLocalCluster({ machine: door, seed: 2, inspect: { next: (e) => events.push(e) } });
  try {
    await cluster.createClient().send({ type: 'OPEN' });
    expect(events.some((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'OPEN')).toBe(true);
  } finally {
    await cluster.stop();
  }
});
