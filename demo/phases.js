// What each protocol phase means, in plain words for someone who never heard of PBFT or Raft:
// [caption, one-sentence explanation]. Shared by the demo page and the inspector.
export const PHASES = {
  normal: ['agreeing on the order of moves', 'The primary proposes, the others check and vote; 3 of 4 must agree.'],
  viewChange: ['replacing a primary suspected of being faulty', 'The primary was silent or wrong: the replicas vote to hand its job to the next one.'],
  stateTransfer: ['catching up by copying a checkpoint', 'It fell behind, so it copies a game state the others signed instead of replaying every move.'],
  joining: ['joining the group', 'It is new: it waits to be let in and copies the current state first.'],
  excluded: ['out of the group', 'The others caught it misbehaving and go on without it.'],
  recovering: ['recovering lost data', 'It restarted without its stored data: it asks the others what was agreed and copies it before it votes again.'],
  follower: ['following the leader', 'It stores the moves the leader sends and plays them once most replicas have them.'],
  preCandidate: ['checking whether to hold an election', 'No news from a leader: it asks first whether an election could succeed.'],
  candidate: ['running for leader', 'It asks the others to vote for it as the new leader.'],
  leader: ['leading: ordering the moves', 'It orders the moves and sends them to all; a move is final once most have stored it.'],
  stopped: ['stopped', 'The replica is not running.'],
  crashed: ['crashed', 'The replica stopped (fail-stop).'],
};
