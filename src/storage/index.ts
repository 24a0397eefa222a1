export type { Storage, StorageOp, ScanOptions } from './types.ts';
export { StorageClosedError, StorageArgumentError } from './types.ts';
export { memoryStorage } from './memory.ts';
export { indexKey, parseIndexKey, prefixEnd } from './keys.ts';
