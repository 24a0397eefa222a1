// The crash fault model (Raft-style, actors/crash): replicas fail by stopping, a majority decides.

import { quorumSize } from '../../actors/crash/core.ts';
import { CrashVotes } from '../client/vote-crash.ts';
import { SHARED_TUNING_KEYS } from '../replica/tuning.ts';
import type { FaultModelDescriptor } from './types.ts';

export const crash: FaultModelDescriptor = {
  name: 'crash',
  groupSize: (f) => 2 * f + 1,
  sizeRule: '2f+1',
  // What a majority leaves over: floor((n-1)/2).
  maxFaulty: (n) => n - quorumSize(n),
  // One reply decides: the leader's, which answers only what a majority committed.
  replyQuorum: () => 1,
  readQuorum: () => 1,
  votePolicy: (core) => new CrashVotes(core),
  tuningKeys: [...SHARED_TUNING_KEYS, 'electionTicks', 'heartbeatTicks', 'idleHeartbeatTicks', 'snapshotEvery', 'keepEntries', 'removeSilentAfterMs'],
  round: 'term',
  orderer: 'leader',
  describeRound: (s) => `term ${s.term}`,
};
