import { setup } from 'xstate';
import { RaftCore, type MembershipChange, type RaftInit } from './core.ts';
import type { RaftMessage, Role, SnapshotMeta } from './types.ts';

export type RaftEvent =
  | { type: 'tick'; now: number }
  | { type: 'message'; from: string; message: RaftMessage }
  | { type: 'propose'; requests: Array<{ id: string; data: unknown }>; now: number }
  | { type: 'read'; ids: string[] }
  | { type: 'advanceTime'; now: number }
  | { type: 'snapshotTaken'; meta: SnapshotMeta & { time: number }; keepEntries: number }
  | { type: 'snapshotProgress'; from: string }
  | { type: 'transferLeadership'; to: string }
  | { type: 'changeMembership'; change: MembershipChange; now: number }
  | { type: 'persisted'; index: number };

/** The chart's phases: Raft's roles, and `recovering` while a replica that lost its state recovers (recovery.ts). */
type Phase = Role | 'recovering';
const phases: Phase[] = ['recovering', 'follower', 'preCandidate', 'candidate', 'leader'];

const phaseOf = (core: RaftCore): Phase => (core.recovery ? 'recovering' : core.role);

/** In every phase: follow the core into the phase it moved to. */
const followPhase = (from: Phase) => phases.filter((p) => p !== from).map((phase) => ({ guard: { type: 'phaseIs' as const, params: { phase } }, target: `#raft.${phase}` }));

/**
 * The crash-fault protocol as a statechart: its states are Raft's phases (follower,
 * pre-candidate, candidate, leader) and `recovering` (a replica that started without its state
 * and does not vote until it has recovered from a quorum). Every event is stepped through the pure core, and the
 * chart moves to whichever phase the core is in, so inspection shows the live phase and
 * the core's state as context. No I/O and no timers here: the runtime sends `tick`s from its
 * clock and carries out the core's effects.
 */
export const crashProtocolMachine = setup({
  types: {
    context: {} as { core: RaftCore; lastError: string | null },
    events: {} as RaftEvent,
    input: {} as RaftInit,
  },
  guards: {
    phaseIs: ({ context }, params: { phase: Phase }) => phaseOf(context.core) === params.phase,
  },
  actions: {
    step: ({ context, event }) => {
      const core = context.core;
      context.lastError = null;
      switch (event.type) {
        case 'tick':
          core.tick(event.now);
          break;
        case 'message':
          core.receive(event.from, event.message);
          break;
        case 'propose':
          core.propose(event.requests, event.now);
          break;
        case 'read':
          core.read(event.ids);
          break;
        case 'advanceTime':
          core.advanceTime(event.now);
          break;
        case 'snapshotTaken':
          core.snapshotTaken(event.meta, event.keepEntries);
          break;
        case 'snapshotProgress':
          core.snapshotProgress(event.from);
          break;
        case 'transferLeadership':
          context.lastError = core.transferLeadership(event.to);
          break;
        case 'changeMembership':
          context.lastError = core.changeMembership(event.change, event.now);
          break;
        case 'persisted':
          core.persisted(event.index);
          break;
      }
    },
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => ({ core: new RaftCore(input), lastError: null }),
  initial: 'follower',
  on: { '*': { actions: 'step' } },
  states: {
    recovering: { always: followPhase('recovering') },
    follower: { always: followPhase('follower') },
    preCandidate: { always: followPhase('preCandidate') },
    candidate: { always: followPhase('candidate') },
    leader: { always: followPhase('leader') },
  },
});
