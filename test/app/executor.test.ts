import { describe, expect, it } from 'vitest';
import { assign, createMachine, raise, sendParent, setup, spawnChild, type AnyActorRef } from 'xstate';
import { checkEvent, createAppExecutor, errorText, SESSION_EVENT } from '../../src/app/index.ts';
import type { AppExecutor, AppRequest } from '../../src/app/index.ts';
import { counter } from '../fixtures/machines.ts';


/** A lock that releases itself 30 s after it was taken. */
const lock = setup({
  types: { context: {} as { holder: string | null }, events: {} as { type: 'LOCK'; who: string } | { type: 'UNLOCK' } },
}).createMachine({
  context: { holder: null },
  initial: 'unlocked',
  states: {
    unlocked: { on: { LOCK: { target: 'locked', actions: assign({ holder: ({ event }) => event.who }) } } },
    locked: {
      after: { 30_000: { target: 'unlocked', actions: assign({ holder: null }) } },
      on: { UNLOCK: { target: 'unlocked', actions: assign({ holder: null }) } },
    },
  },
});

type Meta = { index: number; time: number; random: number };
/** Uses the ordered entry's time and randomness. */
const dice = setup({
  types: { context: {} as { rolls: number[]; at: number[]; indices: number[] }, events: {} as { type: 'ROLL'; $meta: Meta } },
}).createMachine({
  context: { rolls: [], at: [], indices: [] },
  on: {
    ROLL: {
      actions: assign({
        rolls: ({ context, event }) => [...context.rolls, (event.$meta.random % 6) + 1],
        at: ({ context, event }) => [...context.at, event.$meta.time],
        indices: ({ context, event }) => [...context.indices, event.$meta.index],
      }),
    },
  },
});

/** A request of `session` (default 1: a session opened at index 1). */
function req(client: string, seq: number, event: AppRequest['event'], session = 1): AppRequest {
  return { client, session, seq, event };
}

/** The request that opens a session for `client` (its id is the index it is applied at). */
function opening(client: string, attempt = 1): AppRequest {
  return { client, session: 0, seq: attempt, event: { type: SESSION_EVENT } };
}

type Entry = { time: number; request?: AppRequest };

function feed(ex: AppExecutor, entries: Entry[], from = 1): string[] {
  const digests: string[] = [];
  entries.forEach((e, i) => {
    if (e.request) ex.applyRequest(from + i, e.time, e.request);
    else ex.applyNoop(from + i, e.time);
    digests.push(ex.digest);
  });
  return digests;
}

describe('determinism', () => {
  it('two executors fed the same entries have equal digests after every entry', () => {
    const a = createAppExecutor(counter);
    const b = createAppExecutor(counter);
    expect(a.digest).toBe(b.digest);
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
    const entries: Entry[] = [0, 1, 2].map((c) => ({ time: 0, request: opening(`c${c}`) }));
    for (let i = 0; i < 50; i++) {
      entries.push(
        i % 7 === 3
          ? { time: i * 10 }
          : { time: i * 10, request: req(`c${i % 3}`, i + 1, i % 2 ? { type: 'INC' } : { type: 'ADD', amount: i }, (i % 3) + 1) },
      );
    }
    const da = feed(a, entries);
    const db = feed(b, entries);
    expect(da).toEqual(db);
    expect(new Set(da).size).toBe(da.length); // every entry changes the state (index at least)
    expect(a.actor.getSnapshot().context).toEqual(b.actor.getSnapshot().context);
    expect(a.appliedIndex).toBe(53);
    expect(a.time).toBe(490);
  });

  it('returns the app state right after the entry, frozen: a caller cannot change the replicated state through it', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('c'));
    const r1 = a.applyRequest(2, 0, req('c', 1, { type: 'ADD', amount: 5 }));
    expect(r1).toEqual({ index: 2, snapshot: { value: {}, context: { count: 5 }, status: 'active' }, digest: a.digest, duplicate: false });
    expect(() => {
      (r1.snapshot.context as { count: number }).count = 99;
    }).toThrow(TypeError);
    expect(a.actor.getSnapshot().context.count).toBe(5);
    const r2 = a.applyRequest(3, 0, req('c', 2, { type: 'INC' }));
    expect(r2.snapshot.context).toEqual({ count: 6 });
    expect(r1.snapshot.context).toEqual({ count: 5 });
  });

  it('a different history gives a different digest', () => {
    const a = createAppExecutor(counter);
    const b = createAppExecutor(counter);
    for (const x of [a, b]) x.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
    b.applyRequest(2, 0, req('c', 1, { type: 'ADD', amount: 2 }));
    expect(a.digest).not.toBe(b.digest);
    const c = createAppExecutor(counter);
    c.applyRequest(1, 0, opening('c'));
    c.applyRequest(2, 1, req('c', 1, { type: 'INC' })); // same event, other time
    expect(c.digest).not.toBe(a.digest);
  });

  it('rejects entries out of order and bad times without changing state', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(3, 100, req('c', 1, { type: 'INC' })); // no session: refused, but the entry counts
    const before = a.digest;
    expect(() => a.applyNoop(3, 200)).toThrow(RangeError);
    expect(() => a.applyNoop(2, 200)).toThrow(/above the applied index 3/);
    expect(() => a.applyNoop(4, Number.NaN)).toThrow(/finite/);
    expect(() => a.applyNoop(4.5, 200)).toThrow(RangeError);
    expect(a.digest).toBe(before);
    expect(a.appliedIndex).toBe(3);
  });

  it('never moves replicated time back', () => {
    const a = createAppExecutor(lock);
    a.applyRequest(1, 10_000, opening('c'));
    a.applyRequest(2, 10_000, req('c', 1, { type: 'LOCK', who: 'x' }));
    a.applyNoop(3, 5_000);
    expect(a.time).toBe(10_000);
    expect(a.nextTimerDue()).toBe(40_000);
  });
});

