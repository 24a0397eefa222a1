import { assertBatch, assertKey, assertScanOptions, assertValue, scanBounds } from './keys.ts';
import { StorageClosedError, type ScanOptions, type Storage, type StorageOp } from './types.ts';

/**
 * In-memory storage: the default for tests and the simulator. Values are copied in and out,
 * so a caller mutating a buffer after `set` (or after `get`) cannot change what is stored —
 * the same behaviour a disk gives.
 */
export function memoryStorage(): Storage {
  return new MemoryStorage();
}

class MemoryStorage implements Storage {
  readonly #values = new Map<string, Uint8Array>();
  /** Keys kept sorted so scans are ordered without sorting each time. */
  readonly #keys: string[] = [];
  #closed = false;

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#open();
    assertKey(key);
    const v = this.#values.get(key);
    return v === undefined ? undefined : v.slice();
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    this.#open();
    assertKey(key);
    assertValue(value, key);
    this.#set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.#open();
    assertKey(key);
    this.#delete(key);
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    this.#open();
    assertBatch(ops);
    for (const op of ops) {
      if (op.type === 'set') this.#set(op.key, op.value);
      else if (op.type === 'delete') this.#delete(op.key);
      else this.#deleteRange(op.start, op.end);
    }
  }

  async scan(options: ScanOptions = {}): Promise<Array<[string, Uint8Array]>> {
    this.#open();
    assertScanOptions(options);
    const { start, end } = scanBounds(options);
    const from = lowerBound(this.#keys, start);
    const to = end === undefined ? this.#keys.length : lowerBound(this.#keys, end);
    const limit = options.limit ?? Infinity;
    const out: Array<[string, Uint8Array]> = [];
    if (options.reverse) {
      for (let i = to - 1; i >= from && out.length < limit; i--) out.push(this.#entry(i));
    } else {
      for (let i = from; i < to && out.length < limit; i++) out.push(this.#entry(i));
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #entry(i: number): [string, Uint8Array] {
    const key = this.#keys[i]!;
    return [key, this.#values.get(key)!.slice()];
  }

  #open(): void {
    if (this.#closed) throw new StorageClosedError();
  }

  #set(key: string, value: Uint8Array): void {
    if (!this.#values.has(key)) {
      const keys = this.#keys;
      // Appends (log entries) are the common case: check the end before searching.
      if (keys.length === 0 || keys[keys.length - 1]! < key) keys.push(key);
      else keys.splice(lowerBound(keys, key), 0, key);
    }
    this.#values.set(key, value.slice());
  }

  #delete(key: string): void {
    if (!this.#values.delete(key)) return;
    this.#keys.splice(lowerBound(this.#keys, key), 1);
  }

  #deleteRange(start: string, end: string): void {
    if (!(start < end)) return;
    const from = lowerBound(this.#keys, start);
    const to = lowerBound(this.#keys, end);
    for (const key of this.#keys.splice(from, to - from)) this.#values.delete(key);
  }
}

/** First index whose key is >= target. */
function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
