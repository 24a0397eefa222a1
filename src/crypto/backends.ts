// The two raw Ed25519 back ends. Neither applies the strict rule (see strict.ts); callers
// should go through `verify`, which does.

import { bytesEqual, bytesKey, fromBase64Url, fromHex, isBytes } from './bytes.ts';

export type CryptoBackendName = 'webcrypto' | 'tweetnacl';

/** A raw back end: no strict checks. */
export interface CryptoBackend {
  readonly name: CryptoBackendName;
  /** 32-byte seed -> 32-byte public key. */
  publicKeyFromSeed(seed: Uint8Array): Promise<Uint8Array>;
  /** 64-byte signature. Imports/derives the key on every call; identities cache it instead. */
  sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  /** Back-end verification only; false (never a rejection) for malformed input. */
  verifyRaw(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Signs with a key prepared once (imported CryptoKey or expanded tweetnacl secret key). */
export type Signer = (message: Uint8Array) => Promise<Uint8Array>;

/** What identities need beyond the public interface. */
export interface InternalBackend extends CryptoBackend {
  createSigner(seed: Uint8Array): Promise<Signer>;
}

export function assertSeed(seed: unknown): asserts seed is Uint8Array {
  if (!isBytes(seed) || seed.length !== 32) throw new Error('Ed25519 seed must be a 32-byte Uint8Array');
}

// tweetnacl checks `instanceof Uint8Array`; copy arrays from other realms.
function local(bytes: Uint8Array): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
}

// TypeScript's DOM types want ArrayBuffer-backed views; our inputs are typed ArrayBufferLike.
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

// ---------------------------------------------------------------------------------------------
// tweetnacl

// Loaded on first use: where WebCrypto has Ed25519 (current browsers, Node, Deno) it never is,
// and a bundler that splits dynamic imports (Vite, esbuild --splitting) leaves it out of the
// initial bundle (about 11 kB gzip).
type Nacl = typeof import('tweetnacl');
let naclModule: Promise<Nacl> | undefined;
const loadNacl = (): Promise<Nacl> => (naclModule ??= import('tweetnacl').then((m) => ((m as { default?: Nacl }).default ?? m) as Nacl));

export const tweetnaclBackend: InternalBackend = {
  name: 'tweetnacl',
  async publicKeyFromSeed(seed) {
    assertSeed(seed);
    const nacl = await loadNacl();
    return nacl.sign.keyPair.fromSeed(local(seed)).publicKey;
  },
  async sign(seed, message) {
    assertSeed(seed);
    if (!isBytes(message)) throw new TypeError('sign: message must be a Uint8Array');
    const nacl = await loadNacl();
    return nacl.sign.detached(local(message), nacl.sign.keyPair.fromSeed(local(seed)).secretKey);
  },
  async verifyRaw(publicKey, message, signature) {
    if (!isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return false;
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const nacl = await loadNacl();
    try {
      return nacl.sign.detached.verify(local(message), local(signature), local(publicKey));
    } catch {
      return false;
    }
  },
  async createSigner(seed) {
    assertSeed(seed);
    const nacl = await loadNacl();
    // fromSeed costs a scalar multiplication: do it once per identity, not per signature.
    const { secretKey } = nacl.sign.keyPair.fromSeed(local(seed));
    return async (message) => {
      if (!isBytes(message)) throw new TypeError('sign: message must be a Uint8Array');
      return nacl.sign.detached(local(message), secretKey);
    };
  },
};

// ---------------------------------------------------------------------------------------------
// WebCrypto

const ED25519 = { name: 'Ed25519' } as const;
// DER PrivateKeyInfo header for an Ed25519 key (RFC 8410); the 32-byte seed follows.
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) throw new Error('WebCrypto (crypto.subtle) is not available');
  return s;
}

async function importSigningKey(seed: Uint8Array, extractable: boolean): Promise<CryptoKey> {
  const der = new Uint8Array(48);
  der.set(PKCS8_PREFIX, 0);
  der.set(seed, 16);
  try {
    return await subtle().importKey('pkcs8', der, ED25519, extractable, ['sign']);
  } finally {
    der.fill(0); // importKey has copied it
  }
}

// Imported verification keys by public key: a replica verifies against the same few keys all
// the time, and importKey per call would add ~20-30 µs (another async round trip) to a
// ~150 µs verification (Node 20). The resolved key is kept next to its promise so the hot
// path needs no extra await.
const VERIFY_KEY_CACHE_LIMIT = 256;
interface CachedKey {
  key: CryptoKey | undefined;
  readonly pending: Promise<CryptoKey>;
}
const verifyKeys = new Map<string, CachedKey>();

function verifyKey(publicKey: Uint8Array): CachedKey {
  const cacheKey = bytesKey(publicKey);
  const hit = verifyKeys.get(cacheKey);
  if (hit !== undefined) {
    verifyKeys.delete(cacheKey); // refresh: least recently used is evicted first
    verifyKeys.set(cacheKey, hit);
    return hit;
  }
  const pending = subtle().importKey('raw', buf(publicKey), ED25519, false, ['verify']);
  const entry: CachedKey = { key: undefined, pending };
  pending.then(
    (key) => {
      entry.key = key;
    },
    // A key the runtime refuses must not stay cached as a rejected promise.
    () => {
      if (verifyKeys.get(cacheKey) === entry) verifyKeys.delete(cacheKey);
    },
  );
  if (verifyKeys.size >= VERIFY_KEY_CACHE_LIMIT) {
    const oldest = verifyKeys.keys().next().value;
    if (oldest !== undefined) verifyKeys.delete(oldest);
  }
  verifyKeys.set(cacheKey, entry);
  return entry;
}

