/**
 * Durable storage on the local file system, for Node and Deno (only `node:fs/promises`,
 * `node:path` and `node:process`, which both runtimes provide). Never import this from code
 * that runs in browsers; `idb.ts` is the browser back end.
 *
 * Layout of `dir`:
 *   LOCK              the pid (and a nonce) of the process that has the store open
 *   storage.log       a file header, then an append-only sequence of records
 *   storage.log.next  a compacted log being written (deleted on open if a crash left it)
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
 * The live data is kept in memory (a Map plus a lazily sorted key array) and rebuilt on open
 * by replaying the log; reads never touch the disk.
 *
 * Checksums are CRC-32C from a slicing-by-8 table: we guard against torn writes and bit rot,
 * not adversaries, and a table CRC runs at about 1 GB/s in V8 where the pure-JS SHA-256
 * (`sha256Sync` for small inputs) is several times slower and 32 bytes per record instead of 4.
 */
import { mkdir, open, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { assertBatch, assertKey, assertScanOptions, assertValue, scanBounds } from './keys.ts';
import { StorageArgumentError, StorageClosedError, type ScanOptions, type Storage, type StorageOp } from './types.ts';

export interface FileStorageOptions {
  /** Compact only when the log file is larger than this (bytes, default 16 MiB)... */
  compactMinBytes?: number;
  /** ...and larger than this many times the live data (default 2). */
  compactRatio?: number;
}

export interface FileStorageStats {
  /** fdatasync/fsync calls, on the log, on compacted files and on the directory. */
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

/** The log is damaged somewhere other than its tail (or is not a storage log at all). */
export class StorageCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageCorruptionError';
  }
}

/** Another process (or another open instance in this process) holds the directory. */
export class StorageLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageLockedError';
  }
}

/** A write or fsync failed; the store refuses every later call (its memory may be ahead of the disk). */
export class StorageIOError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageIOError';
  }
}

const LOG_NAME = 'storage.log';
const NEXT_NAME = 'storage.log.next';
const LOCK_NAME = 'LOCK';

const FILE_MAGIC = [0x53, 0x43, 0x4b, 0x56, 0x4c, 0x4f, 0x47, 0x0a]; // "SCKVLOG\n"
const FILE_VERSION = 1;
const FILE_HEADER = 16; // magic, u32 version, u32 CRC-32C of the 12 bytes before it
const RECORD_HEADER = 20;
/** Records longer than this are refused on write and treated as damage on replay. */
const MAX_RECORD_BYTES = 1 << 30;
/** Payload size at which a compacted file starts a new record. */
const COMPACT_RECORD_BYTES = 1 << 20;
/** Small records of one group are copied into one buffer of up to this size per write call. */
const WRITE_CHUNK_BYTES = 1 << 20;
/** Window read at a time while replaying. */
const READ_WINDOW_BYTES = 4 << 20;

const OP_SET = 1;
const OP_DELETE = 2;
const OP_DELETE_RANGE = 3;
/** Flag in a key's u32 length word: the key is stored as UTF-16LE code units (it has a lone surrogate). */
const KEY_UTF16 = 0x80000000;

/**
 * The store in `dir`, usable at once: it opens (creating the directory if needed and replaying
 * the log) in the background, and every call waits for that. An open that fails (a corrupt log,
 * a lock held by another process) rejects every call with its error. `ready` settles with it.
 */
