/**
 * The storage contract: what a replica must not forget across a crash (protocol hard state,
 * log entries, snapshots and checkpoints). Keys are strings ordered by UTF-16 code units —
 * the order of JavaScript's `<` and of IndexedDB — so fixed-width keys such as `logKey(i)`
 * scan in numeric order. Values are bytes: callers encode with the codec, and every back
 * end (memory, file, IndexedDB) stores exactly what it was given.
 *
 * Durability: when a returned promise resolves, the write survives a crash of the process.
 * A batch is atomic: after a crash either all of its operations are visible or none.
 * A durable back end that finds less than it acknowledged (files cut short, damaged, deleted
 * or rolled back) refuses to open rather than serve the rest (fileStorage: StorageDamagedError).
 */
export type StorageOp =
  | { type: 'set'; key: string; value: Uint8Array }
  | { type: 'delete'; key: string }
  /** Deletes every key k with start <= k < end. */
  | { type: 'deleteRange'; start: string; end: string };

export interface ScanOptions {
  /** Only keys that start with this prefix. */
  prefix?: string;
  /** Inclusive lower bound. */
  start?: string;
  /** Exclusive upper bound. */
  end?: string;
  /** Largest keys first. */
  reverse?: boolean;
  /** At most this many entries. */
  limit?: number;
}

export interface Storage {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Applies all operations atomically, in order. */
  batch(ops: readonly StorageOp[]): Promise<void>;
  /** Entries in key order (or reverse), within the bounds given. */
  scan(options?: ScanOptions): Promise<Array<[string, Uint8Array]>>;
  /** Releases resources; later calls reject with StorageClosedError. */
  close(): Promise<void>;
}

export class StorageClosedError extends Error {
  constructor() {
    super('storage is closed');
    this.name = 'StorageClosedError';
  }
}

/** Thrown for wrong arguments (non-string keys, non-byte values, malformed batches). */
export class StorageArgumentError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'StorageArgumentError';
  }
}
