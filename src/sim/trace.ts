/**
 * The trace of a simulation: every send, delivery, drop, crash, restart and partition, folded
 * into a running hash (two independent 32-bit lanes). Two runs with the same seed and the
 * same calls give the same hash; a test compares hashes instead of whole traces. The last
 * `keep` records are also kept as text, to print when a run fails.
 */
export type TraceKind =
  | 'send'
  | 'deliver'
  | 'duplicate'
  | 'drop-loss'
  | 'drop-partition'
  | 'drop-down'
  | 'crash'
  | 'restart'
  | 'partition'
  | 'heal'
  | 'note';

export interface TraceRecord {
  time: number;
  kind: TraceKind;
  from: string;
  to: string;
  size: number;
  /** Hash of the payload bytes (0 when there are none). */
  payload: number;
}

export class Trace {
  #h1 = 0xdeadbeef;
  #h2 = 0x41c6ce57;
  #count = 0;
  readonly #keep: number;
  readonly #recent: TraceRecord[] = [];
  readonly counts: Record<TraceKind, number> = {
    send: 0, deliver: 0, duplicate: 0, 'drop-loss': 0, 'drop-partition': 0, 'drop-down': 0,
    crash: 0, restart: 0, partition: 0, heal: 0, note: 0,
  };

  constructor(options: { keep?: number } = {}) {
    this.#keep = options.keep ?? 200;
  }

  record(time: number, kind: TraceKind, from = '', to = '', payload?: Uint8Array): void {
    const size = payload?.length ?? 0;
    const payloadHash = payload ? hashBytes(payload) : 0;
    this.#mix(Math.floor(time * 1000) >>> 0);
    this.#mix(Math.floor(time * 1000 / 4294967296) >>> 0);
    this.#mixString(kind);
    this.#mixString(from);
    this.#mixString(to);
    this.#mix(size);
    this.#mix(payloadHash);
    this.#count++;
    this.counts[kind]++;
    if (this.#keep > 0) {
      this.#recent.push({ time, kind, from, to, size, payload: payloadHash });
      if (this.#recent.length > this.#keep) this.#recent.shift();
    }
  }

  /** The running hash of everything recorded so far, as 16 hex digits. */
  get hash(): string {
    return (this.#h1 >>> 0).toString(16).padStart(8, '0') + (this.#h2 >>> 0).toString(16).padStart(8, '0');
  }

  get length(): number {
    return this.#count;
  }

  /** The most recent records, oldest first. */
  recent(): readonly TraceRecord[] {
    return this.#recent;
  }

  /** The most recent records as lines of text, for a failure message. */
  format(limit = 50): string {
    return this.#recent
      .slice(-limit)
      .map((r) => `${r.time.toFixed(3).padStart(12)} ${r.kind.padEnd(14)} ${r.from}${r.to ? ' -> ' + r.to : ''}${r.size ? ` (${r.size} B #${r.payload.toString(16)})` : ''}`)
      .join('\n');
  }

  #mix(word: number): void {
    this.#h1 = Math.imul(this.#h1 ^ word, 2654435761);
    this.#h2 = Math.imul(this.#h2 ^ word, 1597334677);
    this.#h1 ^= Math.imul(this.#h2 ^ (this.#h2 >>> 15), 2246822507);
    this.#h2 ^= Math.imul(this.#h1 ^ (this.#h1 >>> 13), 3266489909);
  }

  #mixString(s: string): void {
    this.#mix(s.length);
    for (let i = 0; i < s.length; i++) this.#mix(s.charCodeAt(i));
  }
}

/** A fast 32-bit hash of bytes (murmur-style mixing); not cryptographic. */
export function hashBytes(bytes: Uint8Array): number {
  let h = 0x9747b28c ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    h = Math.imul(h ^ bytes[i]!, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h >>> 0;
}
