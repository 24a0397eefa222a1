// The in-memory index of file storage: the live data, rebuilt by replaying the log.


/**
 * Key → value, with the keys in a sorted array for scans. Appends in key order (log entries)
 * are O(1); other new keys go to an unsorted side list that is merged in by the next scan or
 * range delete (so replaying or writing keys in random order costs a sort, not O(n) splices).
 */
export class SortedIndex {
  readonly #values = new Map<string, Uint8Array>();
  /** Sorted; when #dirty it may also hold keys since deleted (and #extra holds new keys). */
  #keys: string[] = [];
  #extra: string[] = [];
  #dirty = false;
  liveBytes = 0;

  get size(): number {
    return this.#values.size;
  }

  get(key: string): Uint8Array | undefined {
    return this.#values.get(key);
  }

  set(key: string, value: Uint8Array): void {
    const old = this.#values.get(key);
    this.#values.set(key, value);
    if (old !== undefined) {
      this.liveBytes += value.length - old.length;
      return;
    }
    this.liveBytes += entrySize(key, value);
    const keys = this.#keys;
    if (!this.#dirty && (keys.length === 0 || keys[keys.length - 1]! < key)) keys.push(key);
    else {
      this.#extra.push(key);
      this.#dirty = true;
    }
  }

  delete(key: string): void {
    const old = this.#values.get(key);
    if (old === undefined) return;
    this.#values.delete(key);
    this.liveBytes -= entrySize(key, old);
    if (this.#dirty) return; // #normalize drops it
    const keys = this.#keys;
    if (keys[keys.length - 1] === key) keys.pop();
    else keys.splice(lowerBound(keys, key), 1);
  }

  deleteRange(start: string, end: string): void {
    if (!(start < end)) return;
    this.#normalize();
    const keys = this.#keys;
    const from = lowerBound(keys, start);
    const to = lowerBound(keys, end);
    if (from === to) return;
    for (let i = from; i < to; i++) {
      const key = keys[i]!;
      this.liveBytes -= entrySize(key, this.#values.get(key)!);
      this.#values.delete(key);
    }
    keys.splice(from, to - from);
  }

  scan(start: string, end: string | undefined, reverse: boolean, limit: number): Array<[string, Uint8Array]> {
    this.#normalize();
    const keys = this.#keys;
    const from = lowerBound(keys, start);
    const to = end === undefined ? keys.length : Math.max(from, lowerBound(keys, end));
    const out: Array<[string, Uint8Array]> = [];
    if (reverse) {
      for (let i = to - 1; i >= from && out.length < limit; i--) out.push([keys[i]!, this.#values.get(keys[i]!)!.slice()]);
    } else {
      for (let i = from; i < to && out.length < limit; i++) out.push([keys[i]!, this.#values.get(keys[i]!)!.slice()]);
    }
    return out;
  }

  /** Sorted keys and their values, as of now (values are never mutated, so sharing them is safe). */
  snapshot(): { keys: string[]; values: Uint8Array[] } {
    this.#normalize();
    const keys = this.#keys.slice();
    return { keys, values: keys.map((k) => this.#values.get(k)!) };
  }

  #normalize(): void {
    if (!this.#dirty) return;
    const values = this.#values;
    const extra = this.#extra.filter((k) => values.has(k)).sort();
    const old = this.#keys;
    const out: string[] = [];
    let i = 0;
    let j = 0;
    let last: string | undefined;
    while (i < old.length || j < extra.length) {
      let k: string;
      if (j >= extra.length || (i < old.length && old[i]! < extra[j]!)) k = old[i++]!;
      else k = extra[j++]!;
      // Drop deleted keys and duplicates (a key deleted and set again while dirty).
      if (k !== last && values.has(k)) {
        out.push(k);
        last = k;
      }
    }
    this.#keys = out;
    this.#extra = [];
    this.#dirty = false;
  }
}

function entrySize(key: string, value: Uint8Array): number {
  return 9 + key.length + value.length;
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