describe('replicated time and after', () => {
  it('fires `after` at the same log position on every replica', () => {
    const entries: Entry[] = [
      { time: 1_000, request: opening('a') },
      { time: 1_000, request: opening('b') },
      { time: 1_000, request: req('a', 1, { type: 'LOCK', who: 'a' }) },
      { time: 10_000 },
      { time: 30_999 },
      { time: 31_000, request: req('b', 1, { type: 'LOCK', who: 'b' }, 2) }, // the lock expires just before it
      { time: 40_000 },
      { time: 61_000 },
    ];
    const runs = [createAppExecutor(lock), createAppExecutor(lock)].map((ex) => {
      const states: unknown[] = [];
      entries.forEach((e, i) => {
        if (e.request) ex.applyRequest(i + 1, e.time, e.request);
        else ex.applyNoop(i + 1, e.time);
        states.push([ex.actor.getSnapshot().value, ex.actor.getSnapshot().context.holder, ex.digest]);
      });
      return states;
    });
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]!.map((s) => (s as unknown[]).slice(0, 2))).toEqual([
      ['unlocked', null],
      ['unlocked', null],
      ['locked', 'a'],
      ['locked', 'a'],
      ['locked', 'a'],
      ['locked', 'b'], // released at 31 000, then taken by b in the same entry
      ['locked', 'b'],
      ['unlocked', null], // b's lock: 31 000 + 30 000
    ]);
  });

  it('reports the next due timer so the leader can order a time-advance entry', () => {
    const a = createAppExecutor(lock);
    expect(a.nextTimerDue()).toBeUndefined();
    a.applyRequest(1, 500, opening('a'));
    a.applyRequest(2, 500, req('a', 1, { type: 'LOCK', who: 'a' }));
    expect(a.nextTimerDue()).toBe(30_500);
    a.applyRequest(3, 600, req('a', 2, { type: 'UNLOCK' }));
    expect(a.nextTimerDue()).toBeUndefined(); // cancelled on exit
  });

  it('counts initial-state delays from the first entry', () => {
    const light = setup({}).createMachine({
      initial: 'green',
      states: { green: { after: { 1000: 'yellow' } }, yellow: { after: { 500: 'red' } }, red: {} },
    });
    const a = createAppExecutor(light);
    expect(a.nextTimerDue()).toBeUndefined();
    a.applyNoop(1, 1_700_000_000_000);
    expect(a.nextTimerDue()).toBe(1_700_000_001_000);
    a.applyNoop(2, 1_700_000_002_000); // both fire, each at its own due time
    expect(a.actor.getSnapshot().value).toBe('red');
  });

  it('fires timers with the clock at their due time, in (due, seq) order', () => {
    const order = setup({ types: { context: {} as { log: string[] } } }).createMachine({
      context: { log: [] },
      entry: [raise({ type: 'B' }, { delay: 200 }), raise({ type: 'A' }, { delay: 100 }), raise({ type: 'C' }, { delay: 200 })],
      on: {
        A: { actions: [assign({ log: ({ context }) => [...context.log, 'A'] }), raise({ type: 'D' }, { delay: 50 })] },
        B: { actions: assign({ log: ({ context }) => [...context.log, 'B'] }) },
        C: { actions: assign({ log: ({ context }) => [...context.log, 'C'] }) },
        D: { actions: assign({ log: ({ context }) => [...context.log, 'D'] }) },
      },
    });
    const a = createAppExecutor(order);
    a.applyNoop(1, 0);
    a.applyNoop(2, 1000);
    // D is due at 150 (scheduled while A fired at 100): before B and C
    expect(a.actor.getSnapshot().context.log).toEqual(['A', 'D', 'B', 'C']);
  });

  it('fires zero-delay events before the reply', () => {
    const zero = setup({}).createMachine({
      initial: 'a',
      states: { a: { on: { GO: 'b' } }, b: { after: { 0: 'c' } }, c: {} },
    });
    const a = createAppExecutor(zero);
    a.applyRequest(1, 5, opening('x'));
    expect(a.applyRequest(2, 5, req('x', 1, { type: 'GO' })).snapshot.value).toBe('c');
  });

  it('carries delayed events of child actors and to the parent', () => {
    const child = setup({}).createMachine({
      initial: 'waiting',
      states: {
        waiting: { after: { 2000: { target: 'done', actions: sendParent({ type: 'CHILD_DONE' }) } } },
        done: { entry: sendParent({ type: 'LATE' }, { delay: 1000 }) },
      },
    });
    const parent = setup({ actors: { child }, types: { context: {} as { log: string[] } } }).createMachine({
      context: { log: [] },
      invoke: { src: 'child', id: 'kid' },
      on: {
        CHILD_DONE: { actions: assign({ log: ({ context }) => [...context.log, 'done'] }) },
        LATE: { actions: assign({ log: ({ context }) => [...context.log, 'late'] }) },
      },
    });
    const a = createAppExecutor(parent);
    a.applyNoop(1, 0);
    a.applyNoop(2, 2500);
    expect(a.actor.getSnapshot().context.log).toEqual(['done']);
    expect(a.nextTimerDue()).toBe(3000);
    const b = createAppExecutor(parent);
    b.restore(a.snapshot());
    a.applyNoop(3, 3000);
    b.applyNoop(3, 3000);
    expect(b.actor.getSnapshot().context.log).toEqual(['done', 'late']);
    expect(b.digest).toBe(a.digest);
  });
});

