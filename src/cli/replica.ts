// `statechorus replica --group G --identity K --machine FILE#EXPORT --data DIR`: one replica of
// the group over WebRTC with file storage. Logs its phase changes and a status line, and stops
// cleanly (storage closed) on SIGTERM/SIGINT.
import { loadGroup } from '../group/node.ts';
import { createReplica } from '../group/node.ts';
import { fileStorage } from '../storage/file.ts';
import { webrtcTransport } from '../transport/node.ts';
import { faultModelOf } from '../fault-models/index.ts';
import type { ReplicaStatus } from '../replica/types.ts';
import { duration, parseCommand, required, type CliIo } from './args.ts';
import { readKeyFile } from './keys.ts';
import { onShutdown } from './lifecycle.ts';
import { loadMachine } from './machine.ts';

export const replicaUsage = `statechorus replica --group FILE --identity KEYFILE --machine FILE#EXPORT --data DIR [--join] [--status-every 10s]
  Runs one replica of the group (the member whose key KEYFILE holds) over WebRTC, storing its
  log in DIR. Logs phase changes and a status line every --status-every (0: never). Stops on
  SIGTERM or SIGINT.
  --join: a replica being added to the running group (after add-member), under the id in its
    key file; it catches up from the others.`;

function describe(s: ReplicaStatus): string {
  return `${s.phase} (${faultModelOf(s.faultModel).describeRound(s)}, leader ${s.leader ?? 'none'})`;
}

export async function replica(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand('replica', argv, {
    group: { type: 'string' },
    identity: { type: 'string' },
    machine: { type: 'string' },
    data: { type: 'string' },
    join: { type: 'boolean' },
    'status-every': { type: 'string' },
  });
  if (values.help) return io.out(replicaUsage), 0;
  const groupPath = required('replica', values, 'group');
  const keyPath = required('replica', values, 'identity');
  const machineSpec = required('replica', values, 'machine');
  const data = required('replica', values, 'data');
  const statusEvery = duration('replica', 'status-every', values['status-every'] as string | undefined, 10_000);

  const group = await loadGroup(groupPath);
  const { id: keyId, identity } = await readKeyFile(keyPath, io.err);
  const machine = await loadMachine(machineSpec);
  const storage = fileStorage(data);
  await storage.ready;
  if (!group.signaling || !group.room) throw new Error(`${groupPath}: no signaling URLs and room: a replica process meets its group through them`);
  // Built here (from the descriptor) rather than by createReplica, to report its links.
  const transport = webrtcTransport({ signaling: [...group.signaling], room: group.room, ...(group.iceServers ? { iceServers: group.iceServers as RTCIceServer[] } : {}) });
  const join = values.join === true ? { join: true, id: keyId } : {};
  const r = createReplica({ group, identity, ...join, machine, storage, transport, onFailure: (e) => io.err(`replica stopped by an internal error: ${e instanceof Error ? e.stack : String(e)}`) });
  const tag = `[${r.id}]`;
  const log = (line: string) => io.out(`${tag} ${line}`);

  let last = '';
  const watchPhase = () => {
    const now = describe(r.status());
    if (now !== last) log(last === '' ? `phase ${now}` : `phase ${last} -> ${now}`);
    last = now;
  };
  const statusLine = () => {
    const s = r.status();
    const t = transport.stats();
    const up = transport.connectedPeers();
    const toMembers = up.filter((p) => s.members.includes(p) || s.learners.includes(p));
    const clients = up.length - toMembers.length;
    log(`status: ${describe(s)} applied ${s.appliedIndex} commit ${s.commitIndex} members ${s.members.join(',')} links ${toMembers.join(',') || 'none'}${clients ? ` (+${clients} client${clients > 1 ? 's' : ''})` : ''} msgs in/out ${t.messagesIn}/${t.messagesOut}`);
  };
  const timers: Array<ReturnType<typeof setInterval>> = [];
  onShutdown(async () => {
    for (const t of timers) clearInterval(t);
    await r.stop();
    await storage.close();
    log('stopped');
  }, log);

  log(`starting: ${group.faultModel} group ${group.members.map((m) => m.id).join(',')}, room ${group.room}, signaling ${group.signaling.join(' ')}, data ${data}`);
  await r.start();
  watchPhase();
  timers.push(setInterval(watchPhase, 100));
  if (statusEvery > 0) timers.push(setInterval(statusLine, statusEvery));
  log('started');
  return 0;
}
