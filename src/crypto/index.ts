// Ed25519 identities, strict signature verification over two back ends (WebCrypto, tweetnacl)
// and SHA-256. Web-standard APIs only, so it runs unchanged in Node, Deno and browsers.

export type { CryptoBackend, CryptoBackendName } from './backends.ts';
export { getBackend, webCryptoAvailable } from './backends.ts';
export type { Identity } from './identity.ts';
export { exportIdentity, generateIdentity, importIdentity, verify } from './identity.ts';
export type { StrictRejection } from './strict.ts';
export { checkPublicKey, checkStrict, SMALL_ORDER_ENCODINGS } from './strict.ts';
export { sha256, sha256Sync, sha256SyncPure } from './sha256.ts';
export {
  bytesEqual,
  concatBytes,
  fromBase64Url,
  fromHex,
  idToPublicKey,
  isBytes,
  publicKeyToId,
  toBase64Url,
  toHex,
} from './bytes.ts';
