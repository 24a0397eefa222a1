// Record encoding of the file storage log.
import { StorageArgumentError, type StorageOp } from '../types.ts';
import { crc32c } from './crc.ts';
import type { SortedIndex } from './sorted-index.ts';

export const RECORD_HEADER = 20;
/** Records longer than this are refused on write and treated as damage on replay. */
export const MAX_RECORD_BYTES = 1 << 30;
const OP_SET = 1;
const OP_DELETE = 2;
const OP_DELETE_RANGE = 3;
/** Flag in a key's u32 length word: the key is stored as UTF-16LE code units (it has a lone surrogate). */
export const KEY_UTF16 = 0x80000000;

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

export function opSize(op: StorageOp): number {
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
export function encodeRecord(ops: readonly StorageOp[]): Uint8Array {
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
export function sealRecord(record: Uint8Array, groupStart: number): void {
  const view = new DataView(record.buffer, record.byteOffset, RECORD_HEADER);
  view.setUint32(4, groupStart >>> 0, true);
  view.setUint32(8, Math.floor(groupStart / 0x100000000), true);
  view.setUint32(16, crc32c(record, 0, 16), true);
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
export function applyPayload(index: SortedIndex, buf: Uint8Array, view: DataView, start: number, end: number): void {
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

