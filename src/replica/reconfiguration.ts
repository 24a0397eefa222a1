// Admin-signed reconfiguration, both models: one signed command (`signReconfiguration`) (`signReconfiguration`), so one `add-member` works on both. The member's public key
// and the command's nonce travel in the ordered config entry (actors/crash/core.ts), so every
// replica learns the new member's key from the log, and a replayed command is refused.
// Also the `reconfigure` wire kind's body and answer, the same in both runtimes.

import { decode } from '../codec/index.ts';
import { verify } from '../crypto/index.ts';
import type { MembershipChange } from '../../actors/crash/index.ts';

/** A signed statement: the signed payload bytes and the signature (as `signReconfiguration` returns). */
export interface SignedCommand {
  p: Uint8Array;
  s: Uint8Array;
}

const ID_MAX = 256;
const isId = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= ID_MAX && x !== 'admin';

/**
 * The membership change an admin-signed command orders, or the reason it is refused (the
 * caller counts it as a drop), in both models. Cheap checks first: shape, then the nonce against
 * `lastNonce` (the group's last applied admin nonce: anyone may send a command, so a stale one
 * costs no verification), the signature last.
 */
export async function openReconfiguration(command: unknown, admin: Uint8Array | undefined, maxBytes: number, lastNonce: number | undefined): Promise<MembershipChange | string> {
  const change = readReconfiguration(command, admin, maxBytes, lastNonce);
  if (typeof change === 'string') return change;
  if (!(await verify(admin!, (command as SignedCommand).p, (command as SignedCommand).s))) return 'the command is not signed by the group admin';
  return change;
}

/** openReconfiguration without the signature check (the Byzantine runtime checks it through its proof cache). */
export function readReconfiguration(command: unknown, admin: Uint8Array | undefined, maxBytes: number, lastNonce: number | undefined): MembershipChange | string {
  if (!admin) return 'this group has no admin key (group.admin)';
  const c = command as Partial<SignedCommand> | null;
  if (!c || typeof c !== 'object' || !(c.p instanceof Uint8Array) || !(c.s instanceof Uint8Array) || c.s.length !== 64) return 'not a signed command';
  const d = decode(c.p, { maxSize: maxBytes });
  if (!d.ok) return 'not a signed command';
  const payload = d.value as { f?: unknown; k?: unknown; m?: unknown } | null;
  if (!payload || typeof payload !== 'object' || payload.f !== 'admin' || payload.k !== 'protocol' || !Array.isArray(payload.m) || payload.m.length !== 1) {
    return 'not a reconfiguration';
  }
  const m = payload.m[0] as { type?: unknown; nonce?: unknown; change?: { add?: { id?: unknown; key?: unknown }; remove?: unknown } } | null;
  if (!m || m.type !== 'reconfigure' || !Number.isSafeInteger(m.nonce) || (m.nonce as number) < 0 || !m.change || typeof m.change !== 'object') return 'not a reconfiguration';
  let change: MembershipChange;
  const nonce = m.nonce as number;
  if (m.change.add !== undefined) {
    const { id, key } = m.change.add ?? {};
    if (!isId(id) || !(key instanceof Uint8Array) || key.length !== 32) return 'bad member: an id and a 32-byte public key are required';
    change = { add: id, key, nonce };
  } else if (isId(m.change.remove)) {
    change = { remove: m.change.remove, nonce };
  } else {
    return 'not a reconfiguration';
  }
  if (lastNonce !== undefined && nonce <= lastNonce) return `a signed change with nonce ${nonce} or later was applied already (last: ${lastNonce})`;
  return change;
}

/** A `reconfigure` message's body: the sender's request id (echoed in the answer) and the signed command. */
export interface ReconfigureRequest {
  id: number;
  command: SignedCommand;
}

/** The answer (`reconfigureReply`): taken (ordered or proposed), or refused with the reason; `leader` when another replica leads (crash). */
export type ReconfigureAnswer = { id: number; accepted: true } | { id: number; accepted: false; reason: string; leader?: string | null };

/**
 * A `reconfigure` body from the wire, or undefined when malformed (dropped and counted, no
 * answer). Whether the command is well formed and signed by the admin is the runtime's check,
 * answered with a refusal.
 */
export function parseReconfigureRequest(body: unknown): ReconfigureRequest | undefined {
  const b = body as { id?: unknown; command?: { p?: unknown; s?: unknown } | null } | null;
  if (!b || typeof b !== 'object' || !Number.isSafeInteger(b.id) || !b.command || typeof b.command !== 'object') return undefined;
  if (!(b.command.p instanceof Uint8Array) || !(b.command.s instanceof Uint8Array)) return undefined;
  return { id: b.id as number, command: { p: b.command.p, s: b.command.s } };
}
