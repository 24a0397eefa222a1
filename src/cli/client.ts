// `statechorus send|read|status --group G [--identity K]`: a client of the group over WebRTC,
// built from the descriptor alone (fault model, replicas and their keys, signaling, room).
import { fromBase64Url } from '../crypto/bytes.ts';
import { generateIdentity, type Identity } from '../crypto/identity.ts';
import { Client, type Outcome, type ReadOutcome } from '../client/client.ts';
import { loadGroup } from '../group/node.ts';
import type { GroupDescriptor } from '../group/descriptor.ts';
import { resolveClientOptions } from '../group/resolve.ts';
import { webrtcTransport } from '../transport/node.ts';
import type { WebrtcTransport } from '../transport/webrtc.ts';
import { duration, parseCommand, required, UsageError, type CliIo } from './args.ts';
import { readKeyFile } from './keys.ts';
import { describeAnswer, probeMembers } from './probe.ts';

export const clientUsage = `statechorus send --group FILE [--identity KEYFILE] [--timeout 30s] EVENT_JSON
statechorus read --group FILE [--identity KEYFILE] [--timeout 30s]
statechorus status --group FILE [--identity KEYFILE] [--timeout 10s]
  send: orders the event through the group, prints the outcome as JSON (index, agreed, snapshot).
  read: a linearizable read, printed as JSON (index, agreed, snapshot).
  status: asks each member over the group's network: its link from here, its phase, term (crash)
    or view (byzantine), leader, applied and commit index, digest, members, a divergence if it saw
    one; then a read through the group.
  --identity: the client's key file (e.g. DIR/client.key); default: a new identity.`;

const OPTIONS = { group: { type: 'string' }, identity: { type: 'string' }, timeout: { type: 'string' } } as const;

interface Connected {
  group: GroupDescriptor;
  client: Client;
  transport: WebrtcTransport;
}

async function connect(command: string, values: Record<string, unknown>, io: CliIo, giveUpAfterMs: number): Promise<Connected> {
  const group = await loadGroup(required(command, values, 'group'));
  const identity: Identity = typeof values.identity === 'string' ? (await readKeyFile(values.identity, io.err)).identity : await generateIdentity();
  if (!group.signaling || !group.room) throw new Error(`${String(values.group)}: no signaling URLs and room to meet the group through`);
  const keys = new Map(group.members.map((m) => [m.id, fromBase64Url(m.publicKey)]));
  // Built here from the descriptor (not by createClient) to report its links; the same options.
  const transport = webrtcTransport({ signaling: [...group.signaling], room: group.room, identity, peerKey: (id) => keys.get(id), ...(group.iceServers ? { iceServers: group.iceServers as RTCIceServer[] } : {}) });
  const client = new Client(resolveClientOptions({ group, identity, transport, giveUpAfterMs, retryAfterMs: 500 }));
  return { group, client, transport };
}

function printOutcome(io: CliIo, o: Outcome | ReadOutcome): void {
  io.out(JSON.stringify({ index: o.index, agreed: o.agreed, ...(o.dissent.length ? { dissent: o.dissent } : {}), snapshot: o.snapshot }));
}

async function finish(c: Connected): Promise<void> {
  c.client.close();
  await c.transport.close();
}

export async function send(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand('send', argv, OPTIONS, 1);
  if (values.help) return io.out(clientUsage), 0;
  const text = positionals[0];
  if (text === undefined) throw new UsageError('send: the event is missing (e.g. \'{"type":"INC"}\')');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`send: the event is not JSON (${(e as Error).message}): ${text}`);
  }
  const c = await connect('send', values, io, duration('send', 'timeout', values.timeout as string | undefined, 30_000));
  try {
    printOutcome(io, await c.client.send(event));
  } finally {
    await finish(c);
  }
  return 0;
}

export async function read(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand('read', argv, OPTIONS);
  if (values.help) return io.out(clientUsage), 0;
  const c = await connect('read', values, io, duration('read', 'timeout', values.timeout as string | undefined, 30_000));
  try {
    printOutcome(io, await c.client.readOutcome());
  } finally {
    await finish(c);
  }
  return 0;
}

export async function status(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand('status', argv, OPTIONS);
  if (values.help) return io.out(clientUsage), 0;
  const timeoutMs = duration('status', 'timeout', values.timeout as string | undefined, 10_000);
  const c = await connect('status', values, io, timeoutMs);
  try {
    const ids = c.group.members.map((m) => m.id);
    await c.transport.start();
    const answers = await probeMembers(c.transport, ids, timeoutMs);
    const links = new Set(c.transport.connectedPeers());
    io.out(`group: ${c.group.faultModel}, ${ids.length} members, room ${c.group.room}`);
    const width = Math.max(...ids.map((id) => id.length));
    for (const id of ids) io.out(`  ${id.padEnd(width)}  link ${links.has(id) ? 'up  ' : 'down'}  ${describeAnswer(answers.get(id)!)}`);
    try {
      const o = await c.client.readOutcome();
      io.out(`read through the group: index ${o.index}, agreed by ${o.agreed.join(',')}${o.dissent.length ? `, dissent ${o.dissent.map((d) => d.replica).join(',')}` : ''}`);
    } catch (e) {
      io.out(`read through the group: failed (${e instanceof Error ? e.message : String(e)})`);
      process.exitCode = 1;
    }
  } finally {
    await finish(c);
  }
  return process.exitCode === 1 ? 1 : 0;
}
