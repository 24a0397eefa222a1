// File storage: damage that a crash cannot produce is refused with StorageDamagedError (a log
// cut short, even at a record boundary; a damaged record before the acknowledged end; a deleted
// or rolled-back log), while everything a crash can leave still opens. Runs under Node and Deno.
//
// "While open" states: readFile on an open store's files sees what the kernel has, which is what
// a SIGKILL leaves (the page cache survives the process). close() also writes storage.meta, so
// states captured while open test the log's own checkpoint without that help.
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/crypto/index.ts';
import { createReplica } from '../../src/index.ts';
import { crc32c, fileStorage, openFileStorage, StorageCorruptionError, StorageDamagedError, type FileStorage } from '../../src/storage/file.ts';
import { counter } from '../fixtures/machines.ts';

let base = '';
let dirs = 0;
const freshDir = () => join(base, `d${++dirs}`);
const LOG = 'storage.log';
const META = 'storage.meta';
const DATA_START = 1536;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'statechorus-damage-'));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

const valueFor = (key: string, n: number) => new Uint8Array(n).map((_, i) => (key.charCodeAt(i % key.length) + i) & 255);
const keyOf = (i: number) => `w/${String(i).padStart(4, '0')}`;

interface Files {
  log: Uint8Array;
  meta: Uint8Array | undefined;
}

async function capture(dir: string): Promise<Files> {
  const meta = await readFile(join(dir, META)).then((b) => new Uint8Array(b), () => undefined);
  return { log: new Uint8Array(await readFile(join(dir, LOG))), meta };
}

async function restore(dir: string, files: Files): Promise<void> {
  await writeFile(join(dir, LOG), files.log);
  if (files.meta) await writeFile(join(dir, META), files.meta);
  else await unlink(join(dir, META)).catch(() => {});
}

