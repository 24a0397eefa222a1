// The directory lock of file storage.
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { StorageLockedError } from './errors.ts';
import { exists, ignoreMissing, isCode } from './io.ts';

const LOCK_NAME = 'LOCK';


/**
 * Takes dir/LOCK, created exclusively ('wx') and holding "pid nonce". A lock whose process is
 * gone (killed, crashed) is stale and taken over. Two processes taking over the same stale
 * lock at the same instant could both succeed; re-reading the lock after writing it narrows
 * that window to nearly nothing. Returns the lock's contents, to release only our own lock.
 */
export async function acquireLock(dir: string): Promise<string> {
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

export async function releaseLock(dir: string, token: string): Promise<void> {
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

