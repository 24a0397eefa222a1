import { DEFAULT_MAX_DEPTH, type CodecLimits } from '../codec/index.ts';

/**
 * Sizes on the wire. One budget, the event's (`MAX_EVENT_BYTES`, lowered per group or client by
 * `maxEventBytes`), and one message limit (`tuning.maxMessageBytes`); everything a replica
 * builds is sized between the two so that an accepted event always fits in every message
 * that must carry it:
 *
 * - the event budget is at most a quarter of the message limit (`eventBudget`);
 * - crash: an append carries at most half the message limit of entries, plus one entry;
 * - Byzantine: a batch holds at most a quarter of the message limit of items, plus one item;
 *   a message that refers to more batches than fit beside it goes as several envelopes.
 */

/** Events nest at most DEFAULT_MAX_DEPTH deep; requests, entries and batches wrap them a few levels deeper. */
export const WIRE_MAX_DEPTH = DEFAULT_MAX_DEPTH + 16;

/** Limits for encoding or decoding a message of at most `maxBytes`. */
export function wireLimits(maxBytes: number): CodecLimits {
  return { maxSize: maxBytes, maxDepth: WIRE_MAX_DEPTH };
}

/** Records a replica keeps for itself (log entries, slots, snapshots): bounded by memory only. */
export const RECORD_LIMITS: CodecLimits = { maxSize: Number.MAX_SAFE_INTEGER, maxDepth: WIRE_MAX_DEPTH + 16 };

/** The event budget in force: the configured one, at most a quarter of the message limit. */
export function eventBudget(maxEventBytes: number, maxMessageBytes: number): number {
  return Math.max(0, Math.min(maxEventBytes, Math.floor(maxMessageBytes / 4)));
}

/**
 * An event over the size budget, refused before it is sent (by the client) or before it is
 * ordered (by a replica, whose error reply the client turns into this). Nothing was applied.
 */
export class EventTooLargeError extends Error {
  override name = 'EventTooLargeError';
  constructor(
    /** The event's encoded size in bytes (Infinity when too large to measure). */
    readonly size: number,
    /** The budget it broke, in bytes. */
    readonly limit: number,
    message = `event too large: ${size} bytes encoded, over the limit of ${limit} bytes (maxEventBytes)`,
  ) {
    super(message);
  }
}