/** What opening gives: the error, or the data and how many torn bytes were cut. */
async function tryOpen(dir: string): Promise<{ error?: StorageDamagedError; keys?: string[]; truncated?: number }> {
  let s: FileStorage;
  try {
    s = await openFileStorage(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(StorageDamagedError);
    return { error: err as StorageDamagedError };
  }
  const keys = (await s.scan()).map(([k]) => k);
  const truncated = s.stats().truncatedBytes;
  await s.close();
  return { keys, truncated };
}

/**
 * `n` writes in groups of `perGroup` concurrent sets, each group one fdatasync; returns the
 * record boundaries where each group ended, the files as a kill would leave them right after
 * the last acknowledgement (`whileOpen`), and as close leaves them (`closed`).
 */
async function acknowledged(n: number, perGroup: number, valueBytes = 60): Promise<{ dir: string; ends: number[]; whileOpen: Files; closed: Files }> {
  const dir = freshDir();
  const s = await openFileStorage(dir);
  const ends: number[] = [];
  for (let i = 0; i < n; i += perGroup) {
    await Promise.all(Array.from({ length: Math.min(perGroup, n - i) }, (_, j) => s.set(keyOf(i + j), valueFor(keyOf(i + j), valueBytes))));
    ends.push(s.stats().logBytes);
  }
  expect(s.stats().groups).toBe(ends.length);
  const whileOpen = await capture(dir);
  await s.close();
  return { dir, ends, whileOpen, closed: await capture(dir) };
}

describe('fileStorage refuses damage a crash cannot produce', () => {
  it('refuses a log truncated to 10% of its length (1,000 acknowledged writes), naming the path, both lengths and what to do', async () => {
    const { dir, whileOpen, closed } = await acknowledged(1000, 10);
    for (const [state, files] of [['closed', closed], ['killed', whileOpen]] as const) {
      const cut = Math.floor(files.log.length / 10);
      await restore(dir, { ...files, log: files.log.subarray(0, cut) });
      const { error } = await tryOpen(dir);
      expect(error, state).toBeInstanceOf(StorageCorruptionError);
      expect(error!.damage).toBe('shortened');
      expect(error!.path).toBe(join(dir, LOG));
      expect(error!.expected).toBe(files.log.length);
      expect(error!.found).toBe(cut);
      expect(error!.message).toContain(`${join(dir, LOG)} (generation 1) is ${cut} bytes long, but ${files.log.length} bytes were synced and acknowledged`);
      expect(error!.message).toMatch(/move the directory away .* recovers its state from its peers/);
      // the refused log is left as it was, for inspection
      expect((await stat(join(dir, LOG))).size).toBe(cut);
    }
  });

  it('refuses a log cut at any record boundary before the acknowledged end (the tail looks clean)', async () => {
    const { dir, ends, whileOpen } = await acknowledged(40, 2);
    // ends[i]: where group i ended; every cut there leaves only whole records
    for (const cut of [DATA_START, ...ends.slice(0, -1)]) {
      await restore(dir, { ...whileOpen, log: whileOpen.log.subarray(0, cut) });
      const { error } = await tryOpen(dir);
      expect(error?.damage, `cut at ${cut}`).toBe('shortened');
      expect(error!.expected).toBe(ends[ends.length - 1]);
    }
    // the whole log opens
    await restore(dir, whileOpen);
    expect((await tryOpen(dir)).keys).toHaveLength(40);
  });

  it('refuses damage to any acknowledged record, including the last one', async () => {
    const { dir, ends, whileOpen, closed } = await acknowledged(40, 4, 300);
    for (const files of [whileOpen, closed]) {
      // a flipped bit in the middle, in the last acknowledged record, and a zeroed 4 KiB page
      for (const [what, from, to] of [
        ['bit in the middle', ends[4]! + 30, ends[4]! + 31],
        ['bit in the last record', ends[ends.length - 1]! - 5, ends[ends.length - 1]! - 4],
        ['zeroed page', 4096, 8192],
      ] as const) {
        const log = files.log.slice();
        for (let i = from; i < to; i++) log[i] = what === 'zeroed page' ? 0 : log[i]! ^ 0x10;
        await restore(dir, { ...files, log });
        const { error } = await tryOpen(dir);
        expect(error?.damage, what).toBe('damaged');
        expect(error!.message).toMatch(/is damaged at offset \d+, before the end of acknowledged data at \d+/);
      }
    }
  });

  it('refuses a log whose checkpoints are both damaged, and opens with one torn slot', async () => {
    const { dir, whileOpen } = await acknowledged(10, 1);
    const slots = [512, 1024];
    for (const torn of [[512], [1024], slots]) {
      const log = whileOpen.log.slice();
      for (const at of torn) log.fill(0xee, at, at + 32);
      await restore(dir, { ...whileOpen, log });
      const result = await tryOpen(dir);
      if (torn.length === 2) expect(result.error?.damage).toBe('damaged');
      else expect(result.keys).toHaveLength(10); // the other slot is one group older; the last group replays
    }
  });

  it('refuses a deleted log while storage.meta remains; a directory with neither is a new store', async () => {
    const { dir } = await acknowledged(5, 1);
    await unlink(join(dir, LOG));
    const { error } = await tryOpen(dir);
    expect(error?.damage).toBe('missing');
    expect(error!.message).toContain(`${join(dir, LOG)} is missing, but ${join(dir, META)} says a log of generation 1`);
    await unlink(join(dir, META));
    expect((await tryOpen(dir)).keys).toEqual([]);
  });

  it('refuses a log rolled back to a copy from before the last compaction, or shorter than at the last close', async () => {
    const dir = freshDir();
    let s = await openFileStorage(dir);
    for (let i = 0; i < 20; i++) await s.set(keyOf(i), valueFor(keyOf(i), 100));
    const old = (await capture(dir)).log;
    await s.compact();
    await s.close();
    await writeFile(join(dir, LOG), old);
    const replaced = await tryOpen(dir);
    expect(replaced.error?.damage).toBe('replaced');
    expect([replaced.error!.expected, replaced.error!.found]).toEqual([2, 1]);

    // same generation: a copy taken before the last writes of a clean run
    const dir2 = freshDir();
    s = await openFileStorage(dir2);
    await s.set('a', valueFor('a', 10));
    const early = await capture(dir2);
    await s.set('b', valueFor('b', 10));
    await s.close();
    await writeFile(join(dir2, LOG), early.log);
    expect((await tryOpen(dir2)).error?.damage).toBe('shortened');
  });
});

describe('a replica on a damaged log', () => {
  it('refuses to start with the storage error instead of serving from what is left', async () => {
    const { dir, closed } = await acknowledged(50, 5);
    await restore(dir, { ...closed, log: closed.log.subarray(0, Math.floor(closed.log.length / 2)) });
    const identity = await generateIdentity();
    const storage = fileStorage(dir);
    const replica = createReplica({
      machine: counter,
      identity,
      group: { faultModel: 'crash', members: [{ id: 'solo', publicKey: identity.publicKey }] },
      transport: { send: () => {}, onMessage: () => {} },
      storage,
    });
    try {
      await expect(replica.start()).rejects.toThrow(StorageDamagedError);
      expect(replica.status().running).toBe(false);
    } finally {
      await replica.stop().catch(() => {});
      await storage.close();
    }
  });
});

describe('fileStorage still opens everything a crash can leave', () => {
  it('cuts a torn last group silently, whatever the cut, and appends after it', async () => {
    const dir = freshDir();
    const s = await openFileStorage(dir);
    await Promise.all(Array.from({ length: 5 }, (_, i) => s.set(keyOf(i), valueFor(keyOf(i), 50))));
    const groupStart = s.stats().logBytes;
    const before = await capture(dir); // a kill during the next group leaves this header and storage.meta
    await Promise.all(Array.from({ length: 5 }, (_, i) => s.set(keyOf(5 + i), valueFor(keyOf(5 + i), 50))));
    await s.close();
    const after = await capture(dir);
    for (let cut = groupStart; cut <= after.log.length; cut += 7) {
      const log = new Uint8Array(cut);
      log.set(after.log.subarray(0, cut));
      log.set(before.log.subarray(0, DATA_START));
      await restore(dir, { log, meta: before.meta });
      const { error, keys, truncated } = await tryOpen(dir);
      expect(error, `cut at ${cut}`).toBeUndefined();
      expect(keys!.length).toBeGreaterThanOrEqual(5);
      expect(keys).toEqual(Array.from({ length: keys!.length }, (_, i) => keyOf(i)));
      expect(truncated).toBeLessThan(after.log.length - groupStart);
      // the next open of the same directory finds a clean log (cut, appended to, closed)
      expect((await tryOpen(dir)).truncated).toBe(0);
    }
  });

  it('opens a compaction that was renamed into place before storage.meta was replaced', async () => {
    const dir = freshDir();
    const s = await openFileStorage(dir);
    for (let i = 0; i < 10; i++) await s.set(keyOf(i), valueFor(keyOf(i), 100));
    const metaBefore = (await capture(dir)).meta!;
    await s.compact();
    await s.close();
    await writeFile(join(dir, META), metaBefore); // generation 1 while the log is generation 2
    expect((await tryOpen(dir)).keys).toHaveLength(10);
    await unlink(join(dir, META)); // and no storage.meta at all (a crash right after creating the log)
    expect((await tryOpen(dir)).keys).toHaveLength(10);
    expect((await capture(dir)).meta).toBeDefined();
  });

  it('opens a version 1 log (no checkpoint) and rewrites it in the current format', async () => {
    const dir = freshDir();
    await (await openFileStorage(dir)).close();
    await unlink(join(dir, META));
    // the version 1 header, then one record setting "k" to [1, 2, 3]
    const header = new Uint8Array(16);
    header.set([0x53, 0x43, 0x4b, 0x56, 0x4c, 0x4f, 0x47, 0x0a]);
    new DataView(header.buffer).setUint32(8, 1, true);
    new DataView(header.buffer).setUint32(12, crc32c(header, 0, 12), true);
    const payload = new Uint8Array([1, 1, 0, 0, 0, 0x6b, 3, 0, 0, 0, 1, 2, 3]);
    const record = new Uint8Array(20 + payload.length);
    const view = new DataView(record.buffer);
    view.setUint32(0, payload.length, true);
    view.setUint32(4, 16, true); // group start
    view.setUint32(12, crc32c(payload), true);
    view.setUint32(16, crc32c(record, 0, 16), true);
    record.set(payload, 20);
    await writeFile(join(dir, LOG), new Uint8Array([...header, ...record]));
    const s = await openFileStorage(dir);
    expect(await s.get('k')).toEqual(new Uint8Array([1, 2, 3]));
    expect(s.stats().compactions).toBe(1);
    await s.set('more', new Uint8Array([4]));
    await s.close();
    const files = await capture(dir);
    expect(new DataView(files.log.buffer).getUint32(8, true)).toBe(2);
    expect(files.meta).toBeDefined();
    expect((await tryOpen(dir)).keys).toEqual(['k', 'more']);
  });

  it('keeps group commit: 64 concurrent writers need about 1/64 fsync per write', async () => {
    const s = await openFileStorage(freshDir());
    await s.set('warm', new Uint8Array(1));
    const before = s.stats();
    const writers = 64;
    const each = 20;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < each; i++) await s.set(`w${w}/${i}`, valueFor(`w${w}/${i}`, 100));
      }),
    );
    const after = s.stats();
    const perWrite = (after.fsyncs - before.fsyncs) / (after.writes - before.writes);
    expect(after.writes - before.writes).toBe(writers * each);
    expect(perWrite).toBeLessThanOrEqual(1.1 / writers);
    await s.close();
  });
});
