import type { Config, ConfigCommand, Member } from './types.ts';

// The counts themselves live in ../quorums.ts, shared with the clients' vote counting.
export { faultsTolerated, quorumSize, weakQuorum } from '../quorums.ts';

export function memberIds(config: Config): string[] {
  return config.members.map((m) => m.id);
}

export function isMember(config: Config, id: string): boolean {
  return config.members.some((m) => m.id === id);
}

export function primaryOf(config: Config, view: number): string {
  return config.members[view % config.members.length]!.id;
}

/** The configuration after a change; members keep their order, newcomers go last. */
export function applyConfigCommand(config: Config, change: ConfigCommand): Config {
  let members: Member[];
  if ('add' in change) {
    if (config.members.some((m) => m.id === change.add.id)) return config;
    members = [...config.members, { id: change.add.id, key: change.add.key }];
  } else {
    if (!config.members.some((m) => m.id === change.remove)) return config;
    members = config.members.filter((m) => m.id !== change.remove);
    if (members.length === 0) return config;
  }
  return { epoch: config.epoch + 1, members, pending: config.pending, ...nonceOf(config) };
}

export function cloneConfig(c: Config): Config {
  return { epoch: c.epoch, members: c.members.map((m) => ({ id: m.id, key: m.key })), pending: c.pending.map((p) => ({ at: p.at, change: p.change })), ...nonceOf(c) };
}

/** The admin nonce, present only once set (a configuration without one encodes, and hashes, as before). */
function nonceOf(c: Config): { adminNonce?: number } {
  return c.adminNonce !== undefined ? { adminNonce: c.adminNonce } : {};
}
