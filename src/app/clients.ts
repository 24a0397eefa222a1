/**
 * The session table (exactly-once execution): per client session, its last applied seq, a
 * digest of that request and its cached result. It is part of the replicated state, so its
 * bounds depend only on entry times and order: every replica expires and evicts the same
 * sessions at the same entry.
 *
 * Sessions follow the Raft thesis (§6.3): a client opens a session through the log and its id
 * is the log index of that entry; requests carry (session, seq). A session leaves the table
 * when it has been idle for longer than the lease (replicated time) or when the table is full
 * and it is the least recently active (LRU). A request of a session that is not in the table
 * is refused as expired, never applied: an evicted session can never execute a request twice.
 */
import { encode } from '../codec/index.ts';
import { sha256Sync } from '../crypto/index.ts';
import { STATE_LIMITS } from './persist.ts';
import type { AppEvent, ApplyResult } from './types.ts';

/**
 * The table's digest is a fixed tree: sessions hash into 512 buckets, 8 buckets make a group,
 * 8 groups a block, 8 blocks the root. A request re-hashes one bucket and the 3 nodes above
 * it, not the whole table.
 */
const ARITY = 8;
const DEPTH = 3;
export const CLIENT_BUCKETS = ARITY ** DEPTH;

const NODE_SCRATCH = new Uint8Array(ARITY * 33);

export interface SessionEntry {
  /** The session id: the log index of the entry that opened it. */
  session: number;
  /** The client that opened it; only that client may use it. */
  client: string;
  /** Last applied seq (0: none yet). After a resume: one above it (fenced, see the executor). */
  seq: number;
  /** Replicated time of the session's last activity (opened, resumed or a request applied). */
  time: number;
  /** SHA-256 of the last applied request's event (`requestDigest`); null when there is none (new or fenced). */
  request: Uint8Array | null;
  /** The last applied request's result; null when there is none. */
  result: ApplyResult | null;
  /**
   * The attempt number (the opening request's seq) of the last resume applied to the session;
   * absent or 0: never resumed. A resume with a number not above it is a retransmission (or a
   * late copy from an earlier run): it answers as the first did and fences nothing more.
   */
  resumed?: number;
  /** The tree hash of `[result.index, result.snapshot]` (see state-tree.ts); computed when the digest first needs it. */
  resultHash?: Uint8Array;
}

/** What a cached reply is compared with: SHA-256 of the canonical encoding of the event. */
export function requestDigest(event: AppEvent): Uint8Array {
  return sha256Sync(encode(event as never, STATE_LIMITS));
}

export class SessionTable {
  /** Least recently active first (times never go back, so also by time). */
  private readonly entries = new Map<number, SessionEntry>();
  private readonly buckets: Array<Map<number, SessionEntry>> = Array.from({ length: CLIENT_BUCKETS }, () => new Map());
  /** Node hashes, level by level: [0] the buckets, [DEPTH] the root; null for an empty subtree. */
  private readonly levels: Array<Array<Uint8Array | null>> = Array.from({ length: DEPTH + 1 }, (_, d) =>
    new Array<Uint8Array | null>(ARITY ** (DEPTH - d)).fill(null),
  );
  private readonly dirty: number[] = [];
  /** Cached table hash; null when a bucket changed since. */
  private root: Uint8Array | null = null;

  constructor(
    readonly maxSessions: number,
    readonly lease: number,
    /** The hash of a cached result in the digest: the executor's tree hash of `[index, snapshot]`. */
    private readonly hashResult: (result: ApplyResult) => Uint8Array,
  ) {
    this.levels[DEPTH]![0] = sha256Sync(new Uint8Array(0));
  }

  get size(): number {
    return this.entries.size;
  }

  /** The session, if it is in the table and belongs to `client`. */
  get(client: string, session: number): SessionEntry | undefined {
    const e = this.entries.get(session);
    return e !== undefined && e.client === client ? e : undefined;
  }

  /** Records the session's latest state (it becomes the most recently active), then evicts the least recently active beyond the bound. */
  record(entry: SessionEntry): void {
    this.entries.delete(entry.session);
    this.entries.set(entry.session, entry);
    const b = entry.session % CLIENT_BUCKETS;
    this.buckets[b]!.set(entry.session, entry);
    this.touch(b);
    for (const first of this.entries.values()) {
      if (this.entries.size <= this.maxSessions) break;
      this.remove(first.session);
    }
  }

  /** Drops sessions idle for longer than the lease at replicated time `now`. */
  expire(now: number): void {
    for (const first of this.entries.values()) {
      if (!(now - first.time > this.lease)) break;
      this.remove(first.session);
    }
  }

  /**
   * The table's part of the state digest. A bucket (session id mod 512) hashes to SHA-256 of
   * the canonical encoding of its rows `[session, client, seq, time, request, resultIndex,
   * resultHash]` sorted by session (`request`, `resultIndex`, `resultHash` null when the
   * session has no applied request), followed by `resumed` when the session was resumed; a node's hash is SHA-256 of the concatenation, over its
   * non-empty children in order, of one byte (the child's position, 0-7) and the child's
   * 32-byte hash; the table's is the root's (SHA-256 of no bytes when the table is empty).
   * Cached, so entries that leave the table alone do not pay for it.
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
      const rows = [...bucket.values()].sort((x, y) => x.session - y.session);
      buckets[b] = sha256Sync(
        encode(
          rows.map((e) => {
            const row = [e.session, e.client, e.seq, e.time, e.request, e.result?.index ?? null, e.result === null ? null : this.resultHash(e)];
            // Only when set: a table without resumes keeps the digest it had before the field existed.
            if (e.resumed) row.push(e.resumed);
            return row;
          }),
        ),
      );
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

  /** The entry's result hash, computed once, when a digest first covers it (most are replaced before). */
  private resultHash(e: SessionEntry): Uint8Array {
    e.resultHash ??= this.hashResult(e.result!);
    return e.resultHash;
  }

  /** Entries, least recently active first (the order a restore must rebuild). */
  values(): IterableIterator<SessionEntry> {
    return this.entries.values();
  }

  private remove(session: number): void {
    this.entries.delete(session);
    const b = session % CLIENT_BUCKETS;
    this.buckets[b]!.delete(session);
    this.touch(b);
  }

  private touch(b: number): void {
    if (!this.dirty.includes(b)) this.dirty.push(b);
    this.root = null;
  }
}

/** The event type of a request that opens (or resumes) a session: `{ type: SESSION_EVENT, resume?: id }` with session 0. */
export const SESSION_EVENT = 'statechorus.session';

/** Why a request with this session cannot carry this event (null when it can): session 0 takes only the session event. */
export function sessionProblem(session: number, event: { type?: unknown; resume?: unknown }): string | null {
  if (session !== 0) return null;
  if (event.type !== SESSION_EVENT) return `a request with session 0 opens a session: its event must be { type: "${SESSION_EVENT}" }`;
  if (event.resume !== undefined && !(Number.isSafeInteger(event.resume) && (event.resume as number) > 0)) return 'resume must be a session id (a positive integer)';
  return null;
}
