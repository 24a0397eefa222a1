// What `statechorus status` asks each member: a status request (wire kind 'status') sent to that
// member alone; the member answers with its own status() (phase, term or view, leader, applied
// and commit index, members, digest, a divergence if it saw one). Silence within the timeout is
// reported as such.
import { faultModelOf, isFaultModel } from '../fault-models/index.ts';
import { open, seal } from '../wire/index.ts';
import type { WebrtcTransport } from '../transport/webrtc.ts';

/** The part of a replica's status() that `status` prints (the rest is kept as sent). */
export interface MemberStatus {
  faultModel: string;
  phase: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  members: string[];
  digest: string;
  diverged?: { index: number; leader: string };
  [more: string]: unknown;
}

export type ProbeAnswer = { kind: 'status'; status: MemberStatus } | { kind: 'silent' };

const REPLY_LIMIT = 1024 * 1024;

function memberStatus(x: unknown): MemberStatus | undefined {
  const s = x as Partial<MemberStatus> | null;
  if (!s || typeof s !== 'object') return undefined;
  if (typeof s.phase !== 'string' || typeof s.term !== 'number' || typeof s.appliedIndex !== 'number' || typeof s.commitIndex !== 'number') return undefined;
  if (!(s.leader === null || typeof s.leader === 'string') || !Array.isArray(s.members) || typeof s.digest !== 'string') return undefined;
  return s as MemberStatus;
}

export async function probeMembers(transport: WebrtcTransport, ids: string[], timeoutMs: number): Promise<Map<string, ProbeAnswer>> {
  // An endpoint of its own: the client on the transport keeps its handler.
  const endpoint = transport.endpoint('status');
  const answers = new Map<string, ProbeAnswer>();
  const nonces = new Map(ids.map((id, i) => [id, Date.now() * 1000 + i]));
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  endpoint.onMessage(async (from, bytes) => {
    const nonce = nonces.get(from);
    if (nonce === undefined || answers.has(from)) return;
    const r = await open(bytes, from, { self: endpoint.id, memberKey: () => undefined, maxBytes: REPLY_LIMIT });
    if (!r.ok || r.message.kind !== 'statusReply') return;
    const body = r.message.body as { nonce?: unknown; status?: unknown } | null;
    const status = body && typeof body === 'object' && body.nonce === nonce ? memberStatus(body.status) : undefined;
    if (!status) return;
    answers.set(from, { kind: 'status', status });
    if (answers.size === ids.length) done();
  });
  const ask = async () => {
    for (const id of ids) {
      if (answers.has(id)) continue;
      endpoint.send(id, await seal({ from: endpoint.id, to: id, kind: 'status', body: { nonce: nonces.get(id) } }));
    }
  };
  // Links come up over the first second or two: ask again until everyone answered or time is up.
  await ask();
  const again = setInterval(() => void ask(), 500);
  const timer = setTimeout(done, timeoutMs);
  await all;
  clearInterval(again);
  clearTimeout(timer);
  await endpoint.close?.();
  for (const id of ids) if (!answers.has(id)) answers.set(id, { kind: 'silent' });
  return answers;
}

/** One line per member: phase, term or view, leader, indexes, digest; a divergence first. */
export function describeAnswer(a: ProbeAnswer): string {
  if (a.kind === 'silent') return 'no answer';
  const s = a.status;
  // Only the checked `term`: `view` comes unchecked from the member.
  const round = isFaultModel(s.faultModel) ? faultModelOf(s.faultModel).describeRound({ term: s.term }) : `term ${s.term}`;
  const leader = s.leader === null ? 'no leader' : `leader ${s.leader}`;
  const diverged = s.diverged ? `DIVERGED from ${s.diverged.leader} at ${s.diverged.index}; ` : '';
  const learners = Array.isArray(s['learners']) && s['learners'].length > 0 ? ` learners ${s['learners'].join(',')}` : '';
  return `${diverged}${s.phase} (${round}, ${leader}) applied ${s.appliedIndex}, commit ${s.commitIndex}, digest ${s.digest.slice(0, 12)}, members ${s.members.join(',')}${learners}`;
}
