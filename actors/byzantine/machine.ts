import { setup } from 'xstate';
import { BftCore, type BftInit, type Phase } from './core.ts';
import type { Batch, BatchItem, BftMessage, Config, VerifiedProof } from './types.ts';

export type BftEvent =
  | { type: 'tick'; now: number }
  | { type: 'message'; from: string; message: BftMessage; proof: VerifiedProof | undefined }
  | { type: 'batch'; digest: string; batch: Batch }
  | { type: 'signed'; proof: VerifiedProof }
  | { type: 'request'; item: BatchItem }
  | { type: 'flush'; now: number }
  | { type: 'timersDue' }
  | { type: 'read'; ids: string[] }
  | { type: 'boundaryExecuted'; seq: number; appDigest: string }
  | { type: 'executed'; seq: number; appDigest: string }
  | { type: 'stateInstalled'; seq: number; digest: string; group: Config; before: Config };

const phases: Phase[] = ['normal', 'viewChange', 'stateTransfer', 'joining', 'excluded'];

/** In every phase: follow the core into the phase it moved to. */
const followPhase = phases.map((phase) => ({ guard: { type: 'phaseIs' as const, params: { phase } }, target: `#pbft.${phase}` }));

/**
 * The Byzantine-fault protocol as a statechart: its states are PBFT's phases (normal case,
 * view change, state transfer, plus joining and excluded for reconfiguration). Every event
 * is stepped through the pure core and the chart follows the core's phase, so inspection
 * shows the live phase with the protocol state as context. No I/O and no timers here.
 */
export const byzantineProtocolMachine = setup({
  types: {
    context: {} as { core: BftCore },
    events: {} as BftEvent,
    input: {} as BftInit,
  },
  guards: {
    phaseIs: ({ context }, params: { phase: Phase }) => context.core.phase === params.phase,
  },
  actions: {
    step: ({ context, event }) => {
      const core = context.core;
      switch (event.type) {
        case 'tick':
          return core.tick(event.now);
        case 'message':
          return core.receive(event.from, event.message, event.proof);
        case 'batch':
          return core.batchArrived(event.digest, event.batch);
        case 'signed':
          return core.signed(event.proof);
        case 'request':
          return core.request(event.item);
        case 'flush':
          return core.flush(event.now);
        case 'timersDue':
          return core.timersDue();
        case 'read':
          return core.read(event.ids);
        case 'boundaryExecuted':
          return core.boundaryExecuted(event.seq, event.appDigest);
        case 'executed':
          return core.batchExecuted(event.seq, event.appDigest);
        case 'stateInstalled':
          return core.stateInstalled(event.seq, event.digest, event.group, event.before);
      }
    },
  },
}).createMachine({
  id: 'pbft',
  context: ({ input }) => ({ core: new BftCore(input) }),
  initial: 'normal',
  on: { '*': { actions: 'step' } },
  states: Object.fromEntries(phases.map((p) => [p, { always: followPhase.filter((t) => t.target !== `#pbft.${p}`) }])) as Record<Phase, object>,
});