export function fileStorage(dir: string, options: FileStorageOptions = {}): FileStorage & { readonly ready: Promise<void> } {
  const opening = openFileStorage(dir, options);
  opening.catch(() => {}); // surfaced by the calls below
  let opened: FileStorage | undefined;
  void opening.then((s) => (opened = s), () => {});
  const when = <T>(use: (s: FileStorage) => Promise<T>): Promise<T> => (opened ? use(opened) : opening.then(use));
  return {
    dir,
    ready: opening.then(() => {}),
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
    const logPath = join(dir, LOG_NAME);
    if (!(await exists(logPath))) await createEmptyLog(dir);
    fh = await open(logPath, 'r+');
    const index = new SortedIndex();
    const replay = await replayLog(fh, index, logPath);
    const store = new FileStore(dir, fh, lock, index, replay, compactMinBytes, compactRatio);
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
  #queue: Pending[] = [];
  #busy = false;
  #idleWaiters: Array<() => void> = [];
  #closed = false;
  #closing: Promise<void> | undefined;
  #failed: StorageIOError | undefined;
  readonly #stats: FileStorageStats;

  constructor(dir: string, fh: FileHandle, lock: string, index: SortedIndex, replay: ReplayResult, compactMinBytes: number, compactRatio: number) {
    this.dir = dir;
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
    let pos = 0;
    let renamed = false;
    try {
      await writeAll(fh, fileHeader(), 0);
      pos = FILE_HEADER;
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
    this.#compactedSize = pos;
    this.#stats.compactions++;
    await old.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// The in-memory index

/**
 * Key → value, with the keys in a sorted array for scans. Appends in key order (log entries)
 * are O(1); other new keys go to an unsorted side list that is merged in by the next scan or
 * range delete (so replaying or writing keys in random order costs a sort, not O(n) splices).
 */
class SortedIndex {
  readonly #values = new Map<string, Uint8Array>();
  /** Sorted; when #dirty it may also hold keys since deleted (and #extra holds new keys). */
  #keys: string[] = [];
  #extra: string[] = [];
  #dirty = false;
  liveBytes = 0;

  get size(): number {
    return this.#values.size;
  }

  get(key: string): Uint8Array | undefined {
    return this.#values.get(key);
  }

  set(key: string, value: Uint8Array): void {
    const old = this.#values.get(key);
    this.#values.set(key, value);
    if (old !== undefined) {
      this.liveBytes += value.length - old.length;
      return;
    }
    this.liveBytes += entrySize(key, value);
    const keys = this.#keys;
    if (!this.#dirty && (keys.length === 0 || keys[keys.length - 1]! < key)) keys.push(key);
    else {
      this.#extra.push(key);
      this.#dirty = true;
    }
  }

  delete(key: string): void {
    const old = this.#values.get(key);
    if (old === undefined) return;
    this.#values.delete(key);
    this.liveBytes -= entrySize(key, old);
    if (this.#dirty) return; // #normalize drops it
    const keys = this.#keys;
    if (keys[keys.length - 1] === key) keys.pop();
    else keys.splice(lowerBound(keys, key), 1);
  }

  deleteRange(start: string, end: string): void {
    if (!(start < end)) return;
    this.#normalize();
    const keys = this.#keys;
    const from = lowerBound(keys, start);
    const to = lowerBound(keys, end);
    if (from === to) return;
    for (let i = from; i < to; i++) {
      const key = keys[i]!;
      this.liveBytes -= entrySize(key, this.#values.get(key)!);
      this.#values.delete(key);
    }
    keys.splice(from, to - from);
  }

  scan(start: string, end: string | undefined, reverse: boolean, limit: number): Array<[string, Uint8Array]> {
    this.#normalize();
    const keys = this.#keys;
    const from = lowerBound(keys, start);
    const to = end === undefined ? keys.length : Math.max(from, lowerBound(keys, end));
    const out: Array<[string, Uint8Array]> = [];
    if (reverse) {
      for (let i = to - 1; i >= from && out.length < limit; i--) out.push([keys[i]!, this.#values.get(keys[i]!)!.slice()]);
    } else {
      for (let i = from; i < to && out.length < limit; i++) out.push([keys[i]!, this.#values.get(keys[i]!)!.slice()]);
    }
    return out;
  }

  /** Sorted keys and their values, as of now (values are never mutated, so sharing them is safe). */
  snapshot(): { keys: string[]; values: Uint8Array[] } {
    this.#normalize();
    const keys = this.#keys.slice();
    return { keys, values: keys.map((k) => this.#values.get(k)!) };
  }

  #normalize(): void {
    if (!this.#dirty) return;
    const values = this.#values;
    const extra = this.#extra.filter((k) => values.has(k)).sort();
    const old = this.#keys;
    const out: string[] = [];
    let i = 0;
    let j = 0;
    let last: string | undefined;
    while (i < old.length || j < extra.length) {
      let k: string;
      if (j >= extra.length || (i < old.length && old[i]! < extra[j]!)) k = old[i++]!;
      else k = extra[j++]!;
      // Drop deleted keys and duplicates (a key deleted and set again while dirty).
      if (k !== last && values.has(k)) {
        out.push(k);
        last = k;
      }
    }
    this.#keys = out;
    this.#extra = [];
    this.#dirty = false;
  }
}

function entrySize(key: string, value: Uint8Array): number {
  return 9 + key.length + value.length;
}

/** First index whose key is >= target. */
function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Record encoding

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Encoded length of a key, with KEY_UTF16 set when it must be stored as UTF-16 (a lone
 * surrogate, which UTF-8 cannot carry; keys are stored exactly as given).
 */
function keyWord(key: string): number {
  const n = key.length;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? key.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else {
        return (KEY_UTF16 | (2 * n)) >>> 0;
      }
    } else bytes += 3;
  }
  return bytes;
}

function opSize(op: StorageOp): number {
  if (op.type === 'set') return 1 + 4 + (keyWord(op.key) & ~KEY_UTF16) + 4 + op.value.length;
  if (op.type === 'delete') return 1 + 4 + (keyWord(op.key) & ~KEY_UTF16);
  return 1 + 4 + (keyWord(op.start) & ~KEY_UTF16) + 4 + (keyWord(op.end) & ~KEY_UTF16);
}

function writeKey(buf: Uint8Array, view: DataView, pos: number, key: string): number {
  const word = keyWord(key);
  const len = word & ~KEY_UTF16;
  view.setUint32(pos, word, true);
  pos += 4;
  if (word & KEY_UTF16) {
    for (let i = 0; i < key.length; i++) view.setUint16(pos + 2 * i, key.charCodeAt(i), true);
  } else if (len === key.length) {
    for (let i = 0; i < len; i++) buf[pos + i] = key.charCodeAt(i);
  } else {
    utf8Encoder.encodeInto(key, buf.subarray(pos, pos + len));
  }
  return pos + len;
}

/** A record with header space (filled by sealRecord) and the payload for `ops`, payload CRC included. */
function encodeRecord(ops: readonly StorageOp[]): Uint8Array {
  let size = 0;
  for (const op of ops) size += opSize(op);
  if (size > MAX_RECORD_BYTES) throw new StorageArgumentError(`a storage record is limited to ${MAX_RECORD_BYTES} bytes, this one has ${size}`);
  const buf = new Uint8Array(RECORD_HEADER + size);
  const view = new DataView(buf.buffer);
  let pos = RECORD_HEADER;
  for (const op of ops) {
    if (op.type === 'set') {
      buf[pos++] = OP_SET;
      pos = writeKey(buf, view, pos, op.key);
      view.setUint32(pos, op.value.length, true);
      pos += 4;
      buf.set(op.value, pos);
      pos += op.value.length;
    } else if (op.type === 'delete') {
      buf[pos++] = OP_DELETE;
      pos = writeKey(buf, view, pos, op.key);
    } else {
      buf[pos++] = OP_DELETE_RANGE;
      pos = writeKey(buf, view, pos, op.start);
      pos = writeKey(buf, view, pos, op.end);
    }
  }
  view.setUint32(0, size, true);
  view.setUint32(12, crc32c(buf, RECORD_HEADER, buf.length), true);
  return buf;
}

/** Fills in the group start and the header checksum. */
function sealRecord(record: Uint8Array, groupStart: number): void {
  const view = new DataView(record.buffer, record.byteOffset, RECORD_HEADER);
  view.setUint32(4, groupStart >>> 0, true);
  view.setUint32(8, Math.floor(groupStart / 0x100000000), true);
  view.setUint32(16, crc32c(record, 0, 16), true);
}

function fileHeader(): Uint8Array {
  const buf = new Uint8Array(FILE_HEADER);
  buf.set(FILE_MAGIC, 0);
  const view = new DataView(buf.buffer);
  view.setUint32(8, FILE_VERSION, true);
  view.setUint32(12, crc32c(buf, 0, 12), true);
  return buf;
}

function decodeKey(buf: Uint8Array, pos: number, word: number): string {
  const len = word & ~KEY_UTF16;
  if (word & KEY_UTF16) {
    let s = '';
    for (let i = 0; i < len; i += 2) s += String.fromCharCode(buf[pos + i]! | (buf[pos + i + 1]! << 8));
    return s;
  }
  if (len <= 256) {
    let ascii = true;
    for (let i = 0; i < len; i++) if (buf[pos + i]! >= 0x80) ascii = false;
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(pos, pos + len) as unknown as number[]);
  }
  return utf8Decoder.decode(buf.subarray(pos, pos + len));
}

/** Reads a record payload: bounds-checked, no allocation besides keys and values. */
class PayloadReader {
  buf: Uint8Array = new Uint8Array(0);
  view: DataView = new DataView(this.buf.buffer);
  pos = 0;
  end = 0;

  /** Reads from `buf` (with `view` over the same bytes) between start and end. */
  reset(buf: Uint8Array, view: DataView, start: number, end: number): void {
    this.buf = buf;
    this.view = view;
    this.pos = start;
    this.end = end;
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new Error('operation runs past the end of its record');
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  key(): string {
    const word = this.u32();
    const len = word & ~KEY_UTF16;
    this.need(len);
    if (word & KEY_UTF16 && len % 2 !== 0) throw new Error('odd UTF-16 key length');
    const key = decodeKey(this.buf, this.pos, word);
    this.pos += len;
    return key;
  }
}

const payloadReader = new PayloadReader();

/**
 * Replayed values are copied out of the read window (which must not stay pinned). Small ones
 * are copied into shared 64 KiB arenas: one allocation per value is most of the cost of
 * replaying many small entries (measured ~5x slower). An arena stays in memory while any value
 * in it is live, so the memory this pins is at most the size of the log replayed, the same
 * bound as the log itself (compactRatio times the live data, or compactMinBytes).
 */
const ARENA_BYTES = 64 << 10;
const ARENA_MAX_VALUE = 1024;
let arena = new Uint8Array(0);
let arenaUsed = 0;

function copyOut(buf: Uint8Array, start: number, len: number): Uint8Array {
  if (len > ARENA_MAX_VALUE) return buf.slice(start, start + len);
  if (arenaUsed + len > arena.length) {
    arena = new Uint8Array(ARENA_BYTES);
    arenaUsed = 0;
  }
  const v = arena.subarray(arenaUsed, arenaUsed + len);
  v.set(buf.subarray(start, start + len));
  arenaUsed += len;
  return v;
}

/** Applies a record's operations to the index; throws on a payload that does not parse. */
function applyPayload(index: SortedIndex, buf: Uint8Array, view: DataView, start: number, end: number): void {
  const r = payloadReader;
  r.reset(buf, view, start, end);
  while (r.pos < end) {
    const type = buf[r.pos++];
    if (type === OP_SET) {
      const key = r.key();
      const len = r.u32();
      r.need(len);
      index.set(key, copyOut(buf, r.pos, len));
      r.pos += len;
    } else if (type === OP_DELETE) {
      index.delete(r.key());
    } else if (type === OP_DELETE_RANGE) {
      const from = r.key();
      index.deleteRange(from, r.key());
    } else {
      throw new Error(`unknown operation type ${String(type)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Replay and recovery

interface ReplayResult {
  end: number;
  records: number;
  truncatedBytes: number;
  fsyncs: number;
}

interface RecordHeader {
  length: number;
  groupStart: number;
  payloadCrc: number;
}

/** Parses a record header at buf[at]; undefined when it is not an intact, plausible header for file offset `pos`. */
function parseHeader(buf: Uint8Array, view: DataView, at: number, pos: number, fileSize: number): RecordHeader | undefined {
  const length = view.getUint32(at, true);
  if (length === 0 || length > MAX_RECORD_BYTES || pos + RECORD_HEADER + length > fileSize) return undefined;
  const high = view.getUint32(at + 8, true);
  if (high > 0x1fffff) return undefined;
  const groupStart = high * 0x100000000 + view.getUint32(at + 4, true);
  if (groupStart > pos || groupStart < FILE_HEADER) return undefined;
  if (crc32c(buf, at, at + 16) !== view.getUint32(at + 16, true)) return undefined;
  return { length, groupStart, payloadCrc: view.getUint32(at + 12, true) };
}

async function replayLog(fh: FileHandle, index: SortedIndex, path: string): Promise<ReplayResult> {
  const size = (await fh.stat()).size;
  if (size < FILE_HEADER) throw new StorageCorruptionError(`${path} is not a storage log: ${size} bytes, shorter than its header`);
  const header = new Uint8Array(FILE_HEADER);
  await readAll(fh, header, 0);
  const expected = fileHeader();
  if (!header.every((b, i) => b === expected[i])) {
    throw new StorageCorruptionError(`${path} is not a storage log of this version (bad file header)`);
  }
  // A window of the file, [winStart, winStart + win.length); records are parsed from it
  // synchronously and it is refilled (one read) only when the next record runs past it.
  let win = new Uint8Array(0);
  let view = new DataView(win.buffer);
  let winStart = FILE_HEADER;
  const fill = async (from: number, n: number) => {
    win = new Uint8Array(Math.min(Math.max(n, READ_WINDOW_BYTES), size - from));
    await readAll(fh, win, from);
    view = new DataView(win.buffer);
    winStart = from;
  };
  let pos = FILE_HEADER;
  let records = 0;
  while (pos + RECORD_HEADER <= size) {
    if (pos + RECORD_HEADER > winStart + win.length) await fill(pos, RECORD_HEADER);
    const h = parseHeader(win, view, pos - winStart, pos, size);
    if (h === undefined) break;
    const recordEnd = pos + RECORD_HEADER + h.length;
    if (recordEnd > winStart + win.length) await fill(pos, RECORD_HEADER + h.length);
    const at = pos - winStart + RECORD_HEADER;
    if (crc32c(win, at, at + h.length) !== h.payloadCrc) break;
    try {
      applyPayload(index, win, view, at, at + h.length);
    } catch (err) {
      throw new StorageCorruptionError(`${path}: record at offset ${pos} has a valid checksum but does not parse (${(err as Error).message})`);
    }
    records++;
    pos = recordEnd;
  }
  let truncatedBytes = 0;
  let fsyncs = 0;
  if (pos < size) {
    const later = await findLaterGroup(fh, pos, size);
    if (later !== undefined) {
      throw new StorageCorruptionError(
        `${path} is corrupt: the record at offset ${pos} is damaged, but an intact record written after it was synced follows at offset ${later}; refusing to drop acknowledged data (restore the directory from a replica or a backup)`,
      );
    }
    // A torn tail: the last group was being written when the process stopped; none of it was acknowledged.
    truncatedBytes = size - pos;
    await fh.truncate(pos);
    await fh.datasync();
    fsyncs++;
  }
  return { end: pos, records, truncatedBytes, fsyncs };
}

/**
 * After damage at `bad`, looks for an intact record whose group began after `bad`: proof that
 * the damaged bytes had been synced (a later group is written only after the previous one's
 * fdatasync), so they are corruption rather than a torn tail. Scans every byte offset, because
 * the damaged record's own length cannot be trusted. Limits: damage inside the last group is
 * always taken for a torn tail (nothing tells whether its fdatasync had returned), and a stored
 * value that happens to contain a well-formed record could be taken for a later group, which
 * errs on the safe side (refusing to open rather than dropping data).
 */
async function findLaterGroup(fh: FileHandle, bad: number, size: number): Promise<number | undefined> {
  const CHUNK = 8 << 20;
  for (let chunkStart = bad + 1; chunkStart + RECORD_HEADER <= size; chunkStart += CHUNK) {
    const len = Math.min(CHUNK + RECORD_HEADER - 1, size - chunkStart);
    const buf = new Uint8Array(len);
    await readAll(fh, buf, chunkStart);
    const view = new DataView(buf.buffer);
    for (let at = 0; at + RECORD_HEADER <= len && at < CHUNK; at++) {
      const pos = chunkStart + at;
      // Cheap filters first: most garbage fails them before any checksum is computed.
      const length = view.getUint32(at, true);
      if (length === 0 || pos + RECORD_HEADER + length > size) continue;
      const groupStart = view.getUint32(at + 8, true) * 0x100000000 + view.getUint32(at + 4, true);
      if (groupStart <= bad || groupStart > pos) continue;
      const h = parseHeader(buf, view, at, pos, size);
      if (h === undefined) continue;
      const payload = new Uint8Array(h.length);
      await readAll(fh, payload, pos + RECORD_HEADER);
      if (crc32c(payload, 0, payload.length) === h.payloadCrc) return pos;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// File helpers

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    done += bytesWritten;
  }
}

async function readAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead <= 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}

/** Writes consecutive records from `position`: small ones copied together, large ones as they are. */
async function writeRecords(fh: FileHandle, records: readonly Uint8Array[], position: number): Promise<void> {
  if (records.length === 1) return writeAll(fh, records[0]!, position);
  let i = 0;
  let pos = position;
  while (i < records.length) {
    const first = records[i]!;
    if (first.length >= WRITE_CHUNK_BYTES / 4) {
      await writeAll(fh, first, pos);
      pos += first.length;
      i++;
      continue;
    }
    let j = i;
    let bytes = 0;
    while (j < records.length && records[j]!.length < WRITE_CHUNK_BYTES / 4 && bytes + records[j]!.length <= WRITE_CHUNK_BYTES) {
      bytes += records[j]!.length;
      j++;
    }
    const chunk = new Uint8Array(bytes);
    let at = 0;
    for (let k = i; k < j; k++) {
      chunk.set(records[k]!, at);
      at += records[k]!.length;
    }
    await writeAll(fh, chunk, pos);
    pos += bytes;
    i = j;
  }
}

async function createEmptyLog(dir: string): Promise<void> {
  const nextPath = join(dir, NEXT_NAME);
  const fh = await open(nextPath, 'w');
  try {
    await writeAll(fh, fileHeader(), 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(nextPath, join(dir, LOG_NAME));
  await syncDir(dir);
}

/** fsync on the directory makes a rename or a new file durable; platforms that cannot (Windows) are skipped. */
async function syncDir(dir: string): Promise<void> {
  let dh: FileHandle;
  try {
    dh = await open(dir, 'r');
  } catch (err) {
    if (isCode(err, 'EISDIR', 'EPERM', 'EACCES')) return;
    throw err;
  }
  try {
    await dh.sync();
  } catch (err) {
    if (!isCode(err, 'EISDIR', 'EINVAL', 'EPERM', 'EBADF')) throw err;
  } finally {
    await dh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw err;
  }
}

function isCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

function ignoreMissing(err: unknown): void {
  if (!isCode(err, 'ENOENT')) throw err;
}

// ---------------------------------------------------------------------------------------------
// The directory lock

/**
 * Takes dir/LOCK, created exclusively ('wx') and holding "pid nonce". A lock whose process is
 * gone (killed, crashed) is stale and taken over. Two processes taking over the same stale
 * lock at the same instant could both succeed; re-reading the lock after writing it narrows
 * that window to nearly nothing. Returns the lock's contents, to release only our own lock.
 */
async function acquireLock(dir: string): Promise<string> {
  const path = join(dir, LOCK_NAME);
  const nonce = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  const token = `${process.pid} ${nonce}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await writeFile(path, token, { flag: 'wx' });
      if ((await readFile(path, 'utf8').catch(() => '')) === token) return token;
      continue;
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
    }
    let content: string;
    let mtimeMs: number;
    try {
      content = await readFile(path, 'utf8');
      mtimeMs = (await stat(path)).mtimeMs;
    } catch (err) {
      if (isCode(err, 'ENOENT')) continue; // released meanwhile
      throw err;
    }
    const pid = Number.parseInt(content, 10);
    let holder: string;
    if (Number.isSafeInteger(pid) && pid > 0) {
      const alive = await processAlive(pid);
      if (alive === false) {
        await unlink(path).catch(ignoreMissing);
        continue;
      }
      holder =
        pid === process.pid
          ? `this process (pid ${pid}) already has it open`
          : alive
            ? `process ${pid} has it open`
            : `process ${pid} may have it open (this runtime may not check whether it is alive: under Deno, allow --allow-run)`;
    } else {
      // Created but not yet written by its owner, or left half-written by a crash long ago.
      if (Date.now() - mtimeMs > 10_000) {
        await unlink(path).catch(ignoreMissing);
        continue;
      }
      holder = 'another process is opening it';
    }
    throw new StorageLockedError(
      `storage directory ${dir} is locked: ${holder} (lock file ${path}; remove it only if no process uses the directory)`,
    );
  }
  throw new StorageLockedError(`storage directory ${dir}: could not take the lock file ${path}`);
}

async function releaseLock(dir: string, token: string): Promise<void> {
  const path = join(dir, LOCK_NAME);
  try {
    if ((await readFile(path, 'utf8')) === token) await unlink(path);
  } catch {
    // already gone
  }
}

/** Whether process `pid` exists; undefined when this runtime may not ask. */
async function processAlive(pid: number): Promise<boolean | undefined> {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if (isCode(err, 'ESRCH')) return false;
    if (isCode(err, 'EPERM')) return true;
  }
  // Not allowed to signal (Deno without --allow-run): look in /proc where there is one and we may.
  try {
    if (await exists(`/proc/${pid}`)) return true;
    if (await exists('/proc/self')) return false;
  } catch {
    // not allowed to read /proc either
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// CRC-32C (Castagnoli), slicing by 8

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** CRC-32C of bytes[start, end), as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = CRC_TABLE;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
