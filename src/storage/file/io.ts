// File helpers for file storage.
import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';

/** Small records of one group are copied into one buffer of up to this size per write call. */
export const WRITE_CHUNK_BYTES = 1 << 20;

export async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    done += bytesWritten;
  }
}

export async function readAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead <= 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}

/** Writes consecutive records from `position`: small ones copied together, large ones as they are. */
export async function writeRecords(fh: FileHandle, records: readonly Uint8Array[], position: number): Promise<void> {
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

export async function syncDir(dir: string): Promise<void> {
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

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw err;
  }
}

export function isCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

export function ignoreMissing(err: unknown): void {
  if (!isCode(err, 'ENOENT')) throw err;
}

