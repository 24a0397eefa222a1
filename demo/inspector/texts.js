// Plain-language texts: what each behaviour means, what each message kind is for, the intro.

export const BEHAVIOURS = {
  correct: 'follows the protocol',
  silent: 'Byzantine: says nothing at all',
  equivocate: 'Byzantine: as primary, tells different replicas different things',
  forge: "Byzantine: sends messages in another replica's name",
  'corrupt-signatures': 'Byzantine: signs its messages wrongly',
  'wrong-result': 'Byzantine: plays the moves wrongly, so its game and its answers differ',
  replay: 'Byzantine: resends old messages',
  slow: 'Byzantine: as primary, stalls just under the timeouts',
  twin: 'Byzantine: a second copy runs with the same keys',
};

/** Message kinds: colour, short meaning, and whether it is background chatter (drawn faint). */
export const MESSAGE_KINDS = {
  prePrepare: ['#2563eb', 'proposal'],
  prepare: ['#16a34a', 'accept'],
  commit: ['#9333ea', 'ready to apply'],
  checkpoint: ['#0d9488', 'state fingerprint'],
  stableCert: ['#0891b2', 'checkpoint proof'],
  status: ['#9ca3af', 'heartbeat', true],
  entries: ['#a16207', 'resend votes'],
  relay: ['#65a30d', 'forwarded proposal'],
  viewChange: ['#dc2626', 'replace primary'],
  newView: ['#ea580c', 'new primary'],
  accuse: ['#db2777', 'evidence of lying'],
  reconfigure: ['#4f46e5', 'membership change'],
  append: ['#2563eb', 'new moves'],
  appendReply: ['#16a34a', 'stored'],
  heartbeat: ['#9ca3af', 'heartbeat', true],
  heartbeatReply: ['#cbd5e1', 'still here', true],
  vote: ['#ea580c', 'asks for a vote'],
  voteReply: ['#d97706', 'vote'],
  snapshot: ['#0d9488', 'state copy'],
  timeoutNow: ['#dc2626', 'take over now'],
};
export const KIND_ORDER = Object.keys(MESSAGE_KINDS);

export function intro(faultModel) {
  const base =
    'Each card is a browser tab running a <b>replica</b>: a full copy of the game. Replicas message each other (bottom) to ' +
    '<b>agree on the order of moves</b>, then all play the same moves in that order, so every correct copy shows the same game. ';
  if (faultModel === 'crash') {
    return base + 'With 3 replicas one may <b>crash</b>: the other two are still a majority, elect a new leader if needed and carry on.';
  }
  return base + 'Of 4 replicas one may even <b>lie</b> (be “Byzantine”): the 3 others still agree, outvote it, and <b>exclude</b> it once caught.';
}
