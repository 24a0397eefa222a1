export { crashProtocolMachine, type RaftEvent } from './machine.ts';
export { RaftCore, quorumSize, type RaftInit, type MembershipChange } from './core.ts';
export { RaftLog } from './log.ts';
export { validateRaftMessage, termProblem, MAX_TERM, MAX_TERM_JUMP } from './validate.ts';
export * from './types.ts';
export { Recovery, decide as decideRecovery, answersNeeded, type RecoveryInit, type RecoveryDecision } from './recovery.ts';
