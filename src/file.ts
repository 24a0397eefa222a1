// `statechorus/file`: file storage alone (also exported by the Node/Deno entry), for any
// TypeScript module resolution (`bundler` resolves the main entry to the browser types).
export { fileStorage, openFileStorage, StorageCorruptionError, StorageLockedError, StorageIOError, type FileStorage, type FileStorageOptions, type FileStorageStats } from './storage/file.ts';
