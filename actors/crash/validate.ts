import type { Entry, Membership, RaftMessage } from './types.ts';

/**
 * Checks that decoded bytes have the shape of a protocol message before the protocol sees
 * them. Returns the message, or a reason for the drop counter. Never throws.
 */
export function validateRaftMessage(m: unknown): RaftMessage | string {
  if (!isObject(m)) return 'not an object';
  if (!isCount(m.term)) return 'bad term';
  switch (m.type) {
    case 'vote':
      return typeof m.pre === 'boolean' && typeof m.transfer === 'boolean' && isCount(m.lastIndex) && isCount(m.lastTerm)
        ? (m as RaftMessage)
        : 'bad vote';
    case 'voteReply':
      return typeof m.pre === 'boolean' && typeof m.granted === 'boolean' ? (m as RaftMessage) : 'bad voteReply';
    case 'append': {
      if (!isCount(m.prevIndex) || !isCount(m.prevTerm) || !isCount(m.commit) || !Array.isArray(m.entries)) return 'bad append';
      let expected = m.prevIndex + 1;
      for (const e of m.entries) {
        if (!isEntry(e) || e.index !== expected++ || e.term > m.term) return 'bad append entries';
      }
      return m as RaftMessage;
    }
    case 'appendReply':
      return typeof m.success === 'boolean' && isCount(m.matchIndex) && isCount(m.hintIndex) && isCount(m.hintTerm)
        ? (m as RaftMessage)
        : 'bad appendReply';
    case 'heartbeat':
      return isCount(m.commit) && isCount(m.readRound) ? (m as RaftMessage) : 'bad heartbeat';
    case 'heartbeatReply':
      return isCount(m.readRound) ? (m as RaftMessage) : 'bad heartbeatReply';
    case 'snapshot':
      return isObject(m.meta) && isCount(m.meta.index) && isCount(m.meta.term) && isMembership(m.meta.membership) && m.data instanceof Uint8Array
        ? (m as RaftMessage)
        : 'bad snapshot';
    case 'timeoutNow':
      return m as RaftMessage;
    default:
      return 'unknown message type';
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isEntry(e: unknown): e is Entry {
  if (!isObject(e) || !isCount(e.index) || e.index === 0 || !isCount(e.term) || typeof e.time !== 'number' || !Number.isFinite(e.time)) return false;
  if (e.kind === 'config') return isMembership(e.data);
  return e.kind === 'request' || (e.kind === 'noop' && e.data === null);
}

function isMembership(m: unknown): m is Membership {
  return isObject(m) && isIdList(m.voters) && isIdList(m.learners);
}

function isIdList(x: unknown): x is string[] {
  return Array.isArray(x) && x.length <= 1024 && x.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 256);
}