const FALSE = Promise.resolve(false);
const toFalse = (): boolean => false;

export const webcryptoBackend: InternalBackend = {
  name: 'webcrypto',
  async publicKeyFromSeed(seed) {
    assertSeed(seed);
    // A private CryptoKey cannot be exported 'raw'; its JWK form carries the public key as x.
    const key = await importSigningKey(seed, true);
    const jwk = await subtle().exportKey('jwk', key);
    if (typeof jwk.x !== 'string') throw new Error('WebCrypto: exported Ed25519 JWK has no public key');
    const publicKey = fromBase64Url(jwk.x);
    if (publicKey.length !== 32) throw new Error('WebCrypto: exported Ed25519 public key is not 32 bytes');
    return publicKey;
  },
  async sign(seed, message) {
    assertSeed(seed);
    if (!isBytes(message)) throw new TypeError('sign: message must be a Uint8Array');
    const key = await importSigningKey(seed, false);
    return new Uint8Array(await subtle().sign(ED25519, key, buf(message)));
  },
  // Not `async`: with a cached key this goes straight to subtle.verify (fewer microtask hops).
  verifyRaw(publicKey, message, signature) {
    if (!isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return FALSE;
    if (publicKey.length !== 32 || signature.length !== 64) return FALSE;
    try {
      const s = subtle();
      const entry = verifyKey(publicKey);
      const sig = buf(signature);
      const msg = buf(message);
      const result =
        entry.key !== undefined
          ? s.verify(ED25519, entry.key, sig, msg)
          : entry.pending.then((key) => s.verify(ED25519, key, sig, msg));
      return result.catch(toFalse);
    } catch {
      return FALSE;
    }
  },
  async createSigner(seed) {
    assertSeed(seed);
    const key = await importSigningKey(seed, false); // non-extractable: the seed stays inside
    const s = subtle();
    return async (message) => {
      if (!isBytes(message)) throw new TypeError('sign: message must be a Uint8Array');
      return new Uint8Array(await s.sign(ED25519, key, buf(message)));
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Selection

// RFC 8032 §7.1 test 1. Detection demands the exact bytes, so a runtime whose Ed25519 is
// present but different (or partial) is treated as absent rather than trusted.
const RFC8032_SEED = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const RFC8032_PUBLIC_KEY = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const RFC8032_SIGNATURE = fromHex(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155' +
    '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
);

let availability: Promise<boolean> | undefined;
let knownAvailable: boolean | undefined; // availability once settled, for synchronous lookups

async function detectWebCrypto(): Promise<boolean> {
  try {
    if (globalThis.crypto?.subtle === undefined) return false;
    const empty = new Uint8Array(0);
    const publicKey = await webcryptoBackend.publicKeyFromSeed(RFC8032_SEED);
    const signature = await webcryptoBackend.sign(RFC8032_SEED, empty);
    const ok = await webcryptoBackend.verifyRaw(publicKey, empty, signature);
    return ok && bytesEqual(publicKey, RFC8032_PUBLIC_KEY) && bytesEqual(signature, RFC8032_SIGNATURE);
  } catch {
    return false;
  }
}

/** Whether crypto.subtle has working Ed25519. Detected once, then cached. */
export function webCryptoAvailable(): Promise<boolean> {
  availability ??= detectWebCrypto().then((ok) => (knownAvailable = ok));
  return availability;
}

/** Internal: the back end with its signer factory. */
export async function resolveBackend(name?: CryptoBackendName): Promise<InternalBackend> {
  if (name === 'tweetnacl') return tweetnaclBackend;
  if (name === 'webcrypto') {
    if (await webCryptoAvailable()) return webcryptoBackend;
    throw new Error('Ed25519 back end "webcrypto" is not available in this runtime (use "tweetnacl")');
  }
  if (name === undefined) return (await webCryptoAvailable()) ? webcryptoBackend : tweetnaclBackend;
  throw new Error(`Unknown Ed25519 back end ${JSON.stringify(name)} (expected "webcrypto" or "tweetnacl")`);
}

/** Internal: the back end if it can be chosen without waiting (detection already done), else undefined. */
export function resolveBackendNow(name?: CryptoBackendName): InternalBackend | undefined {
  if (name === 'tweetnacl') return tweetnaclBackend;
  if (knownAvailable === undefined) return undefined;
  if (name === 'webcrypto') return knownAvailable ? webcryptoBackend : undefined;
  if (name === undefined) return knownAvailable ? webcryptoBackend : tweetnaclBackend;
  return undefined;
}

/** A back end by name; by default WebCrypto when the runtime has Ed25519, else tweetnacl. */
export function getBackend(name?: CryptoBackendName): Promise<CryptoBackend> {
  return resolveBackend(name);
}