describe('$meta', () => {
  it('gives the machine the entry index, time and a deterministic uint32', () => {
    const a = createAppExecutor(dice);
    const b = createAppExecutor(dice);
    const rolls: Entry[] = Array.from({ length: 20 }, (_, i) => ({ time: 1000 + i * 7, request: req('p', i + 1, { type: 'ROLL' }) }));
    const entries: Entry[] = [{ time: 1000, request: opening('p') }, ...rolls];
    expect(feed(a, entries)).toEqual(feed(b, entries));
    const ctx = a.actor.getSnapshot().context;
    expect(ctx).toEqual(b.actor.getSnapshot().context);
    expect(ctx.indices).toEqual(rolls.map((_, i) => i + 2));
    expect(ctx.at).toEqual(rolls.map((e) => e.time));
    expect(new Set(ctx.rolls).size).toBeGreaterThan(1);
  });

  it('derives random from the previous digest and the index', () => {
    let seen: number | undefined;
    const probe = setup({}).createMachine({
      on: { R: { actions: ({ event }) => void (seen = (event as unknown as { $meta: Meta }).$meta.random) } },
    });
    const a = createAppExecutor(probe);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'R' }));
    const first = seen!;
    expect(Number.isInteger(first) && first >= 0 && first < 2 ** 32).toBe(true);
    const b = createAppExecutor(probe);
    b.applyRequest(1, 0, opening('c'));
    b.applyRequest(2, 0, req('c', 7, { type: 'R' }));
    expect(seen).toBe(first); // same previous digest, same index
    const c = createAppExecutor(probe);
    c.applyRequest(1, 0, opening('c'));
    c.applyNoop(2, 0);
    c.applyRequest(3, 0, req('c', 1, { type: 'R' }));
    expect(seen).not.toBe(first);
  });

  it('names the client that sent each event, so a machine can authorize by it', () => {
    // Only the client that claimed the lock may release it.
    const lock = setup({ types: { context: {} as { owner: string | null }, events: {} as { type: 'CLAIM' | 'RELEASE'; $meta: Meta & { client: string } } } }).createMachine({
      context: { owner: null },
      on: {
        CLAIM: { guard: ({ context }) => context.owner === null, actions: assign({ owner: ({ event }) => event.$meta.client }) },
        RELEASE: { guard: ({ context, event }) => context.owner === event.$meta.client, actions: assign({ owner: null }) },
      },
    });
    const a = createAppExecutor(lock);
    a.applyRequest(1, 0, opening('alice'));
    a.applyRequest(2, 0, opening('bob'));
    a.applyRequest(3, 0, req('alice', 1, { type: 'CLAIM' }, 1));
    expect(a.actor.getSnapshot().context.owner).toBe('alice');
    a.applyRequest(4, 0, req('bob', 1, { type: 'RELEASE' }, 2));
    expect(a.actor.getSnapshot().context.owner).toBe('alice');
    a.applyRequest(5, 0, req('alice', 2, { type: 'RELEASE' }, 1));
    expect(a.actor.getSnapshot().context.owner).toBe(null);
  });

  it('refuses client events that carry $meta', () => {
    const a = createAppExecutor(dice);
    const event = { type: 'ROLL', $meta: { index: 1, time: 0, random: 4 } };
    expect(() => a.applyRequest(1, 0, req('c', 1, event))).toThrow(TypeError);
    expect(() => a.applyRequest(1, 0, req('c', 1, event))).toThrow(/\$meta is reserved/);
    expect(a.appliedIndex).toBe(0);
  });
});

