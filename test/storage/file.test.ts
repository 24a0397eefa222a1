// File storage: the shared contract, then recovery (reopen, torn tails, corruption),
// compaction, the directory lock and group commit. Runs under Node (vitest) and Deno.
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c, fileStorage, openFileStorage, StorageCorruptionError, StorageDamagedError, StorageLockedError, type FileStorage } from '../../src/storage/file.ts';
import { indexKey, type Storage, type StorageOp } from '../../src/storage/index.ts';
import { describeStorageContract } from './contract.ts';

let base = '';
let dirs = 0;
const freshDir = () => join(base, `s${++dirs}`);
const LOG = 'storage.log';
const META = 'storage.meta';
const DATA_START = 1536;

/** The files of a store directory (storage.meta may be absent). */
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
  else await rm(join(dir, META), { force: true });
}
/** A crash while writing a group leaves its records (`log`, torn or not) under the header and storage.meta from `before` it. */
function torn(before: Files, log: Uint8Array): Files {
  const out = log.slice();
  out.set(before.log.subarray(0, DATA_START));
  return { log: out, meta: before.meta };
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'statechorus-file-'));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

describeStorageContract('fileStorage', {
  open: async () => openFileStorage(freshDir()),
  reopen: async (s: Storage) => {
    await s.close();
    return openFileStorage((s as FileStorage).dir);
  },
});

// fileStorage(dir): usable at once, opening in the background.
describeStorageContract('fileStorage (opens in the background)', {
  open: async () => fileStorage(freshDir()),
  reopen: async (s: Storage) => {
    await s.close();
    return fileStorage((s as FileStorage).dir);
  },
});

describe('fileStorage (opens in the background)', () => {
  it('rejects every call with the open error, clearly', async () => {
    const dir = freshDir();
    const first = await openFileStorage(dir);
    const second = fileStorage(dir);
    await expect(second.ready).rejects.toThrow(StorageLockedError);
    await expect(second.get('k')).rejects.toThrow(StorageLockedError);
    await expect(second.set('k', new Uint8Array(1))).rejects.toThrow(StorageLockedError);
    await second.close();
    await first.close();
  });
});

const bytes = (...xs: number[]) => new Uint8Array(xs);
const text = (s: string) => new TextEncoder().encode(s);
const valueFor = (key: string, n: number) => new Uint8Array(n).map((_, i) => (key.charCodeAt(i % key.length) + i) & 255);

