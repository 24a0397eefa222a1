import type { ClientCore, Quorums, VotePolicy } from '../client/policy.ts';
import type { FaultModel, ReplicaStatus, ReplicaTuning } from '../replica/types.ts';

/**
 * What a fault model is, for the code around the protocols: group size, the client's counts and
 * vote policy, the tuning its replicas read, how its status names the round. Looked up once by
 * name (faultModelOf). The replica runtime is looked up apart (runtime.ts): a bundle with only
 * a client must not carry the replica runtimes.
 */
export interface FaultModelDescriptor extends Quorums {
  readonly name: FaultModel;
  /** Members a group needs to tolerate f faults: 2f+1 (crash), 3f+1 (byzantine). */
  groupSize(f: number): number;
  /** groupSize as a formula, for messages: '2f+1', '3f+1'. */
  readonly sizeRule: string;
  /** The client's policy for sending an operation and deciding it from the replies. */
  votePolicy(core: ClientCore): VotePolicy;
  /** The ReplicaTuning options this model's replicas read (the others are accepted and unused). */
  readonly tuningKeys: readonly (keyof ReplicaTuning)[];
  /** What ReplicaStatus.term counts under this model, and what the replica that orders is called. */
  readonly round: 'term' | 'view';
  readonly orderer: 'leader' | 'primary';
  /** The status's round as text: "term 3", "view 2". */
  describeRound(status: Pick<ReplicaStatus, 'term' | 'view'>): string;
}