describe('exactly-once (sessions)', () => {
  it('opens a session whose id is the index of the entry that opened it', () => {
    const a = createAppExecutor(counter);
    a.applyNoop(1, 0);
    const r = a.applyRequest(2, 0, opening('c'));
    expect(r.session).toEqual({ id: 2, seq: 0 });
    expect(r.duplicate).toBe(false);
    expect(a.lastReply('c', 2)).toEqual({ seq: 0, result: null });
    expect(a.lastReply('other', 2)).toBeUndefined(); // a session belongs to the client that opened it
  });

  it('returns the cached result for a repeated seq and does not apply it again', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('c'));
    const first = a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
    const again = a.applyRequest(3, 10, req('c', 1, { type: 'INC' }));
    expect(again).toEqual({ ...first, duplicate: true });
    expect(a.actor.getSnapshot().context.count).toBe(1);
    expect(a.appliedIndex).toBe(3);
    expect(a.lastReply('c', 1)).toEqual({ seq: 1, result: first });
    const next = a.applyRequest(4, 20, req('c', 2, { type: 'INC' }));
    expect(next.snapshot.context).toEqual({ count: 2 });
    const stale = a.applyRequest(5, 30, req('c', 1, { type: 'INC' }));
    expect(stale.refused?.code).toBe('stale');
    expect(a.actor.getSnapshot().context.count).toBe(2);
    expect(a.lastReply('nobody', 1)).toBeUndefined();
  });

  it('answers a cached reply only to the same request: another request under that seq is refused, not answered', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'ADD', amount: 5 }));
    const other = a.applyRequest(3, 0, req('c', 1, { type: 'INC' }));
    expect(other.refused?.code).toBe('request-mismatch');
    expect(other.snapshot.context).toEqual({ count: 5 });
    expect(a.answerFromCache(req('c', 1, { type: 'INC' }))?.refused?.code).toBe('request-mismatch');
    expect(a.answerFromCache(req('c', 1, { type: 'ADD', amount: 5 }))?.duplicate).toBe(true);
    expect(a.answerFromCache(req('c', 2, { type: 'INC' }))).toBeUndefined(); // new: order it
    expect(a.answerFromCache(req('c', 1, { type: 'INC' }, 99))).toBeUndefined(); // unknown here: the log decides
    expect(a.actor.getSnapshot().context.count).toBe(5);
  });

  it('refuses requests of a session it does not hold, never applying them', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('c'));
    expect(a.applyRequest(2, 0, req('c', 1, { type: 'INC' }, 7)).refused?.code).toBe('session-expired');
    expect(a.applyRequest(3, 0, req('intruder', 1, { type: 'INC' }, 1)).refused?.code).toBe('session-expired');
    expect(a.actor.getSnapshot().context.count).toBe(0);
  });

  it('keeps seqs per session', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('x'));
    a.applyRequest(2, 0, opening('y'));
    a.applyRequest(3, 0, req('x', 5, { type: 'INC' }, 1));
    expect(a.applyRequest(4, 0, req('y', 5, { type: 'INC' }, 2)).duplicate).toBe(false);
    expect(a.applyRequest(5, 0, req('x', 9, { type: 'INC' }, 1)).duplicate).toBe(false); // gaps are fine
    expect(a.actor.getSnapshot().context.count).toBe(3);
  });

  it('bounds the table: the least recently active session is evicted, and its retry is refused, never applied twice', () => {
    const a = createAppExecutor(counter, { maxClients: 2 });
    a.applyRequest(1, 0, opening('x'));
    a.applyRequest(2, 0, opening('y'));
    a.applyRequest(3, 0, req('x', 1, { type: 'INC' }, 1));
    a.applyRequest(4, 0, req('y', 1, { type: 'INC' }, 2));
    a.applyRequest(5, 0, req('x', 2, { type: 'INC' }, 1));
    a.applyRequest(6, 0, opening('z'));
    expect(a.lastReply('y', 2)).toBeUndefined();
    expect(a.lastReply('x', 1)?.seq).toBe(2);
    expect(a.lastReply('z', 6)?.seq).toBe(0);
    const retry = a.applyRequest(7, 0, req('y', 1, { type: 'INC' }, 2));
    expect(retry.refused?.code).toBe('session-expired');
    expect(a.actor.getSnapshot().context.count).toBe(3);
  });

  it('expires idle sessions by replicated time (the lease), identically on every replica', () => {
    const run = () => {
      const a = createAppExecutor(counter, { clientIdleExpiry: 1000 });
      a.applyRequest(1, 0, opening('x'));
      a.applyRequest(2, 600, opening('y'));
      a.applyNoop(3, 1000);
      const both = [a.lastReply('x', 1) !== undefined, a.lastReply('y', 2) !== undefined];
      a.applyNoop(4, 1001);
      return { both, after: [a.lastReply('x', 1) !== undefined, a.lastReply('y', 2) !== undefined], digest: a.digest };
    };
    const r = run();
    expect(r.both).toEqual([true, true]);
    expect(r.after).toEqual([false, true]);
    expect(run().digest).toBe(r.digest);
  });

  it('resumes a session: tells the last applied seq and fences the next, so an old copy of it is never applied', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
    const resumed = a.applyRequest(3, 0, { client: 'c', session: 0, seq: 2, event: { type: SESSION_EVENT, resume: 1 } });
    expect(resumed.session).toEqual({ id: 1, seq: 1 });
    // the earlier run's request 2, still in flight, arrives after the resume
    expect(a.applyRequest(4, 0, req('c', 2, { type: 'ADD', amount: 100 })).refused?.code).toBe('request-mismatch');
    expect(a.applyRequest(5, 0, req('c', 3, { type: 'INC' })).snapshot.context).toEqual({ count: 2 });
    expect(a.applyRequest(6, 0, { client: 'c', session: 0, seq: 3, event: { type: SESSION_EVENT, resume: 42 } }).refused?.code).toBe('session-expired');
    expect(a.applyRequest(7, 0, { client: 'other', session: 0, seq: 3, event: { type: SESSION_EVENT, resume: 1 } }).refused?.code).toBe('session-expired');
  });
});

