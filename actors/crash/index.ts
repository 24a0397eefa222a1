export { crashProtocolMachine, type RaftEvent } from './machine.ts';
export { RaftCore, quorumSize, type RaftInit, type MembershipChange } from './core.ts';
export { RaftLog } from './log.ts';
export { validateRaftMessage } from './validate.ts';
export * from './types.ts';
