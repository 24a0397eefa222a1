import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient, createReplica, exportIdentity, generateIdentity, groupConfig, loadGroup, parseGroup, stringifyGroup, WebrtcTransport, type GroupDescriptor, type Identity } from '../../src/node.ts';
import { createReplica as createCrashReplica } from '../../src/crash.ts';
import { counter } from '../fixtures/machines.ts';

const seeded = (n: number) => generateIdentity({ seed: new Uint8Array(32).fill(n) });

async function group(faultModel: 'crash' | 'byzantine', n: number, extra: Partial<GroupDescriptor> = {}): Promise<{ group: GroupDescriptor; ids: Identity[] }> {
  const ids = await Promise.all(Array.from({ length: n }, (_, i) => seeded(i + 1)));
  const admin = await seeded(99);
  return {
    ids,
    group: {
      faultModel,
      members: ids.map((id, i) => ({ id: `r${i + 1}`, publicKey: exportIdentity(id).publicKey })),
      admin: admin.id,
      signaling: ['ws://127.0.0.1:1'],
      room: 'orders',
      ...extra,
    },
  };
}

const noTransport = { send() {}, onMessage() {} };

describe('group descriptor', () => {
  it('parses a descriptor from JSON and from the same object, keys in exportIdentity encoding', async () => {
    const { group: g, ids } = await group('byzantine', 4, { signaling: 'ws://h:1' as never });
    const fromObject = parseGroup(g);
    const fromJson = parseGroup(JSON.stringify(g));
    expect(fromJson).toEqual(fromObject);
    expect(fromObject.signaling).toEqual(['ws://h:1']);
    expect(parseGroup(stringifyGroup(fromObject))).toEqual(fromObject);
    const config = groupConfig(fromObject);
    expect(config.members.map((m) => m.publicKey)).toEqual(ids.map((i) => i.publicKey));
    expect(config.admin).toBeInstanceOf(Uint8Array);
  });

  it('refuses bad descriptors with an error naming the cause', async () => {
    const { group: g } = await group('crash', 3);
    const bad = (patch: Record<string, unknown>) => () => parseGroup({ ...g, ...patch });
    expect(bad({ faultModel: 'crsh' })).toThrow('group: unknown faultModel "crsh" (expected "crash" or "byzantine")');
    expect(bad({ faultModel: undefined })).toThrow(/faultModel is missing .*there is no default/);
    expect(bad({ members: [...g.members, { id: 'r4', publicKey: 'x'.repeat(43) }] })).toThrow(/member r4's publicKey/);
    const four = (await group('crash', 4)).group;
    expect(() => parseGroup(four)).toThrow('group: a crash group needs 2f+1 members (1, 3, 5, 7, …); 4 members tolerate no more faults than 3 (f=1)');
    const three = (await group('byzantine', 3)).group;
    expect(() => parseGroup(three)).toThrow(/a byzantine group needs 3f\+1 members .*3 members tolerate no more faults than 1 \(f=0\)/);
    expect(bad({ members: [g.members[0], { ...g.members[1], id: 'r1' }, g.members[2]] })).toThrow('group: duplicate member id "r1"');
    expect(bad({ members: [g.members[0], { ...g.members[1], publicKey: g.members[0]!.publicKey }, g.members[2]] })).toThrow('group: members r1 and r2 have the same public key');
    expect(bad({ members: [g.members[0], { ...g.members[1], publicKey: 'AAAA' }, g.members[2]] })).toThrow("group: member r2's publicKey must be a 32-byte Ed25519 public key (43 base64url characters), got 3 bytes");
    expect(bad({ members: [g.members[0], { ...g.members[1], publicKey: 'not base64!' }, g.members[2]] })).toThrow(/member r2's publicKey is not base64url/);
    expect(bad({ admin: g.members[0]!.publicKey })).toThrow("the admin key is member r1's key");
    expect(bad({ members: [g.members[0], { ...g.members[1], id: 'a/b' }, g.members[2]] })).toThrow(/members\[1\]\.id must be/);
    expect(bad({ signaling: ['http://x'] })).toThrow('signaling URL "http://x" is not a ws:// or wss:// URL');
    expect(bad({ room: undefined })).toThrow('signaling is set but room is missing');
    expect(bad({ rooms: 'x' })).toThrow('unknown field "rooms"');
    expect(() => parseGroup('{ nope', 'orders/group.json')).toThrow(/^orders\/group\.json: not valid JSON/);
    expect(bad({ adminNonce: -1 })).toThrow('adminNonce must be a whole number');
  });

  it('a descriptor written by add-member/remove-member (adminNonce set) may have any member count', async () => {
    const four = (await group('crash', 4, { adminNonce: 1712 })).group;
    expect(parseGroup(four).members).toHaveLength(4);
    expect(parseGroup(stringifyGroup(parseGroup(four))).adminNonce).toBe(1712);
    expect(parseGroup((await group('byzantine', 3, { adminNonce: 5 })).group).members).toHaveLength(3);
  });

  it('a replica being added joins under the id the descriptor lists it with, starting from the other members', async () => {
    const { group: g, ids } = await group('crash', 4, { adminNonce: 1712 });
    const joining = createReplica({ group: g, identity: ids[3]!, id: 'r4', join: true, machine: counter, transport: noTransport });
    expect(joining.id).toBe('r4');
    expect(joining.status().members).toEqual(['r1', 'r2', 'r3']);
    expect(() => createReplica({ group: g, identity: ids[3]!, id: 'r5', join: true, machine: counter, transport: noTransport })).toThrow('the identity is already member r4');
    // Without adminNonce the file is an initial group: its members do not join.
    const initial = (await group('crash', 3)).group;
    expect(() => createReplica({ group: initial, identity: ids[2]!, id: 'r3', join: true, machine: counter, transport: noTransport })).toThrow('the identity is already member r3');
  });

  it('loadGroup names the file it cannot read or parse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sc-group-'));
    await expect(loadGroup(join(dir, 'missing.json'))).rejects.toThrow(`${join(dir, 'missing.json')}: cannot read the group file (no such file)`);
    await writeFile(join(dir, 'group.json'), JSON.stringify({ faultModel: 'byzantine', members: [] }));
    await expect(loadGroup(join(dir, 'group.json'))).rejects.toThrow(`${join(dir, 'group.json')}: members must be a non-empty list`);
  });

  it('createReplica with a descriptor refuses an identity that is no member, and an id that is not its own', async () => {
    const { group: g, ids } = await group('crash', 3);
    const stranger = await seeded(50);
    expect(() => createReplica({ group: g, identity: stranger, machine: counter, transport: noTransport })).toThrow(/the identity \(public key .*\) is not a member of the group \(members: r1, r2, r3\); pass `join: true`/);
    // The typo'd id of the issue: `r9` used to run quietly as a non-member.
    expect(() => createReplica({ group: g, identity: ids[0]!, id: 'r9', machine: counter, transport: noTransport })).toThrow('createReplica: `id` is "r9" but the identity is member r1\'s (members: r1, r2, r3)');
    expect(() => createReplica({ group: g, identity: stranger, id: 'r2', join: true, machine: counter, transport: noTransport })).toThrow('id r2 is already a member');
    const joining = createReplica({ group: g, identity: stranger, id: 'r4', join: true, machine: counter, transport: noTransport });
    expect(joining.id).toBe('r4');
  });

  it('createReplica with a GroupConfig refuses an id that is not the identity\'s member id (the typo\'d r9)', async () => {
    const { group: g, ids } = await group('crash', 3);
    const config = groupConfig(parseGroup(g));
    expect(() => createReplica({ group: config, identity: ids[0]!, id: 'r9', machine: counter, transport: noTransport })).toThrow('createReplica: `id` is "r9" but the identity is member r1\'s (members: r1, r2, r3)');
    expect(createReplica({ group: config, identity: ids[0]!, id: 'r1', machine: counter, transport: noTransport }).id).toBe('r1');
  });

  it('createReplica with a descriptor builds its WebRTC transport from signaling and room, and names what is missing', async () => {
    const { group: g, ids } = await group('byzantine', 4);
    const r = createReplica({ group: g, identity: ids[1]!, machine: counter });
    expect(r.id).toBe('r2');
    expect(r.status().faultModel).toBe('byzantine');
    const { signaling: _s, room: _r, ...offline } = g;
    expect(() => createReplica({ group: offline, identity: ids[1]!, machine: counter })).toThrow('createReplica: no `transport` given and the group descriptor has no signaling URLs and room to build one from');
    const crashGroup = (await group('crash', 3)).group;
    expect(() => createCrashReplica({ group: crashGroup, identity: ids[0]!, machine: counter })).toThrow(/this entry does not build one/);
  });

  it('createClient without faultModel and without group is refused (no silent crash voting against a Byzantine group)', () => {
    expect(() => createClient({ id: 'c', replicas: ['r1', 'r2', 'r3', 'r4'], transport: noTransport })).toThrow(
      "createClient: `faultModel` is required ('crash' or 'byzantine', as the group's replicas run), or pass `group` (a group descriptor); there is no default",
    );
  });

  it('createClient with a descriptor takes fault model, replicas and transport from it, and refuses contradictions', async () => {
    const { group: g } = await group('byzantine', 4);
    const me = await generateIdentity();
    const client = createClient({ group: g, identity: me });
    expect(client.id).toBe(me.id);
    expect(client.replicas).toEqual(['r1', 'r2', 'r3', 'r4']);
    client.close();
    expect(() => createClient({ group: g, faultModel: 'crash' })).toThrow('createClient: faultModel "crash" contradicts the group\'s "byzantine"');
    expect(() => createClient({ group: g, replicas: ['r1'] })).toThrow("createClient: replicas [r1] contradict the group's members [r1, r2, r3, r4]");
    // No identity: a new one, known once the transport started.
    const anonymous = createClient({ group: g, transport: undefined });
    expect(anonymous.id).toBe('');
    anonymous.close();
    expect(WebrtcTransport).toBeTypeOf('function');
  });
});
