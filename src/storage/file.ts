/**
 * Durable storage on the local file system, for Node and Deno (only `node:fs/promises`,
 * `node:path` and `node:process`, which both runtimes provide). Never import this from code
 * that runs in browsers; `idb.ts` is the browser back end.
 *
 * Layout of `dir`:
 *   LOCK              the pid (and a nonce) of the process that has the store open
 *   storage.log       a file header with a checkpoint of the synced length (file/format.ts),
 *                     then an append-only sequence of records
 *   storage.log.next  a compacted log being written (deleted on open if a crash left it)
 *   storage.meta      generation and length of the log at creation, compaction and close
 *                     (file/meta.ts); storage.meta.next is its replacement being written
 *
 * A record is one `set`, `delete` or `batch` call, so a batch is atomic: on replay either its
 * record is complete and checksummed, or it is discarded. Every record starts with a 20-byte
 * header (little-endian):
 *   u32 payload length | u32 group start, low | u32 group start, high | u32 CRC-32C(payload) |
 *   u32 CRC-32C(the 16 bytes before it)
 * "Group start" is the file offset where the write group that carried the record began (the
 * records appended by one write + fdatasync). It lets recovery tell a torn tail from a corrupt
 * middle: only the last group can be torn, and it was never acknowledged; a damaged record
 * followed by an intact record of a *later* group (group start past the damage) was synced
 * before that group was written, so it is real corruption and opening fails.
 *
 * A log can also lose synced records without a damaged byte: cut short (even at a record
 * boundary), deleted, or replaced by an older copy. Records alone cannot show that, so after
 * each group's fdatasync the store writes the new end into a checkpoint slot of the header,
 * with no fsync of its own (the next group's fdatasync carries it). Opening refuses, with
 * StorageDamagedError, a log that ends or is damaged before its checkpoint or before the length
 * storage.meta recorded, a missing log that storage.meta says was written, and a log of an
 * older generation than storage.meta's. A crash never produces these: it can only tear the
 * group being written, which is past every checkpoint and was never acknowledged.
 *
 * The live data is kept in memory (a Map plus a lazily sorted key array) and rebuilt on open
 * by replaying the log; reads never touch the disk.
 *
 * Checksums are CRC-32C from a slicing-by-8 table: we guard against torn writes and bit rot,
 * not adversaries, and a table CRC runs at about 1 GB/s in V8 where the pure-JS SHA-256
 * (`sha256Sync` for small inputs) is several times slower and 32 bytes per record instead of 4.
 */
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { assertBatch, assertKey, assertScanOptions, assertValue, scanBounds } from './keys.ts';
import { StorageArgumentError, StorageClosedError, type ScanOptions, type Storage, type StorageOp } from './types.ts';
import { StorageCorruptionError, StorageDamagedError, StorageIOError, StorageLockedError, type StorageDamage } from './file/errors.ts';
import { DATA_START, encodeFileHeader, encodeSlot, FILE_VERSION, slotOffset } from './file/format.ts';
import { exists, ignoreMissing, syncDir, writeAll, writeRecords, WRITE_CHUNK_BYTES } from './file/io.ts';
import { acquireLock, releaseLock } from './file/lock.ts';
import { encodeRecord, opSize, sealRecord } from './file/record.ts';
import { META_NAME, META_NEXT_NAME, readMeta, writeMeta, type Meta } from './file/meta.ts';
import { createEmptyLog, LOG_NAME, NEXT_NAME, readLogHeader, replayLog, type ReplayResult } from './file/replay.ts';
import { SortedIndex } from './file/sorted-index.ts';

export { StorageCorruptionError, StorageDamagedError, StorageIOError, StorageLockedError, type StorageDamage };
export { crc32c } from './file/crc.ts';

export interface FileStorageOptions {
  /** Compact only when the log file is larger than this (bytes, default 16 MiB)... */
  compactMinBytes?: number;
  /** ...and larger than this many times the live data (default 2). */
  compactRatio?: number;
}

