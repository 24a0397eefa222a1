// Replay and recovery of the file storage log.
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc.ts';
import { StorageDamagedError } from './errors.ts';
import { DATA_START, encodeFileHeader, parseFileHeader, type LogHeader } from './format.ts';
import { readAll, syncDir, writeAll } from './io.ts';
import { applyPayload, MAX_RECORD_BYTES, RECORD_HEADER } from './record.ts';
import type { SortedIndex } from './sorted-index.ts';

export const LOG_NAME = 'storage.log';
export const NEXT_NAME = 'storage.log.next';

/** Window read at a time while replaying. */
const READ_WINDOW_BYTES = 4 << 20;

export interface ReplayResult {
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
function parseHeader(buf: Uint8Array, view: DataView, at: number, pos: number, fileSize: number, dataStart: number): RecordHeader | undefined {
  const length = view.getUint32(at, true);
  if (length === 0 || length > MAX_RECORD_BYTES || pos + RECORD_HEADER + length > fileSize) return undefined;
  const high = view.getUint32(at + 8, true);
  if (high > 0x1fffff) return undefined;
  const groupStart = high * 0x100000000 + view.getUint32(at + 4, true);
  if (groupStart > pos || groupStart < dataStart) return undefined;
  if (crc32c(buf, at, at + 16) !== view.getUint32(at + 16, true)) return undefined;
  return { length, groupStart, payloadCrc: view.getUint32(at + 12, true) };
}

/**
 * Replays the records of the log in `fh` (from `header.dataStart`) into `index`. `durable` is
 * how far the log was synced and acknowledged, by its checkpoint or storage.meta: damage or
 * a missing record before it is refused (no crash leaves that); past it only the last group,
 * never acknowledged, can be torn, and is cut.
 */
export async function replayLog(fh: FileHandle, index: SortedIndex, path: string, header: LogHeader, durable: number): Promise<ReplayResult> {
  const size = (await fh.stat()).size;
  const { dataStart } = header;
  const refuse = (damage: 'shortened' | 'damaged', detail: string, expected: number, found: number) =>
    new StorageDamagedError(path, damage, `${path} (generation ${header.generation}) ${detail}`, expected, found);
  // A window of the file, [winStart, winStart + win.length); records are parsed from it
  // synchronously and it is refilled (one read) only when the next record runs past it.
  let win = new Uint8Array(0);
  let view = new DataView(win.buffer);
  let winStart = dataStart;
  const fill = async (from: number, n: number) => {
    win = new Uint8Array(Math.min(Math.max(n, READ_WINDOW_BYTES), size - from));
    await readAll(fh, win, from);
    view = new DataView(win.buffer);
    winStart = from;
  };
  let pos = dataStart;
  let records = 0;
  while (pos + RECORD_HEADER <= size) {
    if (pos + RECORD_HEADER > winStart + win.length) await fill(pos, RECORD_HEADER);
    const h = parseHeader(win, view, pos - winStart, pos, size, dataStart);
    if (h === undefined) break;
    const recordEnd = pos + RECORD_HEADER + h.length;
    if (recordEnd > winStart + win.length) await fill(pos, RECORD_HEADER + h.length);
    const at = pos - winStart + RECORD_HEADER;
    if (crc32c(win, at, at + h.length) !== h.payloadCrc) break;
    // Checkpoints are taken at group ends, so a record never straddles one.
    if (pos < durable && recordEnd > durable) {
      throw refuse('damaged', `has a record at offset ${pos} that runs past the acknowledged end at ${durable}: not the log that was checkpointed`, durable, pos);
    }
    try {
      applyPayload(index, win, view, at, at + h.length);
    } catch (err) {
      throw refuse('damaged', `has a record at offset ${pos} with a valid checksum that does not parse (${(err as Error).message})`, durable, pos);
    }
    records++;
    pos = recordEnd;
  }
  if (pos < durable) {
    if (size < durable) {
      throw refuse('shortened', `is ${size} bytes long, but ${durable} bytes were synced and acknowledged (its intact records end at ${pos})`, durable, size);
    }
    throw refuse('damaged', `is damaged at offset ${pos}, before the end of acknowledged data at ${durable}`, durable, pos);
  }
  let truncatedBytes = 0;
  let fsyncs = 0;
  if (pos < size) {
    const later = await findLaterGroup(fh, pos, size, dataStart);
    if (later !== undefined) {
      throw refuse('damaged', `is damaged at offset ${pos}, but an intact record written after it was synced follows at offset ${later}`, later, pos);
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
 * the damaged record's own length cannot be trusted. Only used past the checkpointed end, which
 * can lag the synced records by a group after a power loss. Limits: a stored
 * value that happens to contain a well-formed record could be taken for a later group, which
 * errs on the safe side (refusing to open rather than dropping data).
 */
async function findLaterGroup(fh: FileHandle, bad: number, size: number, dataStart: number): Promise<number | undefined> {
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
      const h = parseHeader(buf, view, at, pos, size, dataStart);
      if (h === undefined) continue;
      const payload = new Uint8Array(h.length);
      await readAll(fh, payload, pos + RECORD_HEADER);
      if (crc32c(payload, 0, payload.length) === h.payloadCrc) return pos;
    }
  }
  return undefined;
}

/** Creates an empty log of generation 1, durably (written aside, synced, renamed, directory synced). */
export async function createEmptyLog(dir: string): Promise<void> {
  const nextPath = join(dir, NEXT_NAME);
  const fh = await open(nextPath, 'w');
  try {
    await writeAll(fh, encodeFileHeader(1, DATA_START), 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(nextPath, join(dir, LOG_NAME));
  await syncDir(dir);
}

/** Reads and checks the header of the log in `fh`. */
export async function readLogHeader(fh: FileHandle, path: string): Promise<LogHeader> {
  const size = (await fh.stat()).size;
  const head = new Uint8Array(Math.min(size, DATA_START));
  await readAll(fh, head, 0);
  return parseFileHeader(head, size, path);
}
