import { StorageArgumentError, type ScanOptions, type StorageOp } from './types.ts';

const INDEX_WIDTH = 16;

/** A key whose string order is the numeric order of `index` (0 <= index <= 2^53-1). */
export function indexKey(prefix: string, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new StorageArgumentError(`index must be a non-negative safe integer, got ${String(index)}`);
  }
  return prefix + index.toString(16).padStart(INDEX_WIDTH, '0');
}

/** Inverse of indexKey for keys under `prefix`; undefined when the key is not one. */
export function parseIndexKey(prefix: string, key: string): number | undefined {
  if (!key.startsWith(prefix) || key.length !== prefix.length + INDEX_WIDTH) return undefined;
  const n = Number.parseInt(key.slice(prefix.length), 16);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The smallest string greater than every string that starts with `prefix`, or undefined if none. */
export function prefixEnd(prefix: string): string | undefined {
  // Increment the last code unit that is not 0xFFFF; drop the ones after it.
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xffff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return undefined;
}

/** Normalises scan options into [start, end) bounds; end undefined means unbounded. */
export function scanBounds(options: ScanOptions): { start: string; end: string | undefined } {
  let start = options.start ?? '';
  let end = options.end;
  if (options.prefix !== undefined) {
    if (options.prefix > start) start = options.prefix;
    const pe = prefixEnd(options.prefix);
    if (pe !== undefined && (end === undefined || pe < end)) end = pe;
  }
  return { start, end };
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new StorageArgumentError(`storage key must be a string, got ${typeof key}`);
}

export function assertValue(value: unknown, key: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new StorageArgumentError(`storage value for "${key}" must be a Uint8Array`);
  }
}

export function assertScanOptions(options: unknown): asserts options is ScanOptions {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object') throw new StorageArgumentError('scan options must be an object');
  const o = options as Record<string, unknown>;
  for (const k of ['prefix', 'start', 'end'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new StorageArgumentError(`scan option ${k} must be a string`);
  }
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && (o.limit as number) >= 0)) {
    throw new StorageArgumentError('scan option limit must be a non-negative integer');
  }
}

/** Validates a whole batch before any of it is applied, so a bad op cannot leave half a batch. */
export function assertBatch(ops: unknown): asserts ops is readonly StorageOp[] {
  if (!Array.isArray(ops)) throw new StorageArgumentError('batch takes an array of operations');
  for (const op of ops as unknown[]) {
    if (op === null || typeof op !== 'object') throw new StorageArgumentError('batch operation must be an object');
    const o = op as Record<string, unknown>;
    if (o.type === 'set') {
      assertKey(o.key);
      assertValue(o.value, o.key);
    } else if (o.type === 'delete') {
      assertKey(o.key);
    } else if (o.type === 'deleteRange') {
      assertKey(o.start);
      assertKey(o.end);
    } else {
      throw new StorageArgumentError(`unknown batch operation type ${JSON.stringify(o.type)}`);
    }
  }
}