export interface FileStorageStats {
  /** fdatasync/fsync calls, on the log, on compacted files, on storage.meta and on the directory (one per write group). */
  fsyncs: number;
  /** Write groups appended (each is one write and one fdatasync). */
  groups: number;
  /** Write calls (set, delete, batch) acknowledged. */
  writes: number;
  /** Bytes appended to the log since open (compactions not included). */
  bytesAppended: number;
  /** Current size of the log file. */
  logBytes: number;
  /** Approximate size of the live data in the log format. */
  liveBytes: number;
  keys: number;
  compactions: number;
  /** Records replayed when opening. */
  recoveredRecords: number;
  /** Bytes of torn or corrupt tail discarded when opening. */
  truncatedBytes: number;
}

export interface FileStorage extends Storage {
  readonly dir: string;
  stats(): FileStorageStats;
  /** Rewrites the log with only the live entries (also done automatically). */
  compact(): Promise<void>;
}

/** Payload size at which a compacted file starts a new record. */
const COMPACT_RECORD_BYTES = 1 << 20;

/**
 * The store in `dir`, usable at once: it opens (creating the directory if needed and replaying
 * the log) in the background, and every call waits for that. An open that fails (a corrupt log,
 * a lock held by another process) rejects every call with its error. `ready` settles with it.
 */
export function fileStorage(dir: string, options: FileStorageOptions = {}): FileStorage & { readonly ready: Promise<void> } {
  const opening = openFileStorage(dir, options);
  opening.catch(() => {}); // surfaced by the calls below
  const ready = opening.then(() => {});
  ready.catch(() => {}); // and by `ready` to whoever awaits it: not an unhandled rejection that ends the process
  let opened: FileStorage | undefined;
  void opening.then((s) => (opened = s), () => {});
  const when = <T>(use: (s: FileStorage) => Promise<T>): Promise<T> => (opened ? use(opened) : opening.then(use));
  return {
    dir,
    ready,
    get: (key) => when((s) => s.get(key)),
    set: (key, value) => when((s) => s.set(key, value)),
    delete: (key) => when((s) => s.delete(key)),
    batch: (ops) => when((s) => s.batch(ops)),
    scan: (scanOptions) => when((s) => s.scan(scanOptions)),
    compact: () => when((s) => s.compact()),
    close: () => opening.then((s) => s.close(), () => {}),
    stats: () => (opened ? opened.stats() : emptyStats()),
  };
}

function emptyStats(): FileStorageStats {
  return { fsyncs: 0, groups: 0, writes: 0, bytesAppended: 0, logBytes: 0, liveBytes: 0, keys: 0, compactions: 0, recoveredRecords: 0, truncatedBytes: 0 };
}

