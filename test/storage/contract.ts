/**
 * The storage contract suite: every back end (memory, file, IndexedDB) runs it.
 * `open` gives a fresh, empty store; `reopen`, when the back end is durable, closes it and
 * opens the same data again, so persistence is checked too.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { indexKey, StorageArgumentError, StorageClosedError, type Storage, type StorageOp } from '../../src/storage/index.ts';

export interface ContractTarget {
  open(): Promise<Storage>;
  reopen?(storage: Storage): Promise<Storage>;
}

const bytes = (...xs: number[]) => new Uint8Array(xs);
const text = (s: string) => new TextEncoder().encode(s);
const keysOf = (entries: Array<[string, Uint8Array]>) => entries.map(([k]) => k);

export function describeStorageContract(name: string, target: ContractTarget): void {
  describe(`storage contract: ${name}`, () => {
    it('returns undefined for a missing key and round-trips values', async () => {
      const s = await target.open();
      expect(await s.get('missing')).toBe(undefined);
      await s.set('a', bytes(1, 2, 3));
      expect(await s.get('a')).toEqual(bytes(1, 2, 3));
      await s.set('a', bytes(9));
      expect(await s.get('a')).toEqual(bytes(9));
      await s.set('empty', new Uint8Array(0));
      expect(await s.get('empty')).toEqual(new Uint8Array(0));
      await s.close();
    });

    it('stores a copy: mutating buffers after set or get changes nothing stored', async () => {
      const s = await target.open();
      const v = bytes(1, 2, 3);
      await s.set('k', v);
      v[0] = 42;
      const got = (await s.get('k'))!;
      expect(got).toEqual(bytes(1, 2, 3));
      got[1] = 42;
      expect(await s.get('k')).toEqual(bytes(1, 2, 3));
      await s.close();
    });

    it('deletes keys, and deleting a missing key is a no-op', async () => {
      const s = await target.open();
      await s.set('a', bytes(1));
      await s.delete('a');
      await s.delete('never');
      expect(await s.get('a')).toBe(undefined);
      expect(await s.scan()).toEqual([]);
      await s.close();
    });

    it('applies a batch in order', async () => {
      const s = await target.open();
      await s.batch([
        { type: 'set', key: 'x', value: bytes(1) },
        { type: 'delete', key: 'x' },
        { type: 'delete', key: 'y' },
        { type: 'set', key: 'y', value: bytes(2) },
        { type: 'set', key: 'z', value: bytes(3) },
        { type: 'set', key: 'z', value: bytes(4) },
      ]);
      expect(await s.get('x')).toBe(undefined);
      expect(await s.get('y')).toEqual(bytes(2));
      expect(await s.get('z')).toEqual(bytes(4));
      await s.close();
    });

    it('refuses a batch with a malformed operation and applies none of it', async () => {
      const s = await target.open();
      const bad = [
        { type: 'set', key: 'ok', value: bytes(1) },
        { type: 'set', key: 'bad', value: 'not bytes' },
      ] as unknown as StorageOp[];
      await expect(s.batch(bad)).rejects.toThrow(StorageArgumentError);
      await expect(s.batch([{ type: 'truncate' } as unknown as StorageOp])).rejects.toThrow(/unknown batch operation/);
      await expect(s.batch('nope' as unknown as StorageOp[])).rejects.toThrow(StorageArgumentError);
      expect(await s.get('ok')).toBe(undefined);
      await s.close();
    });

    it('deletes a half-open key range [start, end)', async () => {
      const s = await target.open();
      for (const k of ['a', 'b', 'c', 'd']) await s.set(k, text(k));
      await s.batch([{ type: 'deleteRange', start: 'b', end: 'd' }]);
      expect(keysOf(await s.scan())).toEqual(['a', 'd']);
      await s.batch([{ type: 'deleteRange', start: 'z', end: 'a' }]); // empty range
      expect(keysOf(await s.scan())).toEqual(['a', 'd']);
      await s.close();
    });

    it('scans in UTF-16 code-unit order with prefix, bounds, reverse and limit', async () => {
      const s = await target.open();
      const keys = ['b', 'a', 'ab', 'a\u0000', '\ue000', '\ud83d\ude00', 'log/2', 'log/10', 'log/1', 'lof', 'loh'];
      for (const k of keys) await s.set(k, text(k));
      const all = keysOf(await s.scan());
      expect(all).toEqual([...keys].sort());
      // code-unit order puts a surrogate pair (0xD83D…) before U+E000
      expect(all.indexOf('\ud83d\ude00')).toBeLessThan(all.indexOf('\ue000'));
      expect(keysOf(await s.scan({ prefix: 'log/' }))).toEqual(['log/1', 'log/10', 'log/2']);
      expect(keysOf(await s.scan({ prefix: 'a' }))).toEqual(['a', 'a\u0000', 'ab']);
      expect(keysOf(await s.scan({ start: 'a\u0000', end: 'b' }))).toEqual(['a\u0000', 'ab']);
      expect(keysOf(await s.scan({ prefix: 'log/', reverse: true, limit: 2 }))).toEqual(['log/2', 'log/10']);
      expect(keysOf(await s.scan({ prefix: 'log/', start: 'log/10' }))).toEqual(['log/10', 'log/2']);
      expect(keysOf(await s.scan({ limit: 0 }))).toEqual([]);
      expect(keysOf(await s.scan({ prefix: 'nothing' }))).toEqual([]);
      const [entry] = await s.scan({ prefix: 'ab' });
      expect(entry).toEqual(['ab', text('ab')]);
      await s.close();
    });

    it('orders index keys numerically', async () => {
      const s = await target.open();
      const indexes = [0, 1, 9, 10, 255, 256, 65_536, 2 ** 40, Number.MAX_SAFE_INTEGER];
      for (const i of [...indexes].reverse()) await s.set(indexKey('log/', i), bytes(i % 256));
      expect(keysOf(await s.scan({ prefix: 'log/' }))).toEqual(indexes.map((i) => indexKey('log/', i)));
      await s.batch([{ type: 'deleteRange', start: indexKey('log/', 0), end: indexKey('log/', 256) }]);
      expect((await s.scan({ prefix: 'log/' })).length).toBe(4);
      await s.close();
    });

    it('rejects wrong arguments with a clear error', async () => {
      const s = await target.open();
      await expect(s.set(1 as unknown as string, bytes(1))).rejects.toThrow(StorageArgumentError);
      await expect(s.set('k', [1, 2] as unknown as Uint8Array)).rejects.toThrow(/must be a Uint8Array/);
      await expect(s.get(undefined as unknown as string)).rejects.toThrow(/key must be a string/);
      await expect(s.scan({ limit: -1 })).rejects.toThrow(StorageArgumentError);
      await expect(s.scan({ prefix: 3 as unknown as string })).rejects.toThrow(StorageArgumentError);
      await s.close();
    });

    it('rejects calls after close', async () => {
      const s = await target.open();
      await s.close();
      await expect(s.get('a')).rejects.toThrow(StorageClosedError);
      await expect(s.set('a', bytes(1))).rejects.toThrow(StorageClosedError);
    });

    it('handles large values and many keys', async () => {
      const s = await target.open();
      const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 255);
      await s.set('big', big);
      const back = (await s.get('big'))!;
      // a plain loop: deep equality over 1 MiB element by element is needlessly slow
      expect(back.length).toBe(big.length);
      expect(back.every((b, i) => b === big[i])).toBe(true);
      const ops: StorageOp[] = [];
      for (let i = 0; i < 5000; i++) ops.push({ type: 'set', key: indexKey('e/', i), value: bytes(i & 255) });
      await s.batch(ops);
      const scanned = await s.scan({ prefix: 'e/', start: indexKey('e/', 4990) });
      expect(scanned.length).toBe(10);
      expect(scanned[0]![1]).toEqual(bytes(4990 & 255));
      await s.close();
    });

    if (target.reopen) {
      const reopen = target.reopen.bind(target);
      it('keeps acknowledged writes across a reopen', async () => {
        let s = await target.open();
        await s.set('hard', text('term=3'));
        await s.batch([
          { type: 'set', key: indexKey('log/', 1), value: bytes(1) },
          { type: 'set', key: indexKey('log/', 2), value: bytes(2) },
          { type: 'deleteRange', start: indexKey('log/', 0), end: indexKey('log/', 2) },
        ]);
        s = await reopen(s);
        expect(await s.get('hard')).toEqual(text('term=3'));
        expect(keysOf(await s.scan({ prefix: 'log/' }))).toEqual([indexKey('log/', 2)]);
        await s.close();
      });
    }

    it('behaves like a sorted map under random operation sequences', async () => {
      const key = fc.constantFrom('a', 'b', 'ba', 'bb', 'c', 'log/1', 'log/2', '\u00e9', '');
      const op = fc.oneof(
        fc.record({ type: fc.constant('set' as const), key, value: fc.uint8Array({ maxLength: 4 }) }),
        fc.record({ type: fc.constant('delete' as const), key }),
        fc.record({ type: fc.constant('deleteRange' as const), start: key, end: key }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(op, { maxLength: 4 }), { maxLength: 12 }), async (batches) => {
          const s = await target.open();
          const model = new Map<string, Uint8Array>();
          for (const b of batches) {
            await (b.length === 1 && b[0]!.type === 'set' ? s.set(b[0]!.key, b[0]!.value) : s.batch(b));
            for (const o of b) {
              if (o.type === 'set') model.set(o.key, o.value);
              else if (o.type === 'delete') model.delete(o.key);
              else for (const k of [...model.keys()]) if (o.start <= k && k < o.end) model.delete(k);
            }
          }
          const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          expect(await s.scan()).toEqual(expected);
          await s.close();
        }),
        { numRuns: 100 },
      );
    });
  });
}
