// Ed25519 identities and the one verification entry point every replica uses.

import { bytesEqual, fromBase64Url, isBytes, publicKeyToId, toBase64Url } from './bytes.ts';
import { assertSeed, resolveBackend, resolveBackendNow, type CryptoBackendName, type InternalBackend } from './backends.ts';
import { checkStrict } from './strict.ts';

export interface Identity {
  /** publicKeyToId(publicKey). */
  readonly id: string;
  /** The 32-byte public key. Shared, not copied: do not mutate. */
  readonly publicKey: Uint8Array;
  readonly backend: CryptoBackendName;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

// Seeds live here, not on the identity object, so logging or serialising an identity cannot
// print them. Only exportIdentity reads this map.
const seeds = new WeakMap<Identity, Uint8Array>();

async function makeIdentity(seed: Uint8Array, backend: InternalBackend): Promise<Identity> {
  const publicKey = await backend.publicKeyFromSeed(seed);
  const signer = await backend.createSigner(seed);
  const identity: Identity = Object.freeze({
    id: publicKeyToId(publicKey),
    publicKey,
    backend: backend.name,
    sign: (message: Uint8Array) => signer(message),
  });
  seeds.set(identity, seed);
  return identity;
}

/**
 * A new Ed25519 identity. With `seed` it is deterministic (the simulator relies on that);
 * otherwise the seed is 32 bytes from crypto.getRandomValues.
 */
export async function generateIdentity(
  options: { seed?: Uint8Array; backend?: CryptoBackendName } = {},
): Promise<Identity> {
  let seed: Uint8Array;
  if (options.seed !== undefined) {
    assertSeed(options.seed);
    seed = Uint8Array.from(options.seed); // our own copy: the caller may reuse or wipe theirs
  } else {
    seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
  }
  return makeIdentity(seed, await resolveBackend(options.backend));
}

/** The identity as base64url strings, for persistence. Contains the secret seed. */
export function exportIdentity(identity: Identity): { publicKey: string; seed: string } {
  const seed = seeds.get(identity);
  if (seed === undefined) {
    throw new Error('exportIdentity: not an identity made by generateIdentity or importIdentity');
  }
  return { publicKey: toBase64Url(identity.publicKey), seed: toBase64Url(seed) };
}

/** Inverse of exportIdentity; throws if the public key does not belong to the seed. */
export async function importIdentity(
  data: { publicKey: string; seed: string },
  options: { backend?: CryptoBackendName } = {},
): Promise<Identity> {
  if (data === null || typeof data !== 'object' || typeof data.publicKey !== 'string' || typeof data.seed !== 'string') {
    throw new Error('importIdentity: expected { publicKey: string, seed: string }');
  }
  let seed: Uint8Array;
  let publicKey: Uint8Array;
  try {
    seed = fromBase64Url(data.seed);
    publicKey = fromBase64Url(data.publicKey);
  } catch (err) {
    throw new Error(`importIdentity: ${(err as Error).message}`);
  }
  if (seed.length !== 32) throw new Error(`importIdentity: seed must be 32 bytes, got ${seed.length}`);
  if (publicKey.length !== 32) throw new Error(`importIdentity: public key must be 32 bytes, got ${publicKey.length}`);
  const identity = await makeIdentity(seed, await resolveBackend(options.backend));
  if (!bytesEqual(identity.publicKey, publicKey)) {
    seeds.delete(identity);
    throw new Error('importIdentity: the public key does not match the seed');
  }
  return identity;
}

const FALSE = Promise.resolve(false);

/**
 * Verify an Ed25519 signature: the strict rule first (checkStrict), then the back end.
 * Resolves false for anything malformed (wrong lengths, non-Uint8Array input); it only
 * rejects when an explicitly requested back end is missing, which is a configuration error.
 */
export function verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  options?: { backend?: CryptoBackendName },
): Promise<boolean> {
  // Not `async`: on the hot path (back end already chosen) this adds no microtask hops.
  let name: CryptoBackendName | undefined;
  try {
    if (!isBytes(message) || checkStrict(publicKey, signature) !== null) return FALSE;
    name = options?.backend;
  } catch {
    return FALSE;
  }
  const backend = resolveBackendNow(name);
  if (backend !== undefined) return backend.verifyRaw(publicKey, message, signature);
  return resolveBackend(name).then((b) => b.verifyRaw(publicKey, message, signature));
}