/** Opens (creating if needed) the store in `dir`, replaying its log; resolves once it is open. */
export async function openFileStorage(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
  if (typeof dir !== 'string' || dir === '') throw new StorageArgumentError('fileStorage needs a directory path');
  const compactMinBytes = options.compactMinBytes ?? 16 << 20;
  const compactRatio = options.compactRatio ?? 2;
  if (!(compactMinBytes >= 0) || !(compactRatio >= 1)) {
    throw new StorageArgumentError('compactMinBytes must be >= 0 and compactRatio >= 1');
  }
  const created = await mkdir(dir, { recursive: true });
  // New directories must be durable too, or a crash could take the whole store with them.
  if (created !== undefined) {
    for (let d = dir; ; d = dirname(d)) {
      await syncDir(dirname(d));
      if (resolve(d) === resolve(created) || dirname(d) === d) break;
    }
  }
  const lock = await acquireLock(dir);
  let fh: FileHandle | undefined;
  try {
    await unlink(join(dir, NEXT_NAME)).catch(ignoreMissing);
    await unlink(join(dir, META_NEXT_NAME)).catch(ignoreMissing);
    const logPath = join(dir, LOG_NAME);
    let meta = await readMeta(dir);
    let fsyncs = 0;
    if (!(await exists(logPath))) {
      // storage.meta is written only once a log is in place: without the log it means a deleted file.
      if (meta !== undefined) {
        throw new StorageDamagedError(
          logPath,
          'missing',
          `${logPath} is missing, but ${join(dir, META_NAME)} says a log of generation ${meta.generation} with at least ${meta.end} bytes was synced here`,
          meta.end,
          0,
        );
      }
      await createEmptyLog(dir);
      fsyncs += 2;
    }
    fh = await open(logPath, 'r+');
    const header = await readLogHeader(fh, logPath);
    if (meta !== undefined && meta.generation > header.generation) {
      throw new StorageDamagedError(
        logPath,
        'replaced',
        `${logPath} is of generation ${header.generation}, older than generation ${meta.generation} recorded in ${join(dir, META_NAME)}: an older copy of the log`,
        meta.generation,
        header.generation,
      );
    }
    // How far the log was synced: its checkpoint, or the length storage.meta recorded at the last close if longer.
    let durable = header.checkpoint?.end ?? header.dataStart;
    if (meta !== undefined && meta.generation === header.generation) durable = Math.max(durable, meta.end);
    const index = new SortedIndex();
    const replay = await replayLog(fh, index, logPath, header, durable);
    // No storage.meta (a crash right after creating the log, or a store of an earlier version) or an
    // older one (a crash between a compaction's rename and its storage.meta): record the log found.
    if (header.version === FILE_VERSION && (meta === undefined || meta.generation < header.generation)) {
      meta = { generation: header.generation, end: replay.end };
      fsyncs += await writeMeta(dir, meta);
    }
    const checkpoint = { generation: header.generation, seq: header.checkpoint?.seq ?? 0, meta };
    const store = new FileStore(dir, fh, lock, index, { ...replay, fsyncs: replay.fsyncs + fsyncs }, checkpoint, compactMinBytes, compactRatio);
    if (header.version !== FILE_VERSION) {
      // A version 1 log has no checkpoint to append after: rewrite it in this version first.
      fh = undefined;
      await store.compact().catch(async (err: unknown) => {
        await store.close();
        throw err;
      });
    }
    return store;
  } catch (err) {
    await fh?.close().catch(() => {});
    await releaseLock(dir, lock);
    throw err;
  }
}

interface Pending {
  /** Header space plus payload; undefined for an empty batch or a compaction request. */
  record: Uint8Array | undefined;
  compact: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

class FileStore implements FileStorage {
  readonly dir: string;
  #fh: FileHandle;
  readonly #lock: string;
  readonly #index: SortedIndex;
  readonly #compactMinBytes: number;
  readonly #compactRatio: number;
  /** Offset of the end of the log: where the next group goes. */
  #end: number;
  /** Size of the log right after the last compaction (0 before any). */
  #compactedSize = 0;
  /** Generation of the log file (format.ts), and the sequence number of its latest checkpoint. */
  #generation: number;
  #seq: number;
  /** What storage.meta says now (undefined before a version 1 log is rewritten). */
  #meta: Meta | undefined;
  #queue: Pending[] = [];
  #busy = false;
  #idleWaiters: Array<() => void> = [];
  #closed = false;
  #closing: Promise<void> | undefined;
  #failed: StorageIOError | undefined;
  readonly #stats: FileStorageStats;

  constructor(
    dir: string,
    fh: FileHandle,
    lock: string,
    index: SortedIndex,
    replay: ReplayResult,
    checkpoint: { generation: number; seq: number; meta: Meta | undefined },
    compactMinBytes: number,
    compactRatio: number,
  ) {
    this.dir = dir;
    this.#generation = checkpoint.generation;
    this.#seq = checkpoint.seq;
    this.#meta = checkpoint.meta;
    this.#fh = fh;
    this.#lock = lock;
    this.#index = index;
    this.#end = replay.end;
    this.#compactMinBytes = compactMinBytes;
    this.#compactRatio = compactRatio;
    this.#stats = {
      fsyncs: replay.fsyncs,
      groups: 0,
      writes: 0,
      bytesAppended: 0,
      logBytes: replay.end,
      liveBytes: 0,
      keys: 0,
      compactions: 0,
      recoveredRecords: replay.records,
      truncatedBytes: replay.truncatedBytes,
    };
    // A log that grew large before the last close is rewritten now, in the background.
    if (this.#compactDue()) this.#enqueue(undefined, true).catch(() => {});
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#check();
    assertKey(key);
    const v = this.#index.get(key);
    return v === undefined ? undefined : v.slice();
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    this.#check();
    assertKey(key);
    assertValue(value, key);
    const record = encodeRecord([{ type: 'set', key, value }]);
    // The record is a fresh copy; the index keeps a view of its value bytes (no second copy).
    this.#index.set(key, record.subarray(record.length - value.length));
    return this.#enqueue(record, false);
  }

