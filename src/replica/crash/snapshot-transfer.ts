import type { SnapshotMeta } from '../../../actors/crash/index.ts';
import { ChunkAssembly, chunkAt } from '../chunks.ts';

/**
 * Crash model: a snapshot travels in chunks, so the application state is bounded by memory,
 * not by the message limit. The protocol core still sees one `snapshot` message: the leader's
 * runtime cuts the stored snapshot into `chunkBytes` pieces, the follower's runtime asks for
 * them one at a time (one chunk in flight per transfer, so a large state does not flood the
 * link) and hands the core the whole snapshot once it has every byte.
 *
 * - The leader sends the first chunk when the core says `sendSnapshot` (again after the core's
 *   snapshot timeout); a first chunk of another snapshot (or sender, term) starts the transfer
 *   over on the follower. A first chunk of the transfer in progress does not: the follower asks
 *   for the offset it has reached, so a transfer longer than the core's timeout still ends.
 * - The follower asks `snapshotFetch { term, index, offset }`; the leader answers from the
 *   snapshot it offered (kept while fetches come, even after it took a newer one), and each
 *   answered fetch tells its core the follower is alive (`snapshotProgress`). Else it stays
 *   silent and the core sends the newer snapshot after its timeout.
 * - A follower that heard nothing for `retryMs` asks again for the same offset; a newer term
 *   or another leader cancels the transfer.
 */
export interface SnapshotChunk {
  type: 'snapshotChunk';
  term: number;
  meta: SnapshotMeta;
  offset: number;
  total: number;
  data: Uint8Array;
}

export interface SnapshotFetch {
  type: 'snapshotFetch';
  term: number;
  index: number;
  offset: number;
}

export type TransferMessage = SnapshotChunk | SnapshotFetch;

export function isTransferMessage(body: unknown): boolean {
  const t = (body as { type?: unknown } | null)?.type;
  return t === 'snapshotChunk' || t === 'snapshotFetch';
}

/** The shape of a chunk or fetch from the wire, or why not. */
export function validateTransferMessage(body: unknown): TransferMessage | string {
  const m = body as Record<string, unknown>;
  if (!isCount(m.term) || !isCount(m.offset)) return 'bad snapshot transfer';
  if (m.type === 'snapshotFetch') return isCount(m.index) ? (m as unknown as SnapshotFetch) : 'bad snapshot fetch';
  const meta = m.meta as Record<string, unknown> | null;
  if (!meta || typeof meta !== 'object' || !isCount(meta.index) || !isCount(meta.term)) return 'bad snapshot chunk';
  if (!isCount(m.total) || !(m.data instanceof Uint8Array) || (m.offset as number) + m.data.length > (m.total as number)) return 'bad snapshot chunk';
  return m as unknown as SnapshotChunk;
}

interface Offered {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** Follower: the transfer in progress. */
interface Incoming {
  from: string;
  term: number;
  meta: SnapshotMeta;
  parts: ChunkAssembly;
  heardAt: number;
}

export class SnapshotTransfer {
  /** Leader: the snapshots offered, by index, with when a fetch last used them. */
  readonly #outgoing = new Map<number, { snapshot: Offered; usedAt: number }>();
  #incoming: Incoming | undefined;

  constructor(
    private readonly chunkBytes: number,
    /** Most bytes a follower holds for one transfer (a bound on what a faulty leader can make it buffer). */
    private readonly maxTotal: number,
    private readonly retryMs: number,
  ) {}

  /** Leader: the chunk of `data` at `offset` (the first one when the core says sendSnapshot). */
  chunk(term: number, meta: SnapshotMeta, data: Uint8Array, offset: number): SnapshotChunk | undefined {
    const chunk = chunkAt(data, offset, this.chunkBytes);
    return chunk && { type: 'snapshotChunk', term, meta, offset, total: data.length, data: chunk };
  }

  /**
   * Leader: the first chunk of `snapshot`, which stays offered (for the fetches) until no fetch
   * used it for retryMs * 4 (a follower that stopped asking, or took a newer one).
   */
  offer(term: number, snapshot: Offered, now: number): SnapshotChunk | undefined {
    this.#forgetUnused(now);
    this.#outgoing.set(snapshot.meta.index, { snapshot, usedAt: now });
    return this.chunk(term, snapshot.meta, snapshot.data, 0);
  }

  /** Leader: answers a fetch from a snapshot it offered, if it still has the one asked for. */
  serve(m: SnapshotFetch, now: number): SnapshotChunk | undefined {
    this.#forgetUnused(now);
    const o = this.#outgoing.get(m.index);
    if (!o) return undefined;
    o.usedAt = now;
    return this.chunk(m.term, o.snapshot.meta, o.snapshot.data, m.offset);
  }

  #forgetUnused(now: number): void {
    for (const [index, o] of this.#outgoing) if (now - o.usedAt > this.retryMs * 4) this.#outgoing.delete(index);
  }

  /**
   * Follower: a chunk arrived. Returns the next fetch to send, the whole snapshot once complete,
   * a drop reason, or undefined (a stale or repeated chunk).
   */
  receive(from: string, m: SnapshotChunk, now: number): { fetch: SnapshotFetch } | { snapshot: { term: number; meta: SnapshotMeta; data: Uint8Array } } | { drop: string } | undefined {
    if (m.total > this.maxTotal) return { drop: 'snapshot-too-large' };
    const cur = this.#incoming;
    const same = cur !== undefined && cur.from === from && cur.term === m.term && cur.meta.index === m.meta.index && cur.parts.total === m.total;
    if (m.offset === 0 && same && cur.parts.received > 0) {
      // The leader's timeout resent the first chunk of this transfer: go on from where it is.
      cur.heardAt = now;
      return { fetch: this.#fetch(cur) };
    }
    if (m.offset === 0 && !same) {
      this.#incoming = { from, term: m.term, meta: m.meta, parts: new ChunkAssembly(m.total), heardAt: now };
    }
    const t = this.#incoming;
    if (!t || t.from !== from || t.term !== m.term || t.meta.index !== m.meta.index || t.parts.total !== m.total || m.offset !== t.parts.received) return undefined;
    if (m.data.length === 0 && !t.parts.complete) return { drop: 'bad-snapshot-chunk' };
    t.parts.append(m.data);
    t.heardAt = now;
    if (!t.parts.complete) return { fetch: this.#fetch(t) };
    this.#incoming = undefined;
    return { snapshot: { term: t.term, meta: t.meta, data: t.parts.bytes() } };
  }

  #fetch(t: Incoming): SnapshotFetch {
    return { type: 'snapshotFetch', term: t.term, index: t.meta.index, offset: t.parts.received };
  }

  /** Follower: the fetch to send again when the transfer has been quiet for retryMs. */
  stalled(now: number): { to: string; fetch: SnapshotFetch } | undefined {
    const t = this.#incoming;
    if (!t || now - t.heardAt < this.retryMs) return undefined;
    t.heardAt = now;
    return { to: t.from, fetch: this.#fetch(t) };
  }

  /** Follower: forget the transfer in progress unless it comes from `leader` in `term` (a newer term or another leader made it moot). */
  cancelUnlessFrom(term: number, leader: string | null): void {
    const t = this.#incoming;
    if (t && (term > t.term || (leader !== null && leader !== t.from))) this.#incoming = undefined;
  }
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
