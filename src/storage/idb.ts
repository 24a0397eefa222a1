/**
 * Durable storage in a browser's IndexedDB, through `idb-keyval`'s custom stores: one database
 * per name holding one object store of string keys and Uint8Array values. Imports only
 * web-standard APIs and idb-keyval, so it runs in any page or worker with IndexedDB.
 *
 * Every write is one readwrite transaction (a batch with all its operations, so it is atomic)
 * and its promise resolves when the transaction completes. IndexedDB runs transactions with
 * overlapping scopes in the order they were created, and we create them in call order, so
 * writes apply and resolve in order and a read sees every write issued before it.
 *
 * Durability is the browser's default for transactions: a completed transaction survives the
 * page or browser process crashing (the storage contract); Chromium's default ("relaxed")
 * does not wait for the disk, so an operating system crash or power loss may lose the last
 * writes.
 *
 * IndexedDB orders string keys by UTF-16 code units, the order of the contract.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval';
import { assertBatch, assertKey, assertScanOptions, assertValue, scanBounds } from './keys.ts';
import { StorageClosedError, type ScanOptions, type Storage, type StorageOp } from './types.ts';

const STORE_NAME = 'kv';

/** Opens (creating on first use) the IndexedDB database `name`. */
export function idbStorage(name: string): Storage {
  if (typeof name !== 'string' || name === '') throw new TypeError('idbStorage needs a database name');
  return new IdbStorage(createStore(name, STORE_NAME));
}

class IdbStorage implements Storage {
  readonly #store: UseStore;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Operations not settled yet; close waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(store: UseStore) {
    this.#store = store;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#check();
    assertKey(key);
    return this.#track(this.#store('readonly', (s) => promisifyRequest(s.get(key))).then((v) => fromStored(v, key)));
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    this.#check();
    assertKey(key);
    assertValue(value, key);
    return this.#write([{ type: 'set', key, value }]);
  }

  async delete(key: string): Promise<void> {
    this.#check();
    assertKey(key);
    return this.#write([{ type: 'delete', key }]);
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.#check();
    assertBatch(ops);
    return this.#write(ops);
  }

  async scan(options: ScanOptions = {}): Promise<Array<[string, Uint8Array]>> {
    this.#check();
    assertScanOptions(options);
    const { start, end } = scanBounds(options);
    const limit = options.limit ?? Infinity;
    if (limit === 0 || (end !== undefined && !(start < end))) return [];
    const range = end === undefined ? IDBKeyRange.lowerBound(start) : IDBKeyRange.bound(start, end, false, true);
    const reverse = options.reverse === true;
    return this.#track(
      this.#store('readonly', async (s): Promise<Array<[string, Uint8Array]>> => {
        const count = Number.isFinite(limit) ? limit : undefined;
        if (!reverse) {
          // Two bulk requests in one transaction see the same state and beat a cursor by far.
          const [keys, values] = await Promise.all([promisifyRequest(s.getAllKeys(range, count)), promisifyRequest(s.getAll(range, count))]);
          return keys.map((k, i) => [k as string, fromStored(values[i], k as string)!]);
        }
        const out: Array<[string, Uint8Array]> = [];
        await new Promise<void>((resolve, reject) => {
          const req = s.openCursor(range, 'prev');
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            const cursor = req.result;
            if (cursor === null) return resolve();
            out.push([cursor.key as string, fromStored(cursor.value, cursor.key as string)!]);
            if (out.length >= limit) resolve();
            else cursor.continue();
          };
        });
        return out;
      }),
    );
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      await Promise.allSettled([...this.#inFlight]);
      // idb-keyval keeps the connection open; close it so the database can be deleted or upgraded.
      await this.#store('readonly', (s) => s.transaction.db.close()).catch(() => {});
    })();
    return this.#closing;
  }

  #check(): void {
    if (this.#closed) throw new StorageClosedError();
  }

  #write(ops: readonly StorageOp[]): Promise<void> {
    return this.#track(
      this.#store('readwrite', (s) => {
        const done = promisifyRequest(s.transaction);
        try {
          for (const op of ops) {
            // Copy in: the caller may reuse its buffer, and a view into a larger buffer would
            // otherwise be cloned with the whole buffer.
            if (op.type === 'set') s.put(op.value.slice(), op.key);
            else if (op.type === 'delete') s.delete(op.key);
            else if (op.start < op.end) s.delete(IDBKeyRange.bound(op.start, op.end, false, true));
          }
        } catch (err) {
          // A request that throws does not abort the transaction by itself; the batch must not half-commit.
          s.transaction.abort();
          done.catch(() => {});
          throw err;
        }
        return done.then(() => undefined);
      }),
    );
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const remove = () => this.#inFlight.delete(p);
    p.then(remove, remove);
    return p;
  }
}

/** A stored value as a fresh Uint8Array of our own (copy out). */
function fromStored(v: unknown, key: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Uint8Array) return v.slice();
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  // Another realm's Uint8Array (structured clone in a test double) still has the right shape.
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  throw new TypeError(`IndexedDB value for "${key}" is not bytes`);
}
