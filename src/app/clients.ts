/**
 * The exactly-once table: each client's last applied seq and its cached result. It is part of
 * the replicated state, so its bounds depend only on entry times and order: every replica
 * evicts the same clients at the same entry.
 */
import { encode } from '../codec/index.ts';
import { sha256Sync } from '../crypto/index.ts';
import { STATE_LIMITS } from './persist.ts';
import type { ApplyResult } from './types.ts';

/**
 * The table's digest is a fixed tree: clients hash into 512 buckets, 8 buckets make a group,
 * 8 groups a block, 8 blocks the root. A request re-hashes one bucket and the 3 nodes above
 * it, not the whole table.
 */
const ARITY = 8;
const DEPTH = 3;
export const CLIENT_BUCKETS = ARITY ** DEPTH;

const NODE_SCRATCH = new Uint8Array(ARITY * 33);

export interface ClientEntry {
  client: string;
  seq: number;
  /** Replicated time of the client's last applied request. */
  time: number;
  result: ApplyResult;
  /** SHA-256 of the canonical encoding of `[result.index, result.snapshot]`; computed when the digest first needs it. */
  resultHash?: Uint8Array;
}

/** FNV-1a over UTF-16 code units: the same bucket on every engine. */
export function clientBucket(client: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < client.length; i++) {
    h ^= client.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % CLIENT_BUCKETS;
}

export class ClientTable {
  /** Least recently active first (times never go back, so also by time). */
  private readonly entries = new Map<string, ClientEntry>();
  private readonly buckets: Array<Map<string, ClientEntry>> = Array.from({ length: CLIENT_BUCKETS }, () => new Map());
  /** Node hashes, level by level: [0] the buckets, [DEPTH] the root; null for an empty subtree. */
  private readonly levels: Array<Array<Uint8Array | null>> = Array.from({ length: DEPTH + 1 }, (_, d) =>
    new Array<Uint8Array | null>(ARITY ** (DEPTH - d)).fill(null),
  );
  private readonly dirty: number[] = [];
  /** Cached table hash; null when a bucket changed since. */
  private root: Uint8Array | null = null;

  constructor(
    readonly maxClients: number,
    readonly idleExpiry: number,
  ) {
    this.levels[DEPTH]![0] = sha256Sync(new Uint8Array(0));
  }

  get size(): number {
    return this.entries.size;
  }

  get(client: string): ClientEntry | undefined {
    return this.entries.get(client);
  }

  /** Records the client's latest request (it becomes the most recently active), then trims the table. */
  record(entry: ClientEntry): void {
    this.entries.delete(entry.client);
    this.entries.set(entry.client, entry);
    const b = clientBucket(entry.client);
    this.buckets[b]!.set(entry.client, entry);
    this.touch(b);
    for (const first of this.entries.values()) {
      if (this.entries.size <= this.maxClients) break;
      this.remove(first.client);
    }
  }

  /** Drops clients idle for longer than the expiry at replicated time `now`. */
  expire(now: number): void {
    for (const first of this.entries.values()) {
      if (!(now - first.time > this.idleExpiry)) break;
      this.remove(first.client);
    }
  }

  /**
   * The table's part of the state digest. A bucket's hash is SHA-256 of the canonical
   * encoding of its rows `[client, seq, index, time, resultHash]` sorted by client; a node's
   * is SHA-256 of the concatenation, over its non-empty children in order, of one byte (the
   * child's position, 0-7) and the child's 32-byte hash; the table's is the root's (SHA-256 of
   * no bytes when the table is empty). Cached, so entries that leave the table alone do not
   * pay for it.
   */
  digest(): Uint8Array {
    if (this.root !== null) return this.root;
    const buckets = this.levels[0]!;
    let touched: number[] = [];
    for (const b of this.dirty) {
      const bucket = this.buckets[b]!;
      const parent = (b / ARITY) | 0;
      if (!touched.includes(parent)) touched.push(parent);
      if (bucket.size === 0) {
        buckets[b] = null;
        continue;
      }
      const rows = [...bucket.values()].sort((x, y) => (x.client < y.client ? -1 : x.client > y.client ? 1 : 0));
      buckets[b] = sha256Sync(encode(rows.map((e) => [e.client, e.seq, e.result.index, e.time, resultHashOf(e)])));
    }
    this.dirty.length = 0;
    const scratch = NODE_SCRATCH;
    for (let d = 1; d <= DEPTH; d++) {
      const below = this.levels[d - 1]!;
      const level = this.levels[d]!;
      const next: number[] = [];
      for (const n of touched) {
        let len = 0;
        for (let i = 0; i < ARITY; i++) {
          const h = below[n * ARITY + i];
          if (h === null || h === undefined) continue;
          scratch[len] = i;
          scratch.set(h, len + 1);
          len += 33;
        }
        level[n] = len === 0 && d < DEPTH ? null : sha256Sync(scratch.subarray(0, len));
        const parent = (n / ARITY) | 0;
        if (!next.includes(parent)) next.push(parent);
      }
      touched = next;
    }
    this.root = this.levels[DEPTH]![0]!;
    return this.root;
  }

  /** Entries, least recently active first (the order a restore must rebuild). */
  values(): IterableIterator<ClientEntry> {
    return this.entries.values();
  }

  private remove(client: string): void {
    this.entries.delete(client);
    const b = clientBucket(client);
    this.buckets[b]!.delete(client);
    this.touch(b);
  }

  private touch(b: number): void {
    if (!this.dirty.includes(b)) this.dirty.push(b);
    this.root = null;
  }
}

/** The entry's result hash, computed once, when a digest first covers it (most are replaced before). */
export function resultHashOf(e: ClientEntry): Uint8Array {
  e.resultHash ??= sha256Sync(encode([e.result.index, e.result.snapshot as never], STATE_LIMITS));
  return e.resultHash;
}
