import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, cancel, raise, sendParent, sendTo, setup } from 'xstate';
import { createAppExecutor, SESSION_EVENT } from '../../src/app/index.ts';
import type { AppExecutor, AppRequest, ApplyResult } from '../../src/app/index.ts';
import { decode, encode } from '../../src/codec/index.ts';

type Meta = { index: number; time: number; random: number };

const ticker = setup({}).createMachine({
  initial: 'idle',
  states: {
    idle: { on: { START: 'running' } },
    running: { after: { 7000: { target: 'idle', actions: sendParent({ type: 'TICKED' }) } } },
  },
});

type RichEvent =
  | { type: 'INC' }
  | { type: 'ADD'; amount: number }
  | { type: 'LOCK' }
  | { type: 'UNLOCK' }
  | { type: 'PING' }
  | { type: 'PONG' }
  | { type: 'CANCEL' }
  | { type: 'ROLL'; $meta: Meta }
  | { type: 'TICK' }
  | { type: 'TICKED' }
  | { type: 'LATER' };

/** Counter, auto-releasing lock, cancellable delayed raise, $meta, a child with its own timers, delayed sendTo. */
const rich = setup({
  actors: { ticker },
  types: { context: {} as { count: number; rolls: number[]; pings: number; ticks: number }, events: {} as RichEvent },
}).createMachine({
  context: { count: 0, rolls: [], pings: 0, ticks: 0 },
  type: 'parallel',
  invoke: { src: 'ticker', id: 'ticker' },
  on: {
    ROLL: { actions: assign({ rolls: ({ context, event }) => [...context.rolls, event.$meta.random % 100, event.$meta.time % 1000].slice(-6) }) },
    TICK: { actions: sendTo('ticker', { type: 'START' }) },
    LATER: { actions: sendTo('ticker', { type: 'START' }, { delay: 500 }) }, // no id: the executor names it
    TICKED: { actions: assign({ ticks: ({ context }) => context.ticks + 1 }) },
  },
  states: {
    counter: {
      on: {
        INC: { actions: assign({ count: ({ context }) => context.count + 1 }) },
        ADD: { actions: assign({ count: ({ context, event }) => context.count + event.amount }) },
      },
    },
    lock: {
      initial: 'unlocked',
      states: {
        unlocked: { on: { LOCK: 'locked' } },
        locked: { after: { 30_000: 'unlocked' }, on: { UNLOCK: 'unlocked' } },
      },
    },
    pinger: {
      initial: 'idle',
      states: {
        idle: { on: { PING: 'waiting' } },
        waiting: {
          entry: raise({ type: 'PONG' }, { id: 'pong', delay: ({ context }) => 1000 + (context.count % 5) * 1000 }),
          on: {
            PONG: { target: 'idle', actions: assign({ pings: ({ context }) => context.pings + 1 }) },
            CANCEL: { target: 'idle', actions: cancel('pong') },
          },
        },
      },
    },
  },
});

/** A request of `session` (default 1: a session opened at index 1). */
function req(client: string, seq: number, event: AppRequest['event'], session = 1): AppRequest {
  return { client, session, seq, event };
}

/** The request that opens a session for `client` (its id is the index it is applied at). */
function opening(client: string): AppRequest {
  return { client, session: 0, seq: 1, event: { type: SESSION_EVENT } };
}

