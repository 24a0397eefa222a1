// What `statechorus status` asks each member: an unordered read sent to that member alone.
// There is no status request on the wire; a read is what every replica answers, and its answer
// says enough: a crash leader replies with its applied index and digest, a follower redirects
// to the leader it knows (or none during an election); a Byzantine replica replies with what
// it has executed and its member list. Silence within the timeout is reported as such.
import { open, seal } from '../wire/index.ts';
import type { WebrtcTransport } from '../transport/webrtc.ts';

export type ProbeAnswer =
  | { kind: 'leader' | 'replied'; index: number; digest: string; members?: string[] }
  | { kind: 'follower'; leader: string | null }
  | { kind: 'refused'; message: string }
  | { kind: 'silent' };

const REPLY_LIMIT = 64 * 1024 * 1024;

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
    if (!r.ok) return;
    const body = r.message.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object' || body.nonce !== nonce) return;
    if (r.message.kind === 'readReply' && typeof body.index === 'number' && typeof body.digest === 'string') {
      const members = Array.isArray(body.members) ? body.members.filter((m): m is string => typeof m === 'string') : undefined;
      answers.set(from, members ? { kind: 'replied', index: body.index, digest: body.digest, members } : { kind: 'leader', index: body.index, digest: body.digest });
    } else if (r.message.kind === 'redirect') {
      answers.set(from, { kind: 'follower', leader: typeof body.leader === 'string' ? body.leader : null });
    } else if (r.message.kind === 'error') {
      answers.set(from, { kind: 'refused', message: String(body.message) });
    } else return;
    if (answers.size === ids.length) done();
  });
  const ask = async () => {
    for (const id of ids) {
      if (answers.has(id)) continue;
      endpoint.send(id, await seal({ from: endpoint.id, to: id, kind: 'read', body: { nonce: nonces.get(id) } }));
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
