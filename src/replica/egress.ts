import { CodecError } from '../codec/index.ts';
import type { Identity } from '../crypto/index.ts';
import { seal, type WireKind } from '../wire/index.ts';
import type { ReplicaMetrics } from './types.ts';

/**
 * What a replica says to clients, within the message limit. A reply carries the application
 * state (`snapshot`); a state larger than one message is not an error of the request: the reply
 * goes without it, with this marker in its place, and still carries the index and digest the
 * client votes on (every correct replica omits the same state, so their replies still match).
 */
export const OMITTED_SNAPSHOT = Object.freeze({ value: null, context: null, status: 'omitted' });

/**
 * Seals a message to a client within `maxBytes`: a reply or read reply too large with its
 * snapshot goes with OMITTED_SNAPSHOT (counted `snapshot-omitted`); anything else too large is
 * counted `unsendable` and not sent (undefined). Never throws a codec limit.
 */
export async function sealForClient(from: string, to: string, kind: WireKind, body: unknown, maxBytes: number, metrics: ReplicaMetrics): Promise<Uint8Array | undefined> {
  try {
    return await seal({ from, to, kind, body }, undefined, undefined, maxBytes);
  } catch (err) {
    if (!tooLarge(err)) throw err;
  }
  const slim = withoutSnapshot(kind, body);
  if (slim !== undefined) {
    try {
      const bytes = await seal({ from, to, kind, body: slim }, undefined, undefined, maxBytes);
      count(metrics, 'snapshot-omitted');
      return bytes;
    } catch (err) {
      if (!tooLarge(err)) throw err;
    }
  }
  count(metrics, 'unsendable');
  return undefined;
}

/** Seals a signed protocol message within `maxBytes`, or counts it `unsendable` (undefined). */
export async function sealProtocol(from: string, to: string, body: unknown, identity: Identity, maxBytes: number, metrics: ReplicaMetrics): Promise<Uint8Array | undefined> {
  try {
    return await seal({ from, to, kind: 'protocol', body }, identity, undefined, maxBytes);
  } catch (err) {
    if (!tooLarge(err)) throw err;
    count(metrics, 'unsendable');
    return undefined;
  }
}

export function tooLarge(err: unknown): boolean {
  return err instanceof CodecError && err.code === 'too-large';
}

export function count(metrics: ReplicaMetrics, reason: string): void {
  metrics.dropped[reason] = (metrics.dropped[reason] ?? 0) + 1;
}

function withoutSnapshot(kind: WireKind, body: unknown): unknown {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b !== 'object') return undefined;
  if (kind === 'readReply' && 'snapshot' in b) return { ...b, snapshot: OMITTED_SNAPSHOT };
  const result = b.result as Record<string, unknown> | null | undefined;
  if (kind === 'reply' && result && typeof result === 'object' && 'snapshot' in result) return { ...b, result: { ...result, snapshot: OMITTED_SNAPSHOT } };
  return undefined;
}