describe('snapshot and restore', () => {
  it('carries pending `after` transitions: they fire at the same replicated time after a restore', () => {
    const m = setup({}).createMachine({ initial: 'a', states: { a: { after: { 5000: 'x' } }, x: {} } });
    const a = createAppExecutor(m);
    a.applyNoop(2, 0);
    const b = createAppExecutor(m);
    b.restore(a.snapshot());
    expect(b.digest).toBe(a.digest);
    expect(b.nextTimerDue()).toBe(5000);
    a.applyNoop(3, 4999);
    b.applyNoop(3, 4999);
    expect(b.actor.getSnapshot().value).toBe('a');
    a.applyNoop(4, 5000);
    b.applyNoop(4, 5000);
    expect(a.actor.getSnapshot().value).toBe('x');
    expect(b.actor.getSnapshot().value).toBe('x');
    expect(b.digest).toBe(a.digest);
  });

  it('does not fire delayed events cancelled before the snapshot', () => {
    const a = createAppExecutor(rich);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'LOCK' }));
    a.applyRequest(3, 10, req('c', 2, { type: 'UNLOCK' })); // leaves `locked`: its after is cancelled
    a.applyRequest(4, 20, req('c', 3, { type: 'PING' }));
    a.applyRequest(5, 30, req('c', 4, { type: 'CANCEL' })); // explicit cancel of the delayed raise
    a.applyRequest(6, 40, req('c', 5, { type: 'LOCK' }));
    a.applyRequest(7, 50, req('c', 6, { type: 'UNLOCK' }));
    expect(a.nextTimerDue()).toBeUndefined();
    const b = createAppExecutor(rich);
    b.restore(a.snapshot());
    a.applyNoop(8, 100_000);
    b.applyNoop(8, 100_000);
    expect(b.actor.getSnapshot().context.pings).toBe(0);
    expect(b.actor.getSnapshot().value).toEqual({ counter: {}, lock: 'unlocked', pinger: 'idle' });
    expect(b.digest).toBe(a.digest);
  });

  it('carries the client table: duplicates after a restore get the cached result', () => {
    const a = createAppExecutor(rich);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, opening('d'));
    const first = a.applyRequest(3, 0, req('c', 1, { type: 'INC' }));
    a.applyRequest(4, 0, req('d', 1, { type: 'ADD', amount: 5 }, 2));
    const b = createAppExecutor(rich);
    b.restore(a.snapshot());
    expect(b.lastReply('c', 1)).toEqual({ seq: 1, result: first });
    expect(b.lastReply('d', 2)?.seq).toBe(1);
    const dup = b.applyRequest(5, 0, req('c', 1, { type: 'INC' }));
    expect(dup).toEqual({ ...first, duplicate: true });
    expect(b.actor.getSnapshot().context.count).toBe(6);
    expect(a.applyRequest(5, 0, req('c', 1, { type: 'INC' }))).toEqual(dup);
    // the request digest is carried too: another request under that seq is refused on both
    expect(b.applyRequest(6, 0, req('c', 1, { type: 'ADD', amount: 9 })).refused?.code).toBe('request-mismatch');
    expect(a.applyRequest(6, 0, req('c', 1, { type: 'ADD', amount: 9 })).refused?.code).toBe('request-mismatch');
    expect(b.digest).toBe(a.digest);
  });

  it('gives identical snapshot bytes after a restore', () => {
    const a = createAppExecutor(rich);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'PING' }));
    a.applyRequest(3, 0, req('c', 2, { type: 'TICK' }));
    a.applyRequest(4, 0, req('c', 3, { type: 'LATER' }));
    a.applyRequest(5, 0, req('c', 4, { type: 'LOCK' }));
    const bytes = a.snapshot();
    const b = createAppExecutor(rich);
    b.restore(bytes);
    expect(b.snapshot()).toEqual(bytes);
    expect(b.appliedIndex).toBe(5);
    expect(b.nextTimerDue()).toBe(a.nextTimerDue());
  });

  it('restores a snapshot of the initial state and of an errored app', () => {
    const a = createAppExecutor(rich);
    const b = createAppExecutor(rich);
    b.applyRequest(1, 0, opening('c'));
    b.applyRequest(2, 0, req('c', 1, { type: 'INC' }));
    b.restore(a.snapshot());
    expect(b.digest).toBe(a.digest);
    expect(b.appliedIndex).toBe(0);
    // initial timers still count from the first entry
    for (const x of [a, b]) x.applyRequest(1, 1000, opening('c'));
    b.applyRequest(2, 1000, req('c', 1, { type: 'LOCK' }));
    a.applyRequest(2, 1000, req('c', 1, { type: 'LOCK' }));
    expect(b.digest).toBe(a.digest);

    const failing = setup({}).createMachine({
      on: {
        BOOM: {
          actions: () => {
            throw new Error('boom');
          },
        },
      },
    });
    const c = createAppExecutor(failing);
    c.applyRequest(1, 0, opening('c'));
    c.applyRequest(2, 0, req('c', 1, { type: 'BOOM' }));
    const d = createAppExecutor(failing);
    d.restore(c.snapshot());
    expect(d.digest).toBe(c.digest);
    expect(d.actor.getSnapshot().status).toBe('error');
    expect(d.applyRequest(3, 0, req('c', 2, { type: 'BOOM' })).snapshot.error).toBe('Error: boom');
  });

  it('restores history states, finished children and a finished app exactly', () => {
    const job = setup({}).createMachine({ initial: 'work', states: { work: { after: { 100: 'end' } }, end: { type: 'final' } } });
    const m = setup({ actors: { job }, types: { context: {} as { jobs: number } } }).createMachine({
      context: { jobs: 0 },
      initial: 'menu',
      states: {
        menu: {
          initial: 'a',
          states: { a: { on: { NEXT: 'b' } }, b: { on: { NEXT: 'c' } }, c: {}, hist: { type: 'history', history: 'deep' } },
          on: { AWAY: 'away', FINISH: 'finished' },
        },
        away: {
          invoke: { src: 'job', id: 'job', onDone: { actions: assign({ jobs: ({ context }) => context.jobs + 1 }) } },
          on: { BACK: 'menu.hist' },
        },
        finished: { type: 'final' },
      },
    });
    const entries: Array<[number, string | null]> = [
      [0, 'NEXT'],
      [10, 'AWAY'],
      [50, null],
      [200, null],
      [210, 'BACK'],
      [220, 'AWAY'],
      [230, 'FINISH'],
      [240, 'BACK'],
    ];
    const a = createAppExecutor(m);
    a.applyRequest(1, 0, opening('c'));
    let seq = 0;
    entries.forEach(([time, type], i) => {
      if (type === null) a.applyNoop(i + 2, time);
      else a.applyRequest(i + 2, time, req('c', ++seq, { type }));
      const b = createAppExecutor(m);
      b.restore(a.snapshot());
      expect(b.digest).toBe(a.digest);
      expect(b.actor.getSnapshot().value).toEqual(a.actor.getSnapshot().value);
      expect(b.nextTimerDue()).toBe(a.nextTimerDue());
    });
    expect(a.actor.getSnapshot().status).toBe('active');
    const back = createAppExecutor(m);
    back.restore(a.snapshot());
    for (const ex of [a, back]) {
      ex.applyRequest(10, 300, req('c', 9, { type: 'NEXT' }));
      ex.applyRequest(11, 310, req('c', 10, { type: 'AWAY' }));
      ex.applyRequest(12, 320, req('c', 11, { type: 'BACK' })); // deep history: back to menu.c
    }
    expect(back.actor.getSnapshot().value).toEqual({ menu: 'c' });
    expect(back.digest).toBe(a.digest);
    const done = a.applyRequest(13, 330, req('c', 12, { type: 'FINISH' }));
    expect(done.snapshot.status).toBe('done');
    const c = createAppExecutor(m);
    c.restore(a.snapshot());
    expect(c.digest).toBe(a.digest);
    expect(c.actor.getSnapshot().status).toBe('done');
    expect(c.applyRequest(14, 340, req('c', 13, { type: 'NEXT' })).snapshot.status).toBe('done');
  });

  it('restores an app whose child failed', () => {
    const flaky = setup({}).createMachine({
      on: {
        FAIL: {
          actions: () => {
            throw new Error('child failed');
          },
        },
      },
    });
    const m = setup({ actors: { flaky }, types: { context: {} as { failures: number } } }).createMachine({
      context: { failures: 0 },
      initial: 'running',
      states: {
        running: {
          invoke: { src: 'flaky', id: 'flaky', onError: { target: 'recovering', actions: assign({ failures: ({ context }) => context.failures + 1 }) } },
          on: { BREAK: { actions: sendTo('flaky', { type: 'FAIL' }) } },
        },
        recovering: { after: { 1000: 'running' } },
      },
    });
    const a = createAppExecutor(m);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'BREAK' }));
    expect(a.actor.getSnapshot().value).toBe('recovering');
    const b = createAppExecutor(m);
    b.restore(a.snapshot());
    expect(b.digest).toBe(a.digest);
    for (const ex of [a, b]) {
      ex.applyNoop(3, 1000);
      ex.applyRequest(4, 1100, req('c', 2, { type: 'BREAK' }));
    }
    expect(b.actor.getSnapshot().context.failures).toBe(2);
    expect(b.digest).toBe(a.digest);
  });

  it('refuses bad bytes with a clear error and keeps its state', () => {
    const a = createAppExecutor(rich);
    a.applyRequest(1, 0, opening('c'));
    a.applyRequest(2, 0, req('c', 1, { type: 'LOCK' }));
    const good = a.snapshot();
    const b = createAppExecutor(rich);
    b.applyRequest(1, 0, opening('z'));
    b.applyRequest(2, 0, req('z', 1, { type: 'ADD', amount: 3 }));
    const digest = b.digest;
    const tamper = (f: (s: Record<string, unknown>) => void): Uint8Array => {
      const d = decode(good, { maxDepth: 300 });
      if (!d.ok) throw d.error;
      const s = d.value as Record<string, unknown>;
      f(s);
      return encode(s, { maxDepth: 300 });
    };
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array([1, 2, 3]), /restore: bad snapshot: bytes: not a canonical encoding/],
      [good.subarray(0, good.length - 1), /bad snapshot: bytes/],
      [encode({ hello: 'world' }), /bad snapshot: format: expected "statechorus\/app-state"/],
      [tamper((s) => void (s.version = 99)), /reads version 3, got 99/],
      [tamper((s) => void ((s.app as { context: { count: number } }).context.count = 42)), /restored state has digest [0-9a-f]{64}, the snapshot says/],
      [tamper((s) => void (s.timers = 'none')), /bad snapshot: timers: must be an array/],
      [tamper((s) => void ((s.timers as Array<{ source: string[] }>)[0]!.source = ['ghost'])), /involves actor "ghost", which the restored app does not have/],
      [tamper((s) => void ((s.clients as Array<{ seq: number }>)[0]!.seq = 7)), /digest/],
      [tamper((s) => void (s.digest = 'f'.repeat(64))), /the snapshot says f{64}/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => b.restore(bytes)).toThrow(message);
      expect(b.digest).toBe(digest);
      expect(b.actor.getSnapshot().context.count).toBe(3);
    }
    const other = createAppExecutor(setup({}).createMachine({ initial: 'q', states: { q: {} } }));
    expect(() => other.restore(good)).toThrow(/restore/);
    b.restore(good);
    expect(b.digest).toBe(a.digest);
  });
});

