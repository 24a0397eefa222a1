// `statechorus add-member|remove-member --group G --admin ADMINKEY --id ID [--dir DIR]`: signs the
// change with the admin key, sends it to the members over the group's network (wire kind
// `reconfigure`), waits until a quorum of them report the new membership in their status, and
// only then writes group.json. The member's key travels in the signed command, so both models
// learn it from their ordered log.
import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { quorumSize } from '../../actors/byzantine/quorum.ts';
import { fromBase64Url } from '../crypto/bytes.ts';
import { generateIdentity, type Identity } from '../crypto/identity.ts';
import { loadGroup } from '../group/node.ts';
import { parseGroup, stringifyGroup } from '../group/descriptor.ts';
import { signReconfiguration } from '../replica/byzantine.ts';
import type { ReconfigureAnswer, SignedCommand } from '../replica/reconfiguration.ts';
import { webrtcTransport } from '../transport/node.ts';
import type { WebrtcTransport } from '../transport/webrtc.ts';
import { open, seal } from '../wire/index.ts';
import { duration, parseCommand, required, type CliIo } from './args.ts';
import { readKeyFile, writeKeyFile } from './keys.ts';
import { describeAnswer, probeMembers, type ProbeAnswer } from './probe.ts';

export const membersUsage = `statechorus add-member --group FILE --admin KEYFILE --id ID [--dir DIR] [--timeout 60s]
statechorus remove-member --group FILE --admin KEYFILE --id ID [--timeout 60s]
  Changes the group's members with a command signed by the admin key (DIR/admin.key from init),
  sent to the members over the group's network; waits until a quorum of them report the change
  in their status, then writes it into the group file. add-member makes DIR/ID.key (mode 0600;
  DIR defaults to the group file's directory) unless it exists; then start the new replica with
  "statechorus replica ... --identity DIR/ID.key --join".`;

const OPTIONS = { group: { type: 'string' }, admin: { type: 'string' }, id: { type: 'string' }, dir: { type: 'string' }, timeout: { type: 'string' } } as const;
const REPLY_LIMIT = 64 * 1024;
/** Refusals no retry can change (the others: not the leader, a change in progress, …). */
const FINAL = /not signed by the group admin|no admin key|not a signed command|not a reconfiguration|bad member/;

export function addMember(argv: readonly string[], io: CliIo): Promise<number> {
  return change('add-member', argv, io);
}

export function removeMember(argv: readonly string[], io: CliIo): Promise<number> {
  return change('remove-member', argv, io);
}

async function change(command: 'add-member' | 'remove-member', argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(command, argv, OPTIONS);
  if (values.help) return io.out(membersUsage), 0;
  const groupPath = required(command, values, 'group');
  const adminPath = required(command, values, 'admin');
  const id = required(command, values, 'id');
  const timeoutMs = duration(command, 'timeout', values.timeout as string | undefined, 60_000);
  const adding = command === 'add-member';

  const group = await loadGroup(groupPath);
  if (!group.admin) throw new Error(`${groupPath}: the group has no admin key, so its members cannot be changed`);
  if (!group.signaling || !group.room) throw new Error(`${groupPath}: no signaling URLs and room to reach the group through`);
  const { identity: admin } = await readKeyFile(adminPath, io.err);
  if (admin.id !== group.admin) throw new Error(`${adminPath}: not the group's admin key (its public key is ${admin.id.slice(0, 12)}…, the group's admin is ${group.admin.slice(0, 12)}…)`);
  const ids = group.members.map((m) => m.id);
  if (adding && ids.includes(id)) throw new Error(`${id} is already a member in ${groupPath} (members: ${ids.join(', ')})`);
  if (!adding && !ids.includes(id)) throw new Error(`${id} is not a member in ${groupPath} (members: ${ids.join(', ')})`);

  // Fresh, and above the last nonce this file records (the group refuses a nonce it has seen).
  const nonce = Math.max(Date.now(), (group.adminNonce ?? 0) + 1);
  const keyPath = join((values.dir as string | undefined) ?? dirname(groupPath), `${id}.key`);
  let newcomer: Identity | undefined;
  if (adding) newcomer = existsSync(keyPath) ? (await readKeyFile(keyPath, io.err)).identity : await generateIdentity();
  const members = adding ? [...group.members, { id, publicKey: newcomer!.id }] : group.members.filter((m) => m.id !== id);
  // Checked before anything is sent: a bad id or a key another member has fails here.
  const next = parseGroup({ ...group, members, adminNonce: nonce }, groupPath);
  if (adding && !existsSync(keyPath)) {
    await writeKeyFile(keyPath, id, newcomer!);
    io.out(`wrote ${keyPath} (mode 0600)`);
  }
  const signed = await signReconfiguration(admin, adding ? { add: { id, key: newcomer!.publicKey } } : { remove: id }, nonce);

  const keys = new Map(group.members.map((m) => [m.id, fromBase64Url(m.publicKey)]));
  const transport = webrtcTransport({ signaling: [...group.signaling], room: group.room, identity: await generateIdentity(), peerKey: (peer) => keys.get(peer), ...(group.iceServers ? { iceServers: group.iceServers as RTCIceServer[] } : {}) });
  // Asked: the current members (a removed one may never learn it is out, so it does not count).
  const counted = adding ? ids : ids.filter((m) => m !== id);
  const need = group.faultModel === 'crash' ? Math.floor(ids.length / 2) + 1 : quorumSize(ids.length);
  const applied = (a: ProbeAnswer | undefined) => {
    if (a?.kind !== 'status') return false;
    const listed = a.status.members.includes(id) || (Array.isArray(a.status['learners']) && (a.status['learners'] as unknown[]).includes(id));
    return listed === adding;
  };
  let report: string;
  try {
    await transport.start();
    report = await reconfigure(transport, ids, signed, timeoutMs, (statuses) => counted.filter((m) => applied(statuses.get(m))).length >= Math.min(need, counted.length), `${id} ${adding ? 'added' : 'removed'}`);
  } finally {
    await transport.close();
  }
  const tmp = `${groupPath}.tmp`;
  await writeFile(tmp, stringifyGroup(next));
  await rename(tmp, groupPath);
  io.out(report);
  io.out(`${groupPath}: members ${next.members.map((m) => m.id).join(',')}`);
  if (adding) io.out(`start it: statechorus replica --group ${groupPath} --identity ${keyPath} --machine FILE#EXPORT --data DIR --join`);
  return 0;
}