describe('bad input', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['a function', { type: 'X', f: () => 1 }, /event\.f: function f is not plain data/],
    ['a Date', { type: 'X', when: new Date(0) }, /event\.when: Date is not plain data/],
    ['a Map', { type: 'X', m: new Map() }, /event\.m: Map is not plain data/],
    ['a class instance', { type: 'X', v: new (class Point {})() }, /Point instance is not plain data/],
    ['a missing type', { amount: 1 }, /event\.type must be a string, got undefined/],
    ['a numeric type', { type: 3 }, /event\.type must be a string, got number/],
    ['an XState-internal type', { type: 'xstate.after.1000.(machine).locked' }, /reserved/],
    ['not an object', 'INC', /must be an object with a string "type", got string/],
    ['null', null, /got null/],
  ];

  for (const [what, event, message] of bad) {
    it(`refuses an event with ${what}`, () => {
      expect(checkEvent(event)).toMatch(message);
      const a = createAppExecutor(counter);
      a.applyRequest(1, 0, opening('c'));
      const digest = a.digest;
      let thrown: unknown;
      try {
        a.applyRequest(2, 10, req('c', 2, event as AppRequest['event']));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).toMatch(/refused event from client "c"/);
      expect(a.digest).toBe(digest);
      expect(a.appliedIndex).toBe(1);
      expect(a.applyRequest(2, 10, req('c', 2, { type: 'INC' })).snapshot.context).toEqual({ count: 1 });
    });
  }

  it('accepts plain events', () => {
    expect(checkEvent({ type: 'X', nested: { list: [1, 'two', null, true, { b: new Uint8Array([1]) }], big: 10n } })).toBeNull();
  });

  it('refuses a malformed request', () => {
    const a = createAppExecutor(counter);
    expect(() => a.applyRequest(1, 0, { client: 7, session: 1, seq: 1, event: { type: 'INC' } } as unknown as AppRequest)).toThrow(/client must be a string/);
    expect(() => a.applyRequest(1, 0, { client: 'c', session: 1, seq: -1, event: { type: 'INC' } })).toThrow(/seq must be a non-negative integer/);
    expect(() => a.applyRequest(1, 0, { client: 'c', session: -1, seq: 1, event: { type: 'INC' } })).toThrow(/session must be a non-negative integer/);
    expect(() => a.applyRequest(1, 0, { client: 'c', session: 0, seq: 1, event: { type: 'INC' } })).toThrow(/session 0 opens a session/);
    expect(a.appliedIndex).toBe(0);
  });
});

