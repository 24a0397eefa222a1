// Replay and recovery of the file storage log.
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc.ts';
import { StorageCorruptionError } from './errors.ts';
import { readAll, syncDir, writeAll } from './io.ts';
import { applyPayload, MAX_RECORD_BYTES, RECORD_HEADER } from './record.ts';
import type { SortedIndex } from './sorted-index.ts';

const LOG_NAME = 'storage.log';
const NEXT_NAME = 'storage.log.next';

export const FILE_MAGIC = [0x53, 0x43, 0x4b, 0x56, 0x4c, 0x4f, 0x47, 0x0a]; // "SCKVLOG\n"
export const FILE_VERSION = 1;
export const FILE_HEADER = 16; // magic, u32 version, u32 CRC-32C of the 12 bytes before it
/** Window read at a time while replaying. */
export const READ_WINDOW_BYTES = 4 << 20;

export function fileHeader(): Uint8Array {
  const buf = new Uint8Array(FILE_HEADER);
  buf.set(FILE_MAGIC, 0);
  const view = new DataView(buf.buffer);
  view.setUint32(8, FILE_VERSION, true);
  view.setUint32(12, crc32c(buf, 0, 12), true);
  return buf;
}


export interface ReplayResult {
  end: number;
  records: number;
  truncatedBytes: number;
  fsyncs: number;
}

export interface RecordHeader {
  length: number;
  groupStart: number;
  payloadCrc: number;
}

/** Parses a record header at buf[at]; undefined when it is not an intact, plausible header for file offset `pos`. */
export function parseHeader(buf: Uint8Array, view: DataView, at: number, pos: number, fileSize: number): RecordHeader | undefined {
  const length = view.getUint32(at, true);
  if (length === 0 || length > MAX_RECORD_BYTES || pos + RECORD_HEADER + length > fileSize) return undefined;
  const high = view.getUint32(at + 8, true);
  if (high > 0x1fffff) return undefined;
  const groupStart = high * 0x100000000 + view.getUint32(at + 4, true);
  if (groupStart > pos || groupStart < FILE_HEADER) return undefined;
  if (crc32c(buf, at, at + 16) !== view.getUint32(at + 16, true)) return undefined;
  return { length, groupStart, payloadCrc: view.getUint32(at + 12, true) };
}

export async function replayLog(fh: FileHandle, index: SortedIndex, path: string): Promise<ReplayResult> {
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
export async function findLaterGroup(fh: FileHandle, bad: number, size: number): Promise<number | undefined> {
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

export async function createEmptyLog(dir: string): Promise<void> {
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
