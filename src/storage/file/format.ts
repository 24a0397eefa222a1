// The file header of the storage log and its checkpoint of the durable length.
//
// Layout of the first DATA_START bytes of storage.log (little-endian):
//   0     "SCKVLOG\n", u32 version (2), u64 generation, u32 CRC-32C of the 20 bytes before it
//   512   checkpoint slot 0 } each: u64 sequence, u64 end, u64 generation, u32 0,
//   1024  checkpoint slot 1 }       u32 CRC-32C of the 28 bytes before it
//   1536  the first record
// The generation numbers the file: 1 when the store is created, +1 for each compacted file.
// A checkpoint says "the log of this generation was synced up to `end`"; after each group's
// fdatasync the store writes the next sequence number into slot (sequence % 2), with no fsync of
// its own: the next group's fdatasync (or storage.meta at close) makes it durable. A checkpoint
// is therefore never ahead of the synced records (safe after a power loss), and a torn slot
// write leaves the other slot, one group older. The slots sit in sectors of their own, apart
// from the constant part, so a torn sector costs at most one slot.
// Version 1 (a 16-byte header with no generation or checkpoint, records from offset 16) is
// still read, and compacted into version 2 when opened.
import { crc32c } from './crc.ts';
import { StorageDamagedError } from './errors.ts';

export const FILE_MAGIC = [0x53, 0x43, 0x4b, 0x56, 0x4c, 0x4f, 0x47, 0x0a]; // "SCKVLOG\n"
export const FILE_VERSION = 2;
const FIXED_HEADER = 24;
const SLOT_BYTES = 32;
const SLOT_OFFSETS = [512, 1024] as const;
export const DATA_START = 1536;
const LEGACY_VERSION = 1;
const LEGACY_HEADER = 16;

export interface LogHeader {
  version: number;
  generation: number;
  /** Offset of the first record. */
  dataStart: number;
  /** The newest intact checkpoint (none in a version 1 log). */
  checkpoint: { seq: number; end: number } | undefined;
}

export function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / 0x100000000), true);
}

/** A u64 field; undefined above 2^53 (only damage produces that). */
export function getU64(view: DataView, at: number): number | undefined {
  const high = view.getUint32(at + 4, true);
  return high > 0x1fffff ? undefined : high * 0x100000000 + view.getUint32(at, true);
}

/** The whole header region of a new file of `generation` whose records end at `end`: both slots say so. */
export function encodeFileHeader(generation: number, end: number): Uint8Array {
  const buf = new Uint8Array(DATA_START);
  buf.set(FILE_MAGIC, 0);
  const view = new DataView(buf.buffer);
  view.setUint32(8, FILE_VERSION, true);
  setU64(view, 12, generation);
  view.setUint32(20, crc32c(buf, 0, 20), true);
  buf.set(encodeSlot(generation, 0, end), SLOT_OFFSETS[0]);
  buf.set(encodeSlot(generation, 1, end), SLOT_OFFSETS[1]);
  return buf;
}

export function encodeSlot(generation: number, seq: number, end: number): Uint8Array {
  const buf = new Uint8Array(SLOT_BYTES);
  const view = new DataView(buf.buffer);
  setU64(view, 0, seq);
  setU64(view, 8, end);
  setU64(view, 16, generation);
  view.setUint32(28, crc32c(buf, 0, 28), true);
  return buf;
}

export function slotOffset(seq: number): number {
  return SLOT_OFFSETS[seq % 2]!;
}

/** Parses the start of a log (`head` holds its first min(size, DATA_START) bytes); throws StorageDamagedError. */
export function parseFileHeader(head: Uint8Array, size: number, path: string): LogHeader {
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  if (head.length < LEGACY_HEADER || !FILE_MAGIC.every((b, i) => head[i] === b)) {
    throw new StorageDamagedError(path, 'unreadable', `${path} is not a storage log (${size} bytes, no storage log header)`);
  }
  const version = view.getUint32(8, true);
  if (version === LEGACY_VERSION && crc32c(head, 0, 12) === view.getUint32(12, true)) {
    return { version, generation: 0, dataStart: LEGACY_HEADER, checkpoint: undefined };
  }
  if (version !== FILE_VERSION || head.length < FIXED_HEADER || crc32c(head, 0, 20) !== view.getUint32(20, true)) {
    throw new StorageDamagedError(path, 'unreadable', `${path} is not a storage log of this version (bad file header)`);
  }
  const generation = getU64(view, 12);
  if (generation === undefined) throw new StorageDamagedError(path, 'unreadable', `${path}: bad generation in the file header`);
  if (size < DATA_START) {
    throw new StorageDamagedError(path, 'shortened', `${path} is ${size} bytes long, shorter than its ${DATA_START}-byte header`, DATA_START, size);
  }
  let checkpoint: LogHeader['checkpoint'];
  for (const at of SLOT_OFFSETS) {
    if (crc32c(head, at, at + 28) !== view.getUint32(at + 28, true)) continue;
    const seq = getU64(view, at);
    const end = getU64(view, at + 8);
    if (seq === undefined || end === undefined || end < DATA_START || getU64(view, at + 16) !== generation) continue;
    if (checkpoint === undefined || seq > checkpoint.seq) checkpoint = { seq, end };
  }
  if (checkpoint === undefined) {
    // Each slot write touches one slot only, and a new file is synced with both: a crash leaves at least one.
    throw new StorageDamagedError(path, 'damaged', `${path}: both checkpoints of the durable length are damaged`);
  }
  return { version, generation, dataStart: DATA_START, checkpoint };
}