// ------------------------------------------------------------------ property

type Op =
  | { kind: 'req'; client: 'a' | 'b' | 'c'; dup: 'new' | 'same' | 'older'; event: AppRequest['event']; dt: number }
  | { kind: 'noop'; dt: number };

const dtArb = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3000 }) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 40_000 }) }, { weight: 1, arbitrary: fc.integer({ min: -500, max: 0 }) });
const eventArb: fc.Arbitrary<AppRequest['event']> = fc.oneof(
  fc.constantFrom<AppRequest['event']>(
    { type: 'INC' },
    { type: 'LOCK' },
    { type: 'UNLOCK' },
    { type: 'PING' },
    { type: 'CANCEL' },
    { type: 'ROLL' },
    { type: 'TICK' },
    { type: 'LATER' },
    { type: 'UNKNOWN' },
  ),
  fc.integer({ min: -5, max: 5 }).map((amount) => ({ type: 'ADD', amount })),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('req' as const), client: fc.constantFrom('a' as const, 'b' as const, 'c' as const), dup: fc.constantFrom('new' as const, 'new' as const, 'new' as const, 'same' as const, 'older' as const), event: eventArb, dt: dtArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('noop' as const), dt: dtArb }) },
);

/** Turns ops into entries once, so every executor gets the very same ones. */
function entriesOf(ops: Op[]): Array<{ index: number; time: number; request?: AppRequest }> {
  const seqs = { a: 0, b: 0, c: 0 };
  const sessions = { a: 1, b: 2, c: 3 };
  let time = 1_000_000;
  // with maxClients 2, one session is evicted at once and others later: their requests are refused
  const openings = (['a', 'b', 'c'] as const).map((c, i) => ({ index: i + 1, time, request: opening(c) }));
  return [
    ...openings,
    ...ops.map((op, i) => {
      time += op.dt;
      if (op.kind === 'noop') return { index: i + 4, time };
      if (op.dup === 'new' || seqs[op.client] === 0) seqs[op.client] += 1;
      const seq = op.dup === 'older' ? Math.max(0, seqs[op.client] - 1) : seqs[op.client];
      return { index: i + 4, time, request: req(op.client, seq, op.event, sessions[op.client]) };
    }),
  ];
}