describe('app failures', () => {
  const fragile = setup({ types: { context: {} as { n: number; when?: unknown } } }).createMachine({
    context: { n: 0 },
    on: {
      INC: { actions: assign({ n: ({ context }) => context.n + 1 }) },
      BOOM: {
        actions: () => {
          throw new Error('boom');
        },
      },
      TYPO: {
        actions: ({ context }) => {
          (context as unknown as { missing: { deep: number } }).missing.deep = 1; // an engine-worded TypeError
        },
      },
      DATE: { actions: assign({ when: () => new Date(0) }) },
    },
  });

  it('an action that throws puts the app in status error, the same on every replica', () => {
    const results = [createAppExecutor(fragile), createAppExecutor(fragile)].map((a) => {
      a.applyRequest(1, 0, opening('c'));
      a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
      const boom = a.applyRequest(3, 0, req('c', 2, { type: 'BOOM' }));
      const after = a.applyRequest(4, 0, req('c', 3, { type: 'INC' }));
      a.applyNoop(5, 100);
      return { boom, after, digest: a.digest, status: a.actor.getSnapshot().status };
    });
    expect(results[0]).toEqual(results[1]);
    const r = results[0]!;
    expect(r.boom.snapshot).toEqual({ value: {}, context: { n: 1 }, status: 'error', error: 'Error: boom' });
    expect(r.after.snapshot.status).toBe('error');
    expect(r.after.snapshot.context).toEqual({ n: 1 });
    expect(r.status).toBe('error');
  });

  it('keeps only the name of errors worded by the engine', () => {
    const a = createAppExecutor(fragile);
    a.applyRequest(1, 0, opening('c'));
    const r = a.applyRequest(2, 0, req('c', 1, { type: 'TYPO' }));
    expect(r.snapshot.error).toBe('TypeError (message withheld: JS engines word it differently)');
    expect(errorText(new RangeError('x'))).toMatch(/^RangeError \(message withheld/);
    expect(errorText(new (class Custom extends Error {})('bad amount'))).toBe('Error: bad amount');
    expect(errorText('plain string')).toBe('plain string');
    expect(errorText(errorText(new Error('e')))).toBe('Error: e');
    expect(errorText(42)).toBe('thrown number: 42');
  });

  it('turns a state that is not plain data into a deterministic error state', () => {
    const runs = [createAppExecutor(fragile), createAppExecutor(fragile)].map((a) => {
      a.applyRequest(1, 0, opening('c'));
      a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
      const r = a.applyRequest(3, 0, req('c', 2, { type: 'DATE' }));
      expect(() => a.applyRequest(4, 0, req('c', 3, { type: 'INC' }))).not.toThrow();
      return { r, digest: a.digest };
    });
    expect(runs[0]).toEqual(runs[1]);
    const r = runs[0]!.r;
    expect(r.snapshot.status).toBe('error');
    expect(r.snapshot.error).toMatch(/application state cannot be replicated: app\.context\.when: Date is not plain data/);
    expect(r.snapshot.context).toBeNull();
    const b = createAppExecutor(fragile);
    const a = createAppExecutor(fragile);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'DATE' }));
    b.restore(a.snapshot());
    expect(b.digest).toBe(a.digest);
    expect(b.actor.getSnapshot().status).toBe('error');
  });

  it('refuses a delayed event that is not plain data, deterministically', () => {
    const m = setup({}).createMachine({
      on: { LATER: { actions: raise(() => ({ type: 'TICK', at: new Date(0) }), { delay: 10 }) } },
    });
    const a = createAppExecutor(m);
    a.applyRequest(1, 0, opening('c'));
    const r = a.applyRequest(2, 0, req('c', 1, { type: 'LATER' }));
    expect(r.snapshot.status).toBe('error');
    expect(r.snapshot.error).toMatch(/AppDataError: a delayed event is not plain data.*Date/);
    expect(a.nextTimerDue()).toBeUndefined();
  });

  it('refuses children spawned from inline logic (XState cannot restore them)', () => {
    const inline = setup({}).createMachine({ id: 'inline-child' });
    // inline logic in `invoke` gets a generated name XState can resolve on restore: fine
    const invoking = createMachine({ invoke: { src: inline, id: 'kid' } }); // setup() would insist on named logic
    const a = createAppExecutor(invoking);
    a.applyNoop(2, 0);
    expect(a.actor.getSnapshot().status).toBe('active');
    const b = createAppExecutor(invoking);
    b.restore(a.snapshot());
    expect(b.digest).toBe(a.digest);
    // spawned from inline logic: no name to restore it by
    const spawning = createMachine({ on: { SPAWN: { actions: spawnChild(inline, { id: 'sp' }) } } });
    const c = createAppExecutor(spawning);
    c.applyRequest(1, 0, opening('c'));
    const r = c.applyRequest(2, 0, req('c', 1, { type: 'SPAWN' }));
    expect(r.snapshot.status).toBe('error');
    expect(r.snapshot.error).toMatch(/child actor "sp" was created from inline logic.*setup\(\{ actors \}\)/);
  });
});

