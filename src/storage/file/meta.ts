// storage.meta: what the directory is known to hold, written (via a synced temporary file and a
// rename) when the store is created, after each compaction and at close — never per write.
// 32 bytes: "SCKVMETA", u32 version (1), u64 generation, u64 length, u32 CRC-32C of the 28 before.
// It says "a log of this generation, at least this long, was synced here", so opening can tell
// a deleted log from a new directory, and a log rolled back to an earlier generation (a copy
// from before the last compaction) or shorter than at the last close from a crash.
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc.ts';
import { StorageDamagedError } from './errors.ts';
import { getU64, setU64 } from './format.ts';
import { isCode, writeAll } from './io.ts';

export const META_NAME = 'storage.meta';
export const META_NEXT_NAME = 'storage.meta.next';
const META_MAGIC = [0x53, 0x43, 0x4b, 0x56, 0x4d, 0x45, 0x54, 0x41]; // "SCKVMETA"
const META_VERSION = 1;
const META_BYTES = 32;

export interface Meta {
  generation: number;
  /** The log of this generation was synced at least this far. */
  end: number;
}

/** The directory's storage.meta; undefined when there is none. A damaged one is refused: it is written atomically. */
export async function readMeta(dir: string): Promise<Meta | undefined> {
  const path = join(dir, META_NAME);
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(await readFile(path));
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const ok =
    buf.length === META_BYTES && META_MAGIC.every((b, i) => buf[i] === b) && view.getUint32(8, true) === META_VERSION && crc32c(buf, 0, 28) === view.getUint32(28, true);
  const generation = ok ? getU64(view, 12) : undefined;
  const end = ok ? getU64(view, 20) : undefined;
  if (generation === undefined || end === undefined) {
    throw new StorageDamagedError(path, 'damaged', `${path} is damaged (it is only ever replaced whole, so no crash leaves it so)`);
  }
  return { generation, end };
}

/**
 * Replaces storage.meta; returns the number of fsyncs (1). Its contents are synced before the
 * rename, so no crash leaves a damaged one. The directory is not synced: a rename lost with a
 * power loss leaves the previous storage.meta, which never claims more than the log holds
 * (safe, only less protective), and every log rename it could be ahead of was synced first.
 */
export async function writeMeta(dir: string, meta: Meta): Promise<number> {
  const buf = new Uint8Array(META_BYTES);
  buf.set(META_MAGIC, 0);
  const view = new DataView(buf.buffer);
  view.setUint32(8, META_VERSION, true);
  setU64(view, 12, meta.generation);
  setU64(view, 20, meta.end);
  view.setUint32(28, crc32c(buf, 0, 28), true);
  const next = join(dir, META_NEXT_NAME);
  const fh = await open(next, 'w');
  try {
    await writeAll(fh, buf, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(next, join(dir, META_NAME));
  return 1;
}