/**
 * Sends the command to every member until each has taken it, and asks their status until
 * `done` holds; the error at the deadline (or at a refusal no retry changes) says what each
 * member answered.
 */
async function reconfigure(transport: WebrtcTransport, ids: string[], command: SignedCommand, timeoutMs: number, done: (statuses: Map<string, ProbeAnswer>) => boolean, what: string): Promise<string> {
  const endpoint = transport.endpoint('reconfigure');
  const answers = new Map<string, ReconfigureAnswer>();
  const requestId = Date.now();
  endpoint.onMessage(async (from, bytes) => {
    if (!ids.includes(from)) return;
    const r = await open(bytes, from, { self: endpoint.id, memberKey: () => undefined, maxBytes: REPLY_LIMIT });
    if (!r.ok || r.message.kind !== 'reconfigureReply') return;
    const body = r.message.body as Partial<ReconfigureAnswer> & { reason?: unknown; leader?: unknown } | null;
    if (!body || body.id !== requestId || typeof body.accepted !== 'boolean') return;
    if (answers.get(from)?.accepted) return; // a later refusal of a retry (applied already) says nothing new
    answers.set(from, body.accepted ? { id: requestId, accepted: true } : { id: requestId, accepted: false, reason: String(body.reason).slice(0, 300), ...(typeof body.leader === 'string' ? { leader: body.leader } : {}) });
  });
  const deadline = Date.now() + timeoutMs;
  let statuses = new Map<string, ProbeAnswer>();
  const describe = () =>
    ids
      .map((m) => {
        const a = answers.get(m);
        const said = !a ? 'no answer to the command' : a.accepted ? 'took the command' : `refused it: ${a.reason}${a.leader ? ` (leader ${a.leader})` : ''}`;
        return `  ${m}: ${said}; status: ${statuses.get(m) ? describeAnswer(statuses.get(m)!) : 'not asked yet'}`;
      })
      .join('\n');
  try {
    for (;;) {
      for (const m of ids) {
        if (answers.get(m)?.accepted) continue;
        endpoint.send(m, await seal({ from: endpoint.id, to: m, kind: 'reconfigure', body: { id: requestId, command } }));
      }
      statuses = await probeMembers(transport, ids, Math.max(500, Math.min(2_000, deadline - Date.now())));
      if (done(statuses)) return `${what}:\n${describe()}`;
      const refusals = [...answers.values()].filter((a) => !a.accepted);
      if (refusals.length > 0 && refusals.every((a) => !a.accepted && FINAL.test(a.reason)) && ![...answers.values()].some((a) => a.accepted)) {
        throw new Error(`the group refused the command:\n${describe()}`);
      }
      if (Date.now() >= deadline) throw new Error(`not ${what} within ${timeoutMs} ms (a quorum of the members must report it; group file unchanged):\n${describe()}`);
    }
  } finally {
    await endpoint.close?.();
  }
}
