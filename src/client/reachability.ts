// A client on a network transport that never reaches a replica fails fast with the cause
// (NoLinkError: the signaling servers, who announced in the room and who failed the key check),
// instead of a bare timeout. It says "not applied" only when nothing of the request left this
// process for a replica: no link was ever up to one since the request began, and the copies
// still queued for a link are discarded before the error is raised.

import { explainNoLink, HANDSHAKING, NoLinkError } from '../transport/diagnostics.ts';
import type { Transport } from '../transport/types.ts';

/** Default: a request with no link to any replica for this long fails with NoLinkError. */
export const NO_LINK_AFTER_MS = 5_000;

/** Messages the transport has handed to links to these replicas (undefined: it cannot say). */
export function sentToReplicas(transport: Transport, replicas: readonly string[]): number | undefined {
  const d = transport.diagnostics?.();
  if (!d) return undefined;
  let sent = 0;
  for (const p of d.peers) if (replicas.includes(p.id)) sent += p.sent;
  return sent;
}

/**
 * NoLinkError when the request began at least `afterMs` ago, no replica's link is up or being
 * set up, and nothing was handed to a link to a replica since it began (`sentBefore`); else
 * undefined.
 */
export function noLink(transport: Transport, replicas: readonly string[], elapsedMs: number, afterMs: number, sentBefore: number | undefined): NoLinkError | undefined {
  if (sentBefore === undefined || elapsedMs < afterMs) return undefined;
  const d = transport.diagnostics?.();
  if (!d) return undefined;
  const mine = d.peers.filter((p) => replicas.includes(p.id));
  // A connection being set up (slow on a loaded machine) is no cause yet: wait for its outcome.
  if (mine.some((p) => p.state === 'up' || p.reason === HANDSHAKING)) return undefined;
  if (mine.reduce((n, p) => n + p.sent, 0) !== sentBefore) return undefined;
  // Synchronously with the check: no queued copy can leave after we say it was not applied.
  transport.discardWaiting?.(replicas);
  return new NoLinkError(`no link to any replica after ${Math.round(elapsedMs)} ms; nothing was sent, so the request was not applied. ${explainNoLink(d, replicas)}`, d);
}

/** A clause on the network for a timeout message ('' without diagnostics). */
export function networkNote(transport: Transport, replicas: readonly string[]): string {
  const d = transport.diagnostics?.();
  return d ? `; network: ${explainNoLink(d, replicas)}` : '';
}
