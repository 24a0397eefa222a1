import type { BatchItem } from '../../actors/byzantine/index.ts';
import { encode } from '../codec/index.ts';
import { RECORD_LIMITS } from '../wire/index.ts';

/**
 * Byzantine model: sizes of batches and of the envelopes that carry them.
 *
 * A batch holds items up to a quarter of the message limit (one item always goes, and an item
 * is at most the event budget, itself at most a quarter of the limit), so the batch a
 * pre-prepare carries always fits one message. A view change, new view or catch-up may refer to
 * many batches: they are packed into as many envelopes of the same signed bundle as needed.
 */
export function batchBytesBudget(maxMessageBytes: number): number {
  return Math.max(1, Math.floor(maxMessageBytes / 4));
}

const itemSizes = new WeakMap<object, number>();

/** Encoded size of a batch item, cached (items are immutable once queued). */
export function itemSize(item: BatchItem): number {
  let n = itemSizes.get(item);
  if (n === undefined) {
    n = encode(item as never, RECORD_LIMITS).length;
    itemSizes.set(item, n);
  }
  return n;
}

/** Room the envelope's own fields take besides the payload and attachments: keys, lengths, the signature. */
const ENVELOPE_OVERHEAD = 256;
const PER_ATTACHMENT = 16;

/**
 * Groups attachments (by index) into envelopes that each fit `maxBytes` beside a payload of
 * `payloadBytes`; the first envelope may carry none. `left`: attachments too large for any
 * envelope (none when batches respect batchBytesBudget).
 */
export function packAttachments(payloadBytes: number, attachments: Uint8Array[], maxBytes: number): { envelopes: number[][]; left: number } {
  const room = maxBytes - payloadBytes - ENVELOPE_OVERHEAD;
  const envelopes: number[][] = [[]];
  let used = 0;
  let left = 0;
  for (let i = 0; i < attachments.length; i++) {
    const size = attachments[i]!.length + PER_ATTACHMENT;
    if (size > room) {
      left++;
      continue;
    }
    if (used + size > room) {
      envelopes.push([]);
      used = 0;
    }
    envelopes[envelopes.length - 1]!.push(i);
    used += size;
  }
  return { envelopes, left };
}
