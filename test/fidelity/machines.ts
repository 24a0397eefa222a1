/**
 * One machine per XState v5 feature, each with a scripted sequence of events and waits. Delays
 * are whole seconds and waits fall between them, so a local actor and a replicated group
 * (whose entry times trail by network latency) are compared away from timer boundaries.
 */
import { and, assign, cancel, createMachine, enqueueActions, not, or, raise, sendParent, sendTo, setup, spawnChild, stopChild, type AnyActorRef, type AnyStateMachine } from 'xstate';

export type Step = { send: { type: string; [k: string]: unknown } } | { wait: number } | { crashLeader: true };
export interface FeatureCase {
  feature: string;
  machine: AnyStateMachine;
  script: Step[];
}

const s = (type: string, extra: Record<string, unknown> = {}): Step => ({ send: { type, ...extra } });
const w = (ms: number): Step => ({ wait: ms });

const child = setup({ types: { context: {} as { n: number }, input: {} as { n?: number } } }).createMachine({
  id: 'child',
  context: ({ input }) => ({ n: input?.n ?? 0 }),
  initial: 'running',
  states: { running: { on: { BUMP: { actions: [assign({ n: ({ context }) => context.n + 1 }), sendParent({ type: 'BUMPED' })] }, FINISH: 'done' } }, done: { type: 'final' } },
  output: ({ context }) => ({ n: context.n }),
});