  async delete(key: string): Promise<void> {
    this.#check();
    assertKey(key);
    const record = encodeRecord([{ type: 'delete', key }]);
    this.#index.delete(key);
    return this.#enqueue(record, false);
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.#check();
    assertBatch(ops);
    const record = ops.length === 0 ? undefined : encodeRecord(ops);
    for (const op of ops) {
      if (op.type === 'set') this.#index.set(op.key, new Uint8Array(op.value));
      else if (op.type === 'delete') this.#index.delete(op.key);
      else this.#index.deleteRange(op.start, op.end);
    }
    return this.#enqueue(record, false);
  }

  async scan(options: ScanOptions = {}): Promise<Array<[string, Uint8Array]>> {
    this.#check();
    assertScanOptions(options);
    const { start, end } = scanBounds(options);
    return this.#index.scan(start, end, options.reverse === true, options.limit ?? Infinity);
  }

  async compact(): Promise<void> {
    this.#check();
    return this.#enqueue(undefined, true);
  }

  stats(): FileStorageStats {
    return { ...this.#stats, logBytes: this.#end, liveBytes: this.#index.liveBytes, keys: this.#index.size };
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      // Writes issued before close still complete.
      if (this.#busy) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
      // The length reached, durably: the log's own checkpoint is synced only by a next group.
      // Best effort: without it, the store reopens as after a crash.
      const meta = this.#meta;
      if (!this.#failed && meta !== undefined && (meta.generation !== this.#generation || meta.end !== this.#end)) {
        const next = { generation: this.#generation, end: this.#end };
        await writeMeta(this.dir, next).then((n) => {
          this.#stats.fsyncs += n;
          this.#meta = next;
        }, () => {});
      }
      await this.#fh.close().catch(() => {});
      await releaseLock(this.dir, this.#lock);
    })();
    return this.#closing;
  }

  #check(): void {
    if (this.#closed) throw new StorageClosedError();
    if (this.#failed) throw this.#failed;
  }

  #enqueue(record: Uint8Array | undefined, compact: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ record, compact, resolve, reject });
      if (!this.#busy) {
        this.#busy = true;
        void this.#run();
      }
    });
  }

  /**
   * The log is worth rewriting once it is past the minimum size and past compactRatio times the
   * live data. liveBytes is an estimate (it counts UTF-16 units, not encoded key bytes), so the
   * size of the last compacted file is a floor too: a log never compacts again right away.
   */
  #compactDue(): boolean {
    const end = this.#end;
    return end > this.#compactMinBytes && end > this.#compactRatio * Math.max(this.#index.liveBytes, this.#compactedSize);
  }

