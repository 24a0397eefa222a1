// Shared by file-crash.test.ts and crash-writer.mjs: deterministic values and a seeded PRNG.

/** The value written under `key`: its length and bytes follow from the key alone. */
export function crashValue(key) {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  const length = key.startsWith('big/') ? 300_000 + (h % 1000) : h % 300;
  const v = new Uint8Array(length);
  for (let i = 0; i < length; i++) v[i] = (h + i * 31) & 255;
  return v;
}

export function logKey(round, worker, i) {
  return `log/${round}/${worker}/${String(i).padStart(10, '0')}`;
}

/** mulberry32 */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
