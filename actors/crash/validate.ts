import { sessionProblem } from '../../src/app/clients.ts';
import { checkEvent } from '../../src/app/persist.ts';

/** The longest idle heartbeat period a follower accepts (ticks): its election waits three of them. */
export const MAX_IDLE_TICKS = 10_000;
import type { Entry, Membership, RaftMessage } from './types.ts';

/**
 * Terms and indexes stay far below Number.MAX_SAFE_INTEGER, so that term + 1 and index + 1 are
 * always exact (2^48: a million elections a second for nearly nine years).
 */
export const MAX_TERM = 2 ** 48;
/**
 * A correct peer's term can be far ahead of ours (elections while we were away), but not by
 * this much; a message that would make us jump further is misbehaviour, so that one bad message
 * cannot push the group's terms near MAX_TERM.
 */
export const MAX_TERM_JUMP = 2 ** 24;

/** Whether a message's term may be adopted by a replica at `ourTerm`: null, or the reason to refuse it. */
export function termProblem(ourTerm: number, m: RaftMessage): string | null {
  if (m.term > MAX_TERM) return 'term beyond the maximum';
  if (m.term > ourTerm + MAX_TERM_JUMP) return 'term jumps too far ahead';
  return null;
}

/**
 * Checks that decoded bytes have the shape of a protocol message before the protocol sees
 * them. Returns the message, or a reason for the drop counter. Never throws.
 */
export function validateRaftMessage(m: unknown): RaftMessage | string {
  if (!isObject(m)) return 'not an object';
  if (typeof m.term !== 'number' || !Number.isSafeInteger(m.term) || m.term < 0) return 'bad term';
  const term = m.term;
  switch (m.type) {
    case 'vote':
      return typeof m.pre === 'boolean' && typeof m.transfer === 'boolean' && isCount(m.lastIndex) && isCount(m.lastTerm) && m.lastTerm <= term
        ? (m as RaftMessage)
        : 'bad vote';
    case 'voteReply':
      return typeof m.pre === 'boolean' && typeof m.granted === 'boolean' ? (m as RaftMessage) : 'bad voteReply';
    case 'append': {
      if (!isCount(m.prevIndex) || !isCount(m.prevTerm) || m.prevTerm > term || !isCount(m.commit) || !Array.isArray(m.entries)) return 'bad append';
      let expected = m.prevIndex + 1;
      for (const e of m.entries) {
        if (!isEntry(e) || e.index !== expected++ || e.term > m.term) return 'bad append entries';
      }
      return m as RaftMessage;
    }
    case 'appendReply':
      return typeof m.success === 'boolean' && isCount(m.matchIndex) && isCount(m.hintIndex) && isCount(m.hintTerm) && m.hintTerm <= term
        ? (m as RaftMessage)
        : 'bad appendReply';
    case 'heartbeat':
      return isCount(m.commit) && isCount(m.readRound) && (m.every === undefined || (isCount(m.every) && m.every > 0 && m.every <= MAX_IDLE_TICKS)) ? (m as RaftMessage) : 'bad heartbeat';
    case 'heartbeatReply':
      return isCount(m.readRound) ? (m as RaftMessage) : 'bad heartbeatReply';
    case 'snapshot':
      return isObject(m.meta) && isCount(m.meta.index) && isCount(m.meta.term) && m.meta.term <= term && isMembership(m.meta.membership) && m.data instanceof Uint8Array
        ? (m as RaftMessage)
        : 'bad snapshot';
    case 'timeoutNow':
      return m as RaftMessage;
    case 'recover':
      return isCount(m.nonce) ? (m as RaftMessage) : 'bad recover';
    case 'recoverReply':
      return isCount(m.nonce) &&
        typeof m.leader === 'boolean' &&
        typeof m.recovering === 'boolean' &&
        typeof m.empty === 'boolean' &&
        isCount(m.lastIndex) &&
        isCount(m.lastTerm) &&
        m.lastTerm <= term &&
        isMembership(m.membership)
        ? (m as RaftMessage)
        : 'bad recoverReply';
    default:
      return 'unknown message type';
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x <= MAX_TERM;
}

function isEntry(e: unknown): e is Entry {
  if (!isObject(e) || !isCount(e.index) || e.index === 0 || !isCount(e.term) || typeof e.time !== 'number' || !Number.isFinite(e.time)) return false;
  if (e.kind === 'config') return isMembership(e.data);
  if (e.kind === 'request') return isRequest(e.data);
  return e.kind === 'noop' && e.data === null;
}

/**
 * What the runtime applies: a client's request, as its ingress accepted it (the executor throws
 * on anything else, which would halt the replica's apply queue): a session (0 only to open or
 * resume one, with the session event), a seq and a valid event.
 */
function isRequest(d: unknown): boolean {
  if (!isObject(d) || typeof d.client !== 'string' || d.client.length === 0 || !Number.isSafeInteger(d.seq) || (d.seq as number) < 1) return false;
  if (!Number.isSafeInteger(d.session) || (d.session as number) < 0 || checkEvent(d.event) !== null) return false;
  return sessionProblem(d.session as number, d.event as { type?: unknown; resume?: unknown }) === null;
}

function isMembership(m: unknown): m is Membership {
  if (!isObject(m) || !isIdList(m.voters) || !isIdList(m.learners)) return false;
  if (m.adminNonce !== undefined && !isCount(m.adminNonce)) return false;
  if (m.keys === undefined) return true;
  // Keys of added members: 32 bytes each, one per id, only for current members, sorted.
  const members = new Set([...(m.voters as string[]), ...(m.learners as string[])]);
  if (!Array.isArray(m.keys) || m.keys.length === 0 || m.keys.length > 1024) return false;
  let last = '';
  for (const k of m.keys as unknown[]) {
    if (!isObject(k) || typeof k.id !== 'string' || !members.has(k.id) || !(k.key instanceof Uint8Array) || k.key.length !== 32 || k.id <= last) return false;
    last = k.id;
  }
  return true;
}

function isIdList(x: unknown): x is string[] {
  return Array.isArray(x) && x.length <= 1024 && x.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 256);
}