/** A small seeded PRNG (mulberry32), so failures replay. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function contents(s: Storage): Promise<Map<string, Uint8Array>> {
  return new Map(await s.scan());
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

function sameEntries(actual: Map<string, Uint8Array>, expected: Map<string, Uint8Array>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()].sort());
  // byte loops: deep equality element by element is very slow on MiB values
  const wrong = [...expected].filter(([k, v]) => !sameBytes(actual.get(k), v)).map(([k]) => k);
  expect(wrong).toEqual([]);
}

describe('fileStorage', () => {
  it('computes CRC-32C', () => {
    expect(crc32c(text('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // the slicing-by-8 loop agrees with a bit-at-a-time CRC at every length and alignment
    const bitwise = (b: Uint8Array) => {
      let c = -1;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    const data = valueFor('crc', 100);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= 40; end++) expect(crc32c(data, start, end)).toBe(bitwise(data.slice(start, end)));
    }
  });

  it('keeps everything across reopens: many keys, big values, batches, unusual keys', async () => {
    const dir = freshDir();
    let s = await openFileStorage(dir);
    const model = new Map<string, Uint8Array>();
    const put = async (k: string, v: Uint8Array) => {
      await s.set(k, v);
      model.set(k, v);
    };
    for (let i = 0; i < 300; i++) await put(indexKey('log/', i), valueFor(`e${i}`, i % 50));
    await put('hard', text('term=7'));
    await put('snapshot', valueFor('snap', 3 << 20));
    await put('\ud800lone', bytes(1)); // a lone surrogate survives (stored as UTF-16)
    await put('\u00e9t\u00e9 \ud83d\ude00', bytes(2));
    const ops: StorageOp[] = [{ type: 'deleteRange', start: indexKey('log/', 0), end: indexKey('log/', 100) }];
    for (let i = 300; i < 400; i++) ops.push({ type: 'set', key: indexKey('log/', i), value: valueFor(`e${i}`, 10) });
    ops.push({ type: 'delete', key: 'hard' });
    await s.batch(ops);
    for (let i = 0; i < 100; i++) model.delete(indexKey('log/', i));
    for (let i = 300; i < 400; i++) model.set(indexKey('log/', i), valueFor(`e${i}`, 10));
    model.delete('hard');
    await s.close();

    s = await openFileStorage(dir);
    expect(s.stats().recoveredRecords).toBe(305);
    expect(s.stats().truncatedBytes).toBe(0);
    sameEntries(await contents(s), model);
    // and it keeps appending after a reopen
    await put('after', bytes(3));
    await s.close();
    s = await openFileStorage(dir);
    sameEntries(await contents(s), model);
    // and the same from a compacted log (entries over 1 MiB get records of their own)
    await s.compact();
    await s.close();
    s = await openFileStorage(dir);
    expect(s.stats().recoveredRecords).toBe(3); // the keys before "snapshot", "snapshot", the keys after it
    sameEntries(await contents(s), model);
    await s.close();
  });

  it('creates missing parent directories', async () => {
    const dir = join(freshDir(), 'nested', 'deeper');
    const s = await openFileStorage(dir);
    await s.set('k', bytes(1));
    await s.close();
    const again = await openFileStorage(dir);
    expect(await again.get('k')).toEqual(bytes(1));
    await again.close();
  });

  it('stores exactly the bytes of a view into a larger buffer', async () => {
    const s = await openFileStorage(freshDir());
    const backing = new Uint8Array(64).map((_, i) => i);
    await s.set('v', new Uint8Array(backing.buffer, 10, 5));
    await s.batch([{ type: 'set', key: 'w', value: new Uint8Array(backing.buffer, 20, 3) }]);
    backing.fill(0);
    expect(await s.get('v')).toEqual(bytes(10, 11, 12, 13, 14));
    expect(await s.get('w')).toEqual(bytes(20, 21, 22));
    await s.close();
  });

  describe('recovery', () => {
    /**
     * Writes `n` records, each its own group; returns the log bytes, where the last record
     * starts, the files after close, and the files as they were before the last write (whose
     * header and storage.meta a crash during that write leaves).
     */
    async function logWithRecords(n: number): Promise<{ dir: string; file: Uint8Array; lastStart: number; keys: string[]; closed: Files; beforeFirst: Files; beforeLast: Files }> {
      const dir = freshDir();
      const s = await openFileStorage(dir);
      const keys: string[] = [];
      let lastStart = 0;
      const beforeFirst = await capture(dir);
      let beforeLast: Files | undefined;
      for (let i = 0; i < n; i++) {
        lastStart = s.stats().logBytes;
        if (i === n - 1) beforeLast = await capture(dir);
        const key = `key/${i}`;
        keys.push(key);
        if (i % 3 === 2) await s.batch([{ type: 'set', key, value: valueFor(key, 40) }, { type: 'delete', key: `key/${i - 1}` }]);
        else await s.set(key, valueFor(key, 40));
      }
      await s.close();
      const closed = await capture(dir);
      return { dir, file: closed.log, lastStart, keys, closed, beforeFirst, beforeLast: beforeLast! };
    }

    /** The state after the first `count` of logWithRecords' writes. */
    function expectedAfter(keys: string[], count: number): Map<string, Uint8Array> {
      const m = new Map<string, Uint8Array>();
      for (let i = 0; i < count; i++) {
        m.set(keys[i]!, valueFor(keys[i]!, 40));
        if (i % 3 === 2) m.delete(keys[i - 1]!);
      }
      return m;
    }

    it('discards a record torn at any byte and keeps every complete one', async () => {
      const { dir, file, lastStart, keys, beforeLast } = await logWithRecords(6);
      expect(lastStart).toBeLessThan(file.length);
      for (let cut = lastStart; cut < file.length; cut++) {
        await restore(dir, torn(beforeLast, file.subarray(0, cut)));
        const s = await openFileStorage(dir);
        expect(s.stats().truncatedBytes).toBe(cut - lastStart);
        sameEntries(await contents(s), expectedAfter(keys, 5));
        await s.close();
        // the tail was cut off on disk: the next open finds a clean log
        expect((await stat(join(dir, LOG))).size).toBe(lastStart);
      }
    });

    it('discards garbage and zeros appended after the last record', async () => {
      const { dir, file, keys, closed } = await logWithRecords(4);
      const random = prng(7);
      for (const n of [1, 19, 20, 21, 100, 5000, 70_000]) {
        for (const kind of ['random', 'zeros', 'ones']) {
          const tail = new Uint8Array(n).map(() => (kind === 'random' ? Math.floor(random() * 256) : kind === 'ones' ? 255 : 0));
          const damaged = new Uint8Array(file.length + n);
          damaged.set(file);
          damaged.set(tail, file.length);
          await restore(dir, { log: damaged, meta: closed.meta });
          const s = await openFileStorage(dir);
          expect(s.stats().truncatedBytes).toBe(n);
          sameEntries(await contents(s), expectedAfter(keys, 4));
          await s.set('more', bytes(1)); // appending goes on from the last good record
          await s.close();
          const again = await openFileStorage(dir);
          expect(await again.get('more')).toEqual(bytes(1));
          await again.close();
        }
      }
    });

    it('keeps a prefix of a torn group, in call order', async () => {
      const dir = freshDir();
      const s = await openFileStorage(dir);
      await s.set('first', bytes(1));
      const groupStart = s.stats().logBytes;
      const before = await capture(dir);
      // calls issued together share one group
      await Promise.all(Array.from({ length: 30 }, (_, i) => s.set(`g/${String(i).padStart(2, '0')}`, valueFor(`g${i}`, 30))));
      expect(s.stats().groups).toBe(2);
      await s.close();
      const file = new Uint8Array(await readFile(join(dir, LOG)));
      const random = prng(11);
      for (let round = 0; round < 40; round++) {
        const cut = groupStart + Math.floor(random() * (file.length - groupStart));
        await restore(dir, torn(before, file.subarray(0, cut)));
        const r = await openFileStorage(dir);
        const got = [...(await contents(r)).keys()].filter((k) => k.startsWith('g/'));
        // whatever survived is the first `got.length` calls
        expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `g/${String(i).padStart(2, '0')}`));
        expect(await r.get('first')).toEqual(bytes(1));
        await r.close();
      }
    });

    it('treats a hole inside the last, unsynced group as a torn tail', async () => {
      const dir = freshDir();
      const s = await openFileStorage(dir);
      await s.set('synced', bytes(1));
      const groupStart = s.stats().logBytes;
      const before = await capture(dir);
      // one group of several records
      await Promise.all(['a', 'b', 'c', 'd'].map((k) => s.set(k, valueFor(k, 1000))));
      expect(s.stats().groups).toBe(2);
      await s.close();
      const file = new Uint8Array(await readFile(join(dir, LOG)));
      // zero 512 bytes in the middle of the last group, as a power loss can leave it
      const holeAt = file.length - 1500;
      expect(holeAt).toBeGreaterThan(groupStart);
      const damaged = file.slice();
      damaged.fill(0, holeAt, holeAt + 512);
      await restore(dir, torn(before, damaged));
      const r = await openFileStorage(dir);
      expect(await r.get('synced')).toEqual(bytes(1));
      expect(r.stats().truncatedBytes).toBeGreaterThan(0);
      expect(await r.get('d')).toBe(undefined);
      await r.close();
    });

    it('refuses to open a log damaged before later synced records, with a clear error', async () => {
      const { dir, file, keys, closed, beforeFirst } = await logWithRecords(5);
      // a header and storage.meta from before any record: as if every checkpoint after it had
      // been lost with a power loss, so only the later intact records show the damage
      const firstRecord = 1536; // after the file header
      const cases: Array<[string, number]> = [
        ['payload byte', firstRecord + 20 + 7],
        ['length field', firstRecord + 1],
        ['group start', firstRecord + 5],
        ['header checksum', firstRecord + 17],
        ['payload checksum', firstRecord + 13],
      ];
      for (const [what, at] of cases) {
        const damaged = file.slice();
        damaged[at]! ^= 0x40;
        await restore(dir, torn(beforeFirst, damaged));
        await expect(openFileStorage(dir)).rejects.toThrow(StorageDamagedError);
        await expect(openFileStorage(dir)).rejects.toThrow(/is damaged at offset 1536, but an intact record written after it was synced follows/);
        // and with the checkpoint intact, as it almost always is
        await restore(dir, { log: damaged, meta: closed.meta });
        await expect(openFileStorage(dir)).rejects.toThrow(/is damaged at offset 1536, before the end of acknowledged data/);
        // the failed open released its lock and left the file alone
        expect((await stat(join(dir, LOG))).size).toBe(file.length);
        expect(what.length).toBeGreaterThan(0);
      }
      await restore(dir, closed);
      const s = await openFileStorage(dir);
      sameEntries(await contents(s), expectedAfter(keys, 5));
      await s.close();
    });

    it('refuses a file that is not a storage log', async () => {
      const dir = freshDir();
      await (await openFileStorage(dir)).close();
      await writeFile(join(dir, LOG), text('just some text, not a log'));
      await expect(openFileStorage(dir)).rejects.toThrow(/not a storage log/);
      await writeFile(join(dir, LOG), new Uint8Array(0));
      await expect(openFileStorage(dir)).rejects.toThrow(StorageCorruptionError);
    });
  });

  describe('compaction', () => {
    it('rewrites the log when it outgrows the live data, and the data survives reopen', async () => {
      const dir = freshDir();
      let s = await openFileStorage(dir, { compactMinBytes: 64 << 10 });
      const model = new Map<string, Uint8Array>();
      for (let round = 0; round < 150; round++) {
        const writes: Promise<void>[] = [];
        for (let k = 0; k < 10; k++) {
          const key = `k/${k}`;
          const v = valueFor(`${key}/${round}`, 1000);
          model.set(key, v);
          writes.push(s.set(key, v));
        }
        if (round % 10 === 0) {
          writes.push(s.batch([{ type: 'deleteRange', start: 'log/', end: 'log0' }, { type: 'set', key: `log/${round}`, value: bytes(round) }]));
          for (const k of [...model.keys()]) if (k.startsWith('log/')) model.delete(k);
          model.set(`log/${round}`, bytes(round));
        }
        await Promise.all(writes);
      }
      const st = s.stats();
      expect(st.compactions).toBeGreaterThan(2);
      expect(st.logBytes).toBeLessThan(2 * (64 << 10) + 20_000);
      sameEntries(await contents(s), model);
      await s.close();
      s = await openFileStorage(dir, { compactMinBytes: 64 << 10 });
      sameEntries(await contents(s), model);
      await s.close();
    });

    it('acknowledges writes issued during a compaction, and compact() shrinks the log', async () => {
      const dir = freshDir();
      let s = await openFileStorage(dir);
      for (let i = 0; i < 50; i++) await s.set('same', valueFor(`v${i}`, 2000));
      const before = s.stats().logBytes;
      const order: number[] = [];
      const writes = [s.set('a', bytes(1)).then(() => order.push(0))];
      const compacted = s.compact().then(() => order.push(1));
      writes.push(s.set('b', bytes(2)).then(() => order.push(2)), s.delete('a').then(() => order.push(3)));
      await Promise.all([...writes, compacted]);
      expect(order).toEqual([0, 1, 2, 3]);
      expect(s.stats().compactions).toBe(1);
      expect(s.stats().logBytes).toBeLessThan(before / 10);
      await s.close();
      s = await openFileStorage(dir);
      expect(await s.get('same')).toEqual(valueFor('v49', 2000));
      expect(await s.get('a')).toBe(undefined);
      expect(await s.get('b')).toEqual(bytes(2));
      await s.close();
    });

    it('ignores a half-written compacted file left by a crash', async () => {
      const dir = freshDir();
      let s = await openFileStorage(dir);
      await s.set('k', bytes(5));
      await s.close();
      await writeFile(join(dir, `${LOG}.next`), text('half a compaction'));
      s = await openFileStorage(dir);
      expect(await s.get('k')).toEqual(bytes(5));
      await s.close();
      await expect(stat(join(dir, `${LOG}.next`))).rejects.toThrow(/ENOENT|No such file|not found/i);
    });

    it('compacts an oversized log when it opens', async () => {
      const dir = freshDir();
      let s = await openFileStorage(dir);
      for (let i = 0; i < 40; i++) await s.set('x', valueFor(`x${i}`, 4000));
      await s.close();
      s = await openFileStorage(dir, { compactMinBytes: 16 << 10 });
      await s.set('y', bytes(1)); // queued behind the compaction started by open
      expect(s.stats().compactions).toBe(1);
      expect(await s.get('x')).toEqual(valueFor('x39', 4000));
      await s.close();
    });
  });

  describe('lock', () => {
    it('refuses a second open of the same directory until the first closes', async () => {
      const dir = freshDir();
      const s = await openFileStorage(dir);
      await expect(openFileStorage(dir)).rejects.toThrow(StorageLockedError);
      await expect(openFileStorage(dir)).rejects.toThrow(/is locked: this process \(pid \d+\) already has it open/);
      await s.set('k', bytes(1));
      await s.close();
      const again = await openFileStorage(dir);
      expect(await again.get('k')).toEqual(bytes(1));
      await again.close();
    });

    it('takes over the lock of a process that is gone', async () => {
      const dir = freshDir();
      await (await openFileStorage(dir)).close();
      await writeFile(join(dir, 'LOCK'), '2147483646 deadbeef\n'); // no such pid (above any pid_max)
      const s = await openFileStorage(dir);
      expect(await readFile(join(dir, 'LOCK'), 'utf8')).toMatch(/^\d+ [0-9a-f]{16}\n$/);
      await s.close();
      await expect(stat(join(dir, 'LOCK'))).rejects.toThrow(/ENOENT|No such file|not found/i);
    });

    it('treats an unreadable lock as held while fresh and stale when old', async () => {
      const dir = freshDir();
      await (await openFileStorage(dir)).close();
      await writeFile(join(dir, 'LOCK'), '');
      await expect(openFileStorage(dir)).rejects.toThrow(/another process is opening it/);
      const old = new Date(Date.now() - 60_000);
      await utimes(join(dir, 'LOCK'), old, old);
      await (await openFileStorage(dir)).close();
    });
  });

  describe('group commit', () => {
    it('shares one fsync among writes issued while another is in flight, resolving in call order', async () => {
      const s = await openFileStorage(freshDir());
      await s.set('warm', bytes(0));
      const before = s.stats();
      const order: number[] = [];
      const n = 1000;
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          (i % 10 === 9 ? s.batch([{ type: 'set', key: `b${i}`, value: bytes(i & 255) }]) : s.set(`k${i}`, valueFor(`k${i}`, 100))).then(() => order.push(i)),
        ),
      );
      const after = s.stats();
      expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(after.writes - before.writes).toBe(n);
      // 1000 writes issued at once share one group: one write, one fdatasync
      expect(after.fsyncs - before.fsyncs).toBe(1);
      expect(after.groups - before.groups).toBe(1);
      expect((await s.scan()).length).toBe(n + 1);
      await s.close();
    });
  });
});