describe('the read-only actor', () => {
  it('notifies subscribers once per entry and keeps working across a restore', () => {
    const a = createAppExecutor(counter);
    a.applyRequest(1, 0, opening('c'));
    const seen: number[] = [];
    const sub = a.actor.subscribe((s) => seen.push(s.context.count));
    a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
    a.applyNoop(3, 0);
    const other = createAppExecutor(counter);
    other.applyRequest(1, 0, opening('c'));
    other.applyRequest(2, 0, req('c', 1, { type: 'ADD', amount: 40 }));
    a.restore(other.snapshot());
    expect(a.actor.getSnapshot().context.count).toBe(40);
    a.applyRequest(3, 0, req('c', 2, { type: 'INC' }));
    sub.unsubscribe();
    a.applyRequest(4, 0, req('c', 3, { type: 'INC' }));
    expect(seen).toEqual([1, 1, 40, 41]);
  });

  it('has the shape XState tooling (useSelector) expects', () => {
    const a = createAppExecutor(counter);
    const ref: Pick<AnyActorRef, 'getSnapshot' | 'subscribe'> = a.actor; // compile-time check
    const values: number[] = [];
    a.applyRequest(1, 0, opening('c'));
    const sub = ref.subscribe({ next: (s: { context: { count: number } }) => values.push(s.context.count) });
    a.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
    sub.unsubscribe();
    expect(values).toEqual([1]);
    expect(ref.getSnapshot().context).toEqual({ count: 1 });
  });

  it('stops', () => {
    const a = createAppExecutor(counter);
    a.stop();
    expect(() => a.applyNoop(2, 0)).toThrow(/stopped/);
    a.stop();
  });
});
