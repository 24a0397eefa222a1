import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  exportIdentity,
  fromHex,
  generateIdentity,
  getBackend,
  importIdentity,
  publicKeyToId,
  toBase64Url,
  toHex,
  verify,
  webCryptoAvailable,
  type CryptoBackend,
  type CryptoBackendName,
} from '../../src/crypto/index.ts';

const NAMES: readonly CryptoBackendName[] = ['webcrypto', 'tweetnacl'];
const enc = new TextEncoder();

// RFC 8032 §7.1 tests 1-3.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155' +
      '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da' +
      '085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac' +
      '18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

const backends: Record<CryptoBackendName, CryptoBackend> = {} as Record<CryptoBackendName, CryptoBackend>;

beforeAll(async () => {
  for (const name of NAMES) backends[name] = await getBackend(name);
});

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >>> 3] = out[bit >>> 3]! ^ (1 << (bit & 7));
  return out;
}

describe('back ends', () => {
  it('WebCrypto Ed25519 is detected (Node 20, Deno) and is the default', async () => {
    expect(await webCryptoAvailable()).toBe(true);
    expect((await getBackend()).name).toBe('webcrypto');
    expect((await getBackend('tweetnacl')).name).toBe('tweetnacl');
    await expect(getBackend('nope' as CryptoBackendName)).rejects.toThrow();
  });

  for (const vector of RFC8032) {
    it(`RFC 8032 vector (message ${vector.message || 'empty'}): exact key and signature on both`, async () => {
      const seed = fromHex(vector.seed);
      const message = fromHex(vector.message);
      for (const name of NAMES) {
        const backend = backends[name];
        expect(toHex(await backend.publicKeyFromSeed(seed))).toBe(vector.publicKey);
        expect(toHex(await backend.sign(seed, message))).toBe(vector.signature);
        expect(await backend.verifyRaw(fromHex(vector.publicKey), message, fromHex(vector.signature))).toBe(true);
        const identity = await generateIdentity({ seed, backend: name });
        expect(toHex(await identity.sign(message))).toBe(vector.signature);
        expect(await verify(fromHex(vector.publicKey), message, fromHex(vector.signature), { backend: name })).toBe(
          true,
        );
      }
    });
  }

  it('sign/verify round trip on each back end, and across back ends both ways', async () => {
    const seed = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const message = enc.encode('statechorus round trip');
    const web = await generateIdentity({ seed, backend: 'webcrypto' });
    const nacl = await generateIdentity({ seed, backend: 'tweetnacl' });
    expect(web.publicKey).toEqual(nacl.publicKey);
    expect(web.id).toBe(nacl.id);
    const sigWeb = await web.sign(message);
    const sigNacl = await nacl.sign(message);
    // Ed25519 is deterministic: the same bytes from both.
    expect(sigWeb).toEqual(sigNacl);
    for (const name of NAMES) {
      expect(await verify(web.publicKey, message, sigWeb, { backend: name })).toBe(true);
      expect(await verify(nacl.publicKey, message, sigNacl, { backend: name })).toBe(true);
      expect(await backends[name].verifyRaw(web.publicKey, message, sigNacl)).toBe(true);
    }
  });

  it('raw sign with a seed equals identity sign', async () => {
    const seed = new Uint8Array(32).fill(3);
    const message = new Uint8Array(100).fill(1);
    for (const name of NAMES) {
      const identity = await generateIdentity({ seed, backend: name });
      expect(await backends[name].sign(seed, message)).toEqual(await identity.sign(message));
    }
  });

  it('signatures from one back end verify on the other (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 256 }),
        async (seed, message) => {
          const web = await backends.webcrypto.sign(seed, message);
          const nacl = await backends.tweetnacl.sign(seed, message);
          expect(web).toEqual(nacl);
          const publicKey = await backends.tweetnacl.publicKeyFromSeed(seed);
          expect(await backends.webcrypto.publicKeyFromSeed(seed)).toEqual(publicKey);
          for (const name of NAMES) {
            expect(await verify(publicKey, message, web, { backend: name })).toBe(true);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a single bit flip in message or signature fails on both back ends (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        fc.nat(),
        fc.nat(511),
        async (seed, message, messageBit, signatureBit) => {
          const identity = await generateIdentity({ seed, backend: 'tweetnacl' });
          const signature = await identity.sign(message);
          const badMessage = flipBit(message, messageBit % (message.length * 8));
          const badSignature = flipBit(signature, signatureBit);
          for (const name of NAMES) {
            expect(await verify(identity.publicKey, message, signature, { backend: name })).toBe(true);
            expect(await verify(identity.publicKey, badMessage, signature, { backend: name })).toBe(false);
            expect(await verify(identity.publicKey, message, badSignature, { backend: name })).toBe(false);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('the verification key cache stays correct past its bound (300 keys, limit 256)', async () => {
    const message = enc.encode('cache');
    const signed: { publicKey: Uint8Array; signature: Uint8Array }[] = [];
    for (let i = 0; i < 300; i++) {
      const seed = new Uint8Array(32);
      seed[0] = i & 255;
      seed[1] = i >>> 8;
      seed[2] = 77;
      const identity = await generateIdentity({ seed, backend: 'webcrypto' });
      signed.push({ publicKey: identity.publicKey, signature: await identity.sign(message) });
    }
    for (const { publicKey, signature } of signed) {
      expect(await backends.webcrypto.verifyRaw(publicKey, message, signature)).toBe(true);
    }
    // The first keys were evicted; they must be imported again, not confused with others.
    expect(await backends.webcrypto.verifyRaw(signed[0]!.publicKey, message, signed[0]!.signature)).toBe(true);
    expect(await backends.webcrypto.verifyRaw(signed[0]!.publicKey, message, signed[1]!.signature)).toBe(false);
    // Many concurrent first uses of one key share one import and all succeed.
    const fresh = await generateIdentity({ backend: 'webcrypto' });
    const sig = await fresh.sign(message);
    const all = await Promise.all(
      Array.from({ length: 32 }, () => backends.webcrypto.verifyRaw(fresh.publicKey, message, sig)),
    );
    expect(all.every((ok) => ok)).toBe(true);
  });

  it('verify rejects (configuration error) for an unknown back end name', async () => {
    const identity = await generateIdentity({ seed: new Uint8Array(32).fill(8) });
    const sig = await identity.sign(new Uint8Array(0));
    await expect(verify(identity.publicKey, new Uint8Array(0), sig, { backend: 'x' as CryptoBackendName })).rejects.toThrow();
    expect(await verify(identity.publicKey, new Uint8Array(0), sig, {})).toBe(true);
    expect(await verify(identity.publicKey, new Uint8Array(0), sig)).toBe(true);
  });

  it('raw back ends resolve false, not reject, on malformed input', async () => {
    const good = new Uint8Array(32).fill(1);
    for (const name of NAMES) {
      const b = backends[name];
      expect(await b.verifyRaw(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64))).toBe(false);
      expect(await b.verifyRaw(good, new Uint8Array(0), new Uint8Array(63))).toBe(false);
      expect(await b.verifyRaw(null as unknown as Uint8Array, new Uint8Array(0), new Uint8Array(64))).toBe(false);
      expect(await b.verifyRaw(good, 'm' as unknown as Uint8Array, new Uint8Array(64))).toBe(false);
      await expect(b.sign(new Uint8Array(31), new Uint8Array(0))).rejects.toThrow();
      await expect(b.publicKeyFromSeed(new Uint8Array(33))).rejects.toThrow();
    }
  });
});

describe('identities', () => {
  it('the same seed gives the same identity on both back ends; random seeds differ', async () => {
    const seed = new Uint8Array(32).fill(42);
    const a = await generateIdentity({ seed, backend: 'webcrypto' });
    const b = await generateIdentity({ seed, backend: 'tweetnacl' });
    const c = await generateIdentity({ seed });
    expect(a.id).toBe(b.id);
    expect(c.id).toBe(a.id);
    expect(c.backend).toBe('webcrypto');
    expect(a.id).toBe(publicKeyToId(a.publicKey));
    const r1 = await generateIdentity();
    const r2 = await generateIdentity({ backend: 'tweetnacl' });
    expect(r1.id).not.toBe(r2.id);
    expect(r1.id).not.toBe(a.id);
  });

  it('keeps its own copy of the seed', async () => {
    const seed = new Uint8Array(32).fill(5);
    const identity = await generateIdentity({ seed, backend: 'tweetnacl' });
    const before = await identity.sign(new Uint8Array([1]));
    seed.fill(0);
    expect(await identity.sign(new Uint8Array([1]))).toEqual(before);
    expect(exportIdentity(identity).seed).toBe(toBase64Url(new Uint8Array(32).fill(5)));
  });

  it('does not expose the seed through enumerable properties or JSON', async () => {
    const seed = new Uint8Array(32).map((_, i) => 200 - i);
    for (const name of NAMES) {
      const identity = await generateIdentity({ seed, backend: name });
      const seedHex = toHex(seed);
      const seedB64 = toBase64Url(seed);
      expect(Object.keys(identity).sort()).toEqual(['backend', 'id', 'publicKey', 'sign']);
      for (const key of Object.getOwnPropertyNames(identity)) {
        const value = (identity as unknown as Record<string, unknown>)[key];
        if (value instanceof Uint8Array) expect(toHex(value)).not.toBe(seedHex);
      }
      const json = JSON.stringify(identity);
      expect(json).not.toContain(seedB64);
      expect(json).not.toContain(seed.join(','));
      expect(Object.isFrozen(identity)).toBe(true);
    }
  });

  it('export/import round trip on both back ends', async () => {
    for (const name of NAMES) {
      const original = await generateIdentity({ backend: name });
      const data = exportIdentity(original);
      expect(data.publicKey).toBe(original.id);
      expect(data.seed).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // JSON-safe, so it can be stored as it is.
      const restored = await importIdentity(JSON.parse(JSON.stringify(data)) as typeof data, { backend: name });
      expect(restored.id).toBe(original.id);
      const message = enc.encode('persisted');
      expect(await restored.sign(message)).toEqual(await original.sign(message));
      const other = NAMES.find((n) => n !== name)!;
      expect((await importIdentity(data, { backend: other })).id).toBe(original.id);
    }
  });

  it('importIdentity refuses a public key that does not match the seed, and malformed data', async () => {
    const a = exportIdentity(await generateIdentity({ seed: new Uint8Array(32).fill(1) }));
    const b = exportIdentity(await generateIdentity({ seed: new Uint8Array(32).fill(2) }));
    const messageOf = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (err) {
        return (err as Error).message;
      }
      return '(resolved)';
    };
    expect(await messageOf(importIdentity({ publicKey: b.publicKey, seed: a.seed }))).toMatch(/does not match/);
    expect(await messageOf(importIdentity({ publicKey: a.publicKey, seed: a.seed.slice(0, 40) }))).toMatch(
      /importIdentity/,
    );
    expect(await messageOf(importIdentity({ publicKey: a.publicKey + '!', seed: a.seed }))).toMatch(
      /importIdentity/,
    );
    await expect(importIdentity(null as unknown as typeof a)).rejects.toThrow();
    await expect(importIdentity({ publicKey: 1, seed: 2 } as unknown as typeof a)).rejects.toThrow();
    expect(() => exportIdentity({ ...(a as object) } as never)).toThrow();
  });

  it('generateIdentity refuses a seed that is not 32 bytes', async () => {
    await expect(generateIdentity({ seed: new Uint8Array(31) })).rejects.toThrow();
    await expect(generateIdentity({ seed: [1, 2] as unknown as Uint8Array })).rejects.toThrow();
    await expect(generateIdentity({ backend: 'bogus' as CryptoBackendName })).rejects.toThrow();
  });

  it('identity.sign rejects a non-Uint8Array message', async () => {
    for (const name of NAMES) {
      const identity = await generateIdentity({ backend: name });
      await expect(identity.sign('text' as unknown as Uint8Array)).rejects.toThrow();
    }
  });
});
