import type { ReplicaTuning } from './types.ts';

/**
 * State that travels in chunks, the same for both models (crash snapshots, Byzantine
 * checkpoints): cut by the sender, one chunk per message, assembled in order by the receiver.
 * Each model keeps its own messages and who-to-ask rules around these pieces.
 */

/** Bytes of state per chunk: at most half a message (room for the envelope), at least one. */
export function chunkBytes(tuning: Pick<ReplicaTuning, 'stateChunkBytes' | 'maxMessageBytes'>): number {
  return Math.max(1, Math.min(tuning.stateChunkBytes, Math.floor(tuning.maxMessageBytes / 2)));
}

/** The chunk of `data` that starts at `offset` (a copy), or undefined past its end. */
export function chunkAt(data: Uint8Array, offset: number, size: number): Uint8Array | undefined {
  if (offset > data.length) return undefined;
  return data.slice(offset, Math.min(data.length, offset + size));
}

/** A state being received in order: each chunk must start where the last one ended. */
export class ChunkAssembly {
  readonly #chunks: Uint8Array[] = [];
  #received = 0;

  constructor(readonly total: number) {}

  /** Bytes so far: the offset the next chunk must start at. */
  get received(): number {
    return this.#received;
  }

  get complete(): boolean {
    return this.#received >= this.total;
  }

  append(data: Uint8Array): void {
    this.#chunks.push(data);
    this.#received += data.length;
  }

  /** The whole state, once complete. */
  bytes(): Uint8Array {
    const all = new Uint8Array(this.#received);
    let at = 0;
    for (const c of this.#chunks) {
      all.set(c, at);
      at += c.length;
    }
    return all;
  }
}