export const CASES: FeatureCase[] = [
  {
    feature: 'transitions, targets, actions',
    machine: createMachine({ id: 't', initial: 'a', context: { n: 0 }, states: { a: { on: { GO: { target: 'b', actions: assign({ n: ({ context }) => context.n + 1 }) } } }, b: { on: { BACK: 'a' } } } }),
    script: [s('GO'), s('BACK'), s('GO'), s('NOPE')],
  },
  {
    feature: 'guards and combinators (and, or, not)',
    machine: setup({
      guards: { big: ({ event }) => (event as { n?: number }).n! > 5, even: ({ event }) => (event as { n?: number }).n! % 2 === 0 },
    }).createMachine({
      id: 'g',
      context: { hits: [] as string[] },
      on: {
        N: [
          { guard: and(['big', 'even']), actions: assign({ hits: ({ context }) => [...context.hits, 'bigEven'] }) },
          { guard: or(['big', 'even']), actions: assign({ hits: ({ context }) => [...context.hits, 'bigOrEven'] }) },
          { guard: not('big'), actions: assign({ hits: ({ context }) => [...context.hits, 'small'] }) },
        ],
      },
    }),
    script: [s('N', { n: 8 }), s('N', { n: 7 }), s('N', { n: 2 }), s('N', { n: 3 })],
  },
  {
    feature: 'after (number, named, guarded delays)',
    machine: setup({ delays: { slow: 2000 }, guards: { fast: ({ context }) => context.fast } }).createMachine({
      id: 'after',
      context: { fast: false },
      initial: 'green',
      states: {
        green: { after: { 1000: [{ guard: 'fast', target: 'red' }, { target: 'yellow' }] }, on: { FAST: { actions: assign({ fast: true }) } } },
        yellow: { after: { slow: 'red' } },
        red: { on: { RESET: 'green' } },
      },
    }),
    script: [w(1500), w(2000), s('RESET'), s('FAST'), w(1500)],
  },
  {
    feature: 'always (eventless)',
    machine: createMachine({ id: 'al', context: { n: 0 }, initial: 'counting', states: { counting: { always: { guard: ({ context }) => context.n >= 3, target: 'full' }, on: { ADD: { actions: assign({ n: ({ context }) => context.n + 1 }) } } }, full: {} } }),
    script: [s('ADD'), s('ADD'), s('ADD'), s('ADD')],
  },
  {
    feature: 'parallel regions',
    machine: createMachine({ id: 'p', type: 'parallel', states: { bold: { initial: 'off', states: { off: { on: { BOLD: 'on' } }, on: { on: { BOLD: 'off' } } } }, italic: { initial: 'off', states: { off: { on: { ITALIC: 'on' } }, on: { on: { ITALIC: 'off' } } } } } }),
    script: [s('BOLD'), s('ITALIC'), s('BOLD')],
  },
  {
    feature: 'shallow and deep history',
    machine: createMachine({
      id: 'h',
      initial: 'player',
      states: {
        player: {
          initial: 'stopped',
          states: { stopped: { on: { PLAY: 'playing' } }, playing: { initial: 'normal', states: { normal: { on: { FAST: 'fast' } }, fast: {} } }, hist: { type: 'history', history: 'shallow' }, deep: { type: 'history', history: 'deep' } },
          on: { OFF: 'off' },
        },
        off: { on: { ON: 'player.hist', ONDEEP: 'player.deep' } },
      },
    }),
    script: [s('PLAY'), s('FAST'), s('OFF'), s('ON'), s('OFF'), s('ONDEEP')],
  },
  {
    feature: 'final states with output',
    machine: createMachine({ id: 'fin', initial: 'a', context: { n: 1 }, states: { a: { on: { END: 'z' } }, z: { type: 'final' } }, output: ({ context }) => ({ total: context.n * 10 }) }),
    script: [s('END'), s('AFTER')],
  },
  {
    feature: 'raise, delayed raise and cancel',
    machine: createMachine({
      id: 'r',
      context: { log: [] as string[] },
      on: {
        START: { actions: [raise({ type: 'NOW' }), raise({ type: 'LATER' }, { delay: 1000, id: 'later' }), raise({ type: 'LATER2' }, { delay: 1000, id: 'later2' })] },
        STOP: { actions: cancel('later2') },
        NOW: { actions: assign({ log: ({ context }) => [...context.log, 'now'] }) },
        LATER: { actions: assign({ log: ({ context }) => [...context.log, 'later'] }) },
        LATER2: { actions: assign({ log: ({ context }) => [...context.log, 'later2'] }) },
      },
    }),
    script: [s('START'), s('STOP'), w(1500), s('START'), w(1500)],
  },
  {
    feature: 'sendTo and sendParent; invoke with input/onDone',
    machine: setup({ actors: { child } }).createMachine({
      id: 'inv',
      context: { bumped: 0, out: null as unknown },
      initial: 'working',
      states: {
        working: {
          invoke: { id: 'kid', src: 'child', input: { n: 5 }, onDone: { target: 'done', actions: assign({ out: ({ event }) => event.output }) } },
          on: { POKE: { actions: sendTo('kid', { type: 'BUMP' }) }, END: { actions: sendTo('kid', { type: 'FINISH' }) }, BUMPED: { actions: assign({ bumped: ({ context }) => context.bumped + 1 }) } },
        },
        done: {},
      },
    }),
    script: [s('POKE'), s('POKE'), s('END')],
  },
  {
    feature: 'enqueueActions',
    machine: createMachine({
      id: 'enq',
      context: { n: 0, log: [] as string[] },
      on: {
        GO: {
          actions: enqueueActions(({ context, enqueue, check }) => {
            enqueue.assign({ n: context.n + 1 });
            if (check(({ context }) => context.n % 2 === 0)) enqueue.assign({ log: [...context.log, 'even'] });
            enqueue.raise({ type: 'PING' });
          }),
        },
        PING: { actions: assign({ log: ({ context }) => [...context.log, 'ping'] }) },
      },
    }),
    script: [s('GO'), s('GO'), s('GO')],
  },
  {
    feature: 'spawnChild and spawn, with and without ids; stopChild',
    machine: setup({ actors: { child } }).createMachine({
      id: 'sp',
      context: { refs: [] as AnyActorRef[], bumped: 0 },
      on: {
        NAMED: { actions: spawnChild('child', { id: 'named', input: { n: 1 } }) },
        ANON: { actions: spawnChild('child', { input: {} }) },
        REF: { actions: assign({ refs: ({ context, spawn }) => [...context.refs, spawn('child', { input: { n: 2 } })] }) },
        POKE: { actions: sendTo('named', { type: 'BUMP' }) },
        BUMPED: { actions: assign({ bumped: ({ context }) => context.bumped + 1 }) },
        STOP: { actions: stopChild('named') },
      },
    }),
    script: [s('NAMED'), s('ANON'), s('REF'), s('POKE'), { crashLeader: true }, s('REF'), s('STOP'), s('ANON')],
  },
  {
    feature: 'systemId',
    machine: setup({ actors: { child } }).createMachine({
      id: 'sys',
      context: { bumped: 0 },
      invoke: { src: 'child', systemId: 'worker', input: {} },
      on: { POKE: { actions: sendTo(({ system }) => system.get('worker'), { type: 'BUMP' }) }, BUMPED: { actions: assign({ bumped: ({ context }) => context.bumped + 1 }) } },
    }),
    script: [s('POKE'), s('POKE')],
  },
  {
    feature: 'tags',
    machine: createMachine({ id: 'tags', initial: 'idle', states: { idle: { tags: ['quiet'], on: { LOAD: 'busy' } }, busy: { tags: ['loading'], after: { 1000: 'idle' } } } }),
    script: [s('LOAD'), w(1500), s('LOAD')],
  },
  {
    feature: 'timers across a leader crash and restore',
    // Replicated time is the leader's clock, and stands still while there is no leader: long
    // delays keep the comparisons far from timer boundaries across the outage.
    machine: createMachine({ id: 'light', initial: 'green', context: { cycles: 0 }, states: { green: { after: { 5000: 'yellow' } }, yellow: { after: { 5000: 'red' } }, red: { after: { 5000: { target: 'green', actions: assign({ cycles: ({ context }) => context.cycles + 1 }) } } } } }),
    script: [w(2500), { crashLeader: true }, w(1500), s('TICK'), w(3000), w(5000), w(5000)],
  },
];