  /**
   * The writer loop (group commit): while one group is being written and synced, new calls
   * queue up; the next iteration takes the whole queue as one group, one write and one
   * fdatasync for all of it. Groups complete, and their promises resolve, in call order.
   */
  async #run(): Promise<void> {
    try {
      // Started by a call on an idle store: let the calls already due in this turn (say, the
      // continuations of every writer the last group released) join this first group.
      await Promise.resolve();
      while (this.#queue.length > 0) {
        const group = this.#queue;
        this.#queue = [];
        if (this.#failed) {
          for (const p of group) p.reject(this.#failed);
          continue;
        }
        try {
          if (group.some((p) => p.compact) || this.#compactDue()) {
            // The compacted file is a snapshot of memory, which already holds this group's
            // operations: once it is in place they are durable without being appended.
            await this.#compact();
          } else {
            await this.#append(group);
          }
        } catch (err) {
          this.#failed = new StorageIOError(`file storage in ${this.dir} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
          for (const p of group) p.reject(this.#failed);
          continue;
        }
        let writes = 0;
        for (const p of group) if (!p.compact) writes++;
        this.#stats.writes += writes;
        for (const p of group) p.resolve();
      }
    } finally {
      this.#busy = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #append(group: Pending[]): Promise<void> {
    const groupStart = this.#end;
    const records: Uint8Array[] = [];
    let pos = groupStart;
    for (const p of group) {
      if (p.record === undefined) continue;
      sealRecord(p.record, groupStart);
      records.push(p.record);
      pos += p.record.length;
    }
    if (records.length === 0) return;
    await writeRecords(this.#fh, records, groupStart);
    await this.#fh.datasync();
    this.#stats.fsyncs++;
    this.#stats.groups++;
    this.#stats.bytesAppended += pos - groupStart;
    this.#end = pos;
    // Checkpoint the new end only now, so that it never claims unsynced records; no fsync of
    // its own: the next group's fdatasync (or storage.meta at close) makes it durable.
    this.#seq++;
    await writeAll(this.#fh, encodeSlot(this.#generation, this.#seq, pos), slotOffset(this.#seq));
  }

  /**
   * Writes the live entries to storage.log.next, syncs it, renames it over storage.log and
   * syncs the directory, then appends to the new file. A crash before the rename leaves the
   * old log (the next file is deleted on open); after it, the new one, complete and synced.
   */
  async #compact(): Promise<void> {
    // Taken before the first await, in the same turn as #run took the group: the snapshot holds
    // exactly the calls made so far (later calls queue and are appended to the new file).
    const { keys, values } = this.#index.snapshot();
    const nextPath = join(this.dir, NEXT_NAME);
    const fh = await open(nextPath, 'w+');
    const generation = this.#generation + 1;
    let pos = DATA_START;
    let renamed = false;
    try {
      let pending: Uint8Array[] = [];
      let pendingStart = pos;
      let pendingBytes = 0;
      let i = 0;
      while (i < keys.length) {
        // One record holds entries up to 1 MiB of payload, or one larger entry alone.
        const ops: StorageOp[] = [];
        let size = 0;
        while (i < keys.length) {
          const op: StorageOp = { type: 'set', key: keys[i]!, value: values[i]! };
          const n = opSize(op);
          if (ops.length > 0 && size + n > COMPACT_RECORD_BYTES) break;
          size += n;
          ops.push(op);
          i++;
        }
        const record = encodeRecord(ops);
        // Each record is its own group: the whole file is synced before it is used, so any
        // damage found in it later is corruption, not a torn tail.
        sealRecord(record, pos);
        pending.push(record);
        pendingBytes += record.length;
        pos += record.length;
        if (pendingBytes >= 4 * WRITE_CHUNK_BYTES) {
          await writeRecords(fh, pending, pendingStart);
          pending = [];
          pendingStart = pos;
          pendingBytes = 0;
        }
      }
      if (pending.length > 0) await writeRecords(fh, pending, pendingStart);
      // The header goes in last, once the end is known: both checkpoints say the whole file.
      await writeAll(fh, encodeFileHeader(generation, pos), 0);
      await fh.datasync();
      this.#stats.fsyncs++;
      await rename(nextPath, join(this.dir, LOG_NAME));
      renamed = true;
      await syncDir(this.dir);
      this.#stats.fsyncs++;
    } catch (err) {
      await fh.close().catch(() => {});
      if (!renamed) await unlink(nextPath).catch(() => {});
      throw err;
    }
    const old = this.#fh;
    this.#fh = fh;
    this.#end = pos;
    this.#generation = generation;
    this.#seq = 1;
    this.#compactedSize = pos;
    this.#stats.compactions++;
    await old.close().catch(() => {});
    // Now a copy of the old log (an older generation) is refused as a rollback.
    const meta = { generation, end: pos };
    this.#stats.fsyncs += await writeMeta(this.dir, meta);
    this.#meta = meta;
  }
}

