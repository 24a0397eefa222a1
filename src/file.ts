// `statechorus/file`: file storage alone (also exported by the Node/Deno entry), for any
// TypeScript module resolution (`bundler` resolves the main entry to the browser types).
export { fileStorage, openFileStorage, StorageCorruptionError, StorageDamagedError, StorageLockedError, StorageIOError, type FileStorage, type FileStorageOptions, type FileStorageStats, type StorageDamage } from './storage/file.ts';
