// The Byzantine fault model (PBFT-style, actors/byzantine): up to f replicas may lie, so the
// client votes on the replies with the protocol's own quorum counts.

import { faultsTolerated, quorumSize, weakQuorum } from '../../actors/quorums.ts';
import { ByzantineVotes } from '../client/vote-byzantine.ts';
import { SHARED_TUNING_KEYS } from '../replica/tuning.ts';
import type { FaultModelDescriptor } from './types.ts';

export const byzantine: FaultModelDescriptor = {
  name: 'byzantine',
  groupSize: (f) => 3 * f + 1,
  sizeRule: '3f+1',
  maxFaulty: faultsTolerated,
  // f+1 matching replies include a correct replica's.
  replyQuorum: weakQuorum,
  // A quorum of the group (2f+1 when n = 3f+1): it meets every commit quorum in a correct replica.
  readQuorum: quorumSize,
  votePolicy: (core) => new ByzantineVotes(core, byzantine),
  tuningKeys: [...SHARED_TUNING_KEYS, 'checkpointEvery', 'windowSize', 'requestTimeoutMs', 'viewChangeTimeoutMs', 'statusMs'],
  // ReplicaStatus.term holds the view too (its `view` says the same), for readers of either model.
  round: 'view',
  orderer: 'primary',
  describeRound: (s) => `view ${s.view ?? s.term}`,
};