function apply(ex: AppExecutor, e: { index: number; time: number; request?: AppRequest }): ApplyResult | undefined {
  if (e.request) return ex.applyRequest(e.index, e.time, e.request);
  ex.applyNoop(e.index, e.time);
  return undefined;
}

describe('snapshot/restore property', () => {
  it('restoring mid-stream into a fresh executor continues exactly like one that never restored', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.nat(), (ops, at) => {
        const entries = entriesOf(ops);
        const k = at % (entries.length + 1);
        const straight = createAppExecutor(rich, { maxClients: 2, clientIdleExpiry: 60_000 });
        const before = createAppExecutor(rich, { maxClients: 2, clientIdleExpiry: 60_000 });
        const expected = entries.map((e) => ({ result: apply(straight, e), digest: straight.digest, due: straight.nextTimerDue() }));
        for (const e of entries.slice(0, k)) apply(before, e);
        expect(before.digest).toBe(k === 0 ? createAppExecutor(rich).digest : expected[k - 1]!.digest);
        const restored = createAppExecutor(rich, { maxClients: 2, clientIdleExpiry: 60_000 });
        restored.restore(before.snapshot());
        expect(restored.digest).toBe(before.digest);
        expect(restored.nextTimerDue()).toBe(before.nextTimerDue());
        for (let i = k; i < entries.length; i++) {
          const result = apply(restored, entries[i]!);
          expect(result).toEqual(expected[i]!.result);
          expect(restored.digest).toBe(expected[i]!.digest);
          expect(restored.nextTimerDue()).toBe(expected[i]!.due);
        }
        expect(restored.actor.getSnapshot().context).toEqual(straight.actor.getSnapshot().context);
        straight.stop();
        before.stop();
        restored.stop();
      }),
      { numRuns: 150 },
    );
  });
});
