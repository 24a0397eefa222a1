// `statechorus/idb`: IndexedDB storage alone (also exported by the browser entry), for any
// runtime with IndexedDB and any TypeScript module resolution.
export { idbStorage } from './storage/idb.ts';
