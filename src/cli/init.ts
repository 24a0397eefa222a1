// `statechorus init --fault-model byzantine --f 1 --dir ./orders [--signaling URL]... [--room R]`:
// a key file per member (r1.key …), admin.key (signs reconfigurations) and client.key, all mode
// 0600, and group.json, the descriptor every replica and client reads.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateIdentity } from '../crypto/identity.ts';
import { membersFor, parseGroup, stringifyGroup, type GroupDescriptor } from '../group/descriptor.ts';
import { parseCommand, required, UsageError, type CliIo } from './args.ts';
import { writeKeyFile } from './keys.ts';

export const DEFAULT_SIGNALING = 'ws://127.0.0.1:8787';

export const initUsage = `statechorus init --fault-model crash|byzantine [--f N] --dir DIR [--signaling URL]... [--room NAME] [--ice URL]...
  Makes a group: DIR/r1.key … (one per member: 2f+1 crash, 3f+1 byzantine), DIR/admin.key,
  DIR/client.key (private keys, mode 0600) and DIR/group.json (public: share it).
  --f N            faults to tolerate (default 1)
  --signaling URL  signaling server(s) (default ${DEFAULT_SIGNALING})
  --room NAME      the room the group meets in (default: DIR's name and a random suffix)
  --ice URL        a STUN/TURN server URL (repeatable)`;

export async function init(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand('init', argv, {
    'fault-model': { type: 'string' },
    f: { type: 'string' },
    dir: { type: 'string' },
    signaling: { type: 'string', multiple: true },
    room: { type: 'string' },
    ice: { type: 'string', multiple: true },
  });
  if (values.help) return io.out(initUsage), 0;
  const faultModel = required('init', values, 'fault-model');
  if (faultModel !== 'crash' && faultModel !== 'byzantine') throw new UsageError(`init: --fault-model must be crash or byzantine, got ${JSON.stringify(faultModel)} (there is no default)`);
  const fText = (values.f as string | undefined) ?? '1';
  if (!/^\d+$/.test(fText) || Number(fText) < 1 || Number(fText) > 20) throw new UsageError(`init: --f must be a whole number from 1 to 20, got ${JSON.stringify(fText)}`);
  const f = Number(fText);
  const dir = resolve(required('init', values, 'dir'));
  const n = membersFor(faultModel, f);

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const members: GroupDescriptor['members'] = [];
  for (let i = 1; i <= n; i++) {
    const identity = await generateIdentity();
    await writeKeyFile(join(dir, `r${i}.key`), `r${i}`, identity);
    members.push({ id: `r${i}`, publicKey: identity.id });
  }
  const admin = await generateIdentity();
  await writeKeyFile(join(dir, 'admin.key'), 'admin', admin);
  const client = await generateIdentity();
  await writeKeyFile(join(dir, 'client.key'), 'client', client);

  const ice = (values.ice as string[] | undefined) ?? [];
  const group = parseGroup({
    faultModel,
    members,
    admin: admin.id,
    signaling: (values.signaling as string[] | undefined) ?? [DEFAULT_SIGNALING],
    room: (values.room as string | undefined) ?? `${basename(dir)}-${randomBytes(4).toString('hex')}`,
    ...(ice.length ? { iceServers: ice.map((urls) => ({ urls })) } : {}),
  }, 'init');
  const groupPath = join(dir, 'group.json');
  await writeFile(groupPath, stringifyGroup(group), { flag: 'wx' }).catch((e: { code?: string }) => {
    throw e.code === 'EEXIST' ? new Error(`${groupPath} exists; refusing to overwrite it (use another --dir)`) : e;
  });
  io.out(`${groupPath}: ${faultModel} group of ${n} (f=${f}): ${members.map((m) => m.id).join(' ')}; room ${group.room}; signaling ${group.signaling!.join(' ')}`);
  io.out(`private keys (mode 0600): ${members.map((m) => `${m.id}.key`).join(' ')} admin.key client.key`);
  return 0;
}
