// IndexedDB storage against fake-indexeddb (an in-memory IndexedDB in plain JS): the shared
// contract, persistence across reopening the same database name, and call ordering.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { idbStorage } from '../../src/storage/idb.ts';
import { indexKey, type Storage } from '../../src/storage/index.ts';
import { describeStorageContract } from './contract.ts';

let databases = 0;
const names = new WeakMap<Storage, string>();
function openNamed(name: string): Storage {
  const s = idbStorage(name);
  names.set(s, name);
  return s;
}

describeStorageContract('idbStorage (fake-indexeddb)', {
  open: async () => openNamed(`contract-${++databases}`),
  reopen: async (s) => {
    await s.close();
    return openNamed(names.get(s)!);
  },
});

const bytes = (...xs: number[]) => new Uint8Array(xs);

describe('idbStorage', () => {
  it('keeps data across reopening the same database name, and separates names', async () => {
    const s = idbStorage('persist');
    await s.set('hard', bytes(1, 2));
    await s.batch([
      { type: 'set', key: indexKey('log/', 1), value: bytes(1) },
      { type: 'set', key: indexKey('log/', 2), value: bytes(2) },
    ]);
    await s.close();
    const again = idbStorage('persist');
    expect(await again.get('hard')).toEqual(bytes(1, 2));
    expect((await again.scan({ prefix: 'log/' })).map(([k]) => k)).toEqual([indexKey('log/', 1), indexKey('log/', 2)]);
    await again.set('hard', bytes(3));
    await again.close();
    const third = idbStorage('persist');
    expect(await third.get('hard')).toEqual(bytes(3));
    const other = idbStorage('persist-other');
    expect(await other.get('hard')).toBe(undefined);
    await Promise.all([third.close(), other.close()]);
  });

  it('applies and resolves writes in call order, and reads see earlier writes', async () => {
    const s = idbStorage('order');
    const order: number[] = [];
    const writes = [];
    for (let i = 0; i < 50; i++) {
      writes.push(s.set('k', bytes(i)).then(() => order.push(i)));
      if (i % 10 === 0) writes.push(s.delete('k').then(() => order.push(-i - 1)));
    }
    const read = s.get('k'); // issued after all the writes, not awaited before
    await Promise.all(writes);
    expect(await read).toEqual(bytes(49));
    expect(order.filter((x) => x >= 0)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await s.close();
  });

  it('stores exactly the bytes of a view, not its whole buffer', async () => {
    const s = idbStorage('views');
    const backing = new Uint8Array(1024).map((_, i) => i & 255);
    await s.set('v', new Uint8Array(backing.buffer, 100, 4));
    backing.fill(0);
    const got = (await s.get('v'))!;
    expect(got).toEqual(bytes(100, 101, 102, 103));
    expect(got.buffer.byteLength).toBe(4);
    await s.close();
  });

  it('waits for writes in flight when closing', async () => {
    const s = idbStorage('close-wait');
    const pending = s.set('late', bytes(7));
    await s.close();
    await pending;
    const again = idbStorage('close-wait');
    expect(await again.get('late')).toEqual(bytes(7));
    await again.close();
  });
});
