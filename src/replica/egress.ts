import { OMITTED_VIEW } from '../app/index.ts';
import { CodecError } from '../codec/index.ts';
import type { Identity } from '../crypto/index.ts';
import { encode } from '../codec/index.ts';
import { RECORD_LIMITS, seal, sealWithProof, type WireKind } from '../wire/index.ts';
import { packAttachments } from './batch-size.ts';
import type { ReplicaMetrics } from './types.ts';

/**
 * What a replica says to clients, within the message limit. A reply carries the application
 * state (`snapshot`); a state larger than one message is not an error of the request: the reply
 * goes without it, with this marker in its place, and still carries the index and digest the
 * client votes on (every correct replica omits the same state, so their replies still match).
 */
export const OMITTED_SNAPSHOT = OMITTED_VIEW;

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

/** A signed bundle and the envelopes that carry it: each repeats the signed payload with some of the batches. */
export interface SealedBundle {
  p: Uint8Array;
  s: Uint8Array;
  envelopes: Array<{ attachments: Uint8Array[]; digests: string[] }>;
}

/**
 * Byzantine model: signs one bundle of protocol messages (one signature for all of them) and
 * packs the batches they refer to beside it, in as many envelopes as the message limit needs
 * (batch-size.ts). A batch too large for any envelope is counted `unsendable`; a bundle too large
 * by itself is counted and not sent (undefined).
 */
export async function sealBundle(from: string, to: string, messages: unknown[], batches: Map<string, unknown>, identity: Identity, maxBytes: number, metrics: ReplicaMetrics): Promise<SealedBundle | undefined> {
  const digests = [...batches.keys()];
  const encoded = [...batches.values()].map((b) => encode(b as never, RECORD_LIMITS));
  metrics.signatures++;
  try {
    const s = await sealWithProof({ from, to, kind: 'protocol', body: messages }, identity, undefined, maxBytes);
    const { envelopes, left } = packAttachments(s.p.length, encoded, maxBytes);
    for (let i = 0; i < left; i++) count(metrics, 'unsendable');
    return { p: s.p, s: s.s!, envelopes: envelopes.map((e) => ({ attachments: e.map((j) => encoded[j]!), digests: e.map((j) => digests[j]!) })) };
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
