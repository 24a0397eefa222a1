// Crypto micro-benchmark (not a test). Build and run:
//   npx tsc -p tsconfig.build.json && node dist/bench/crypto.js
// BENCH_SECONDS sets the length of one measurement (default 1.5 s, after a warm-up).

import {
  checkStrict,
  generateIdentity,
  getBackend,
  sha256,
  sha256Sync,
  sha256SyncPure,
  verify,
  webCryptoAvailable,
  type CryptoBackendName,
} from '../src/crypto/index.ts';

const SECONDS = Number(globalThis.process?.env?.['BENCH_SECONDS'] ?? '') || 1.5;
const WARMUP_MS = 300;
const IN_FLIGHT = 64;
const MESSAGE_BYTES = 100;

/** Calls per second of an async operation, one call at a time; `perCall` ops per call. */
async function measure(fn: () => Promise<unknown>, perCall = 1, seconds = SECONDS): Promise<number> {
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) await fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < seconds * 1000) {
    await fn();
    ops += perCall;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

/** Two operations in alternating rounds; the best round of each (least disturbed by load). */
async function compare(a: () => Promise<unknown>, b: () => Promise<unknown>, perCall = 1): Promise<[number, number]> {
  const rounds = 4;
  let bestA = 0;
  let bestB = 0;
  for (let r = 0; r < rounds; r++) {
    bestA = Math.max(bestA, await measure(a, perCall, SECONDS / 2));
    bestB = Math.max(bestB, await measure(b, perCall, SECONDS / 2));
  }
  return [bestA, bestB];
}

/** Same for a synchronous operation (no await in the loop to distort tiny operations). */
function measureSync(fn: () => unknown, perCall = 1): number {
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < SECONDS * 1000) {
    for (let i = 0; i < 16; i++) fn();
    ops += 16 * perCall;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  return out;
}

const fmt = (x: number): string =>
  x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2);

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log();
}

async function main(): Promise<void> {
  const hasWebCrypto = await webCryptoAvailable();
  const names: CryptoBackendName[] = hasWebCrypto ? ['webcrypto', 'tweetnacl'] : ['tweetnacl'];
  const runtime = globalThis.process?.version ? `Node ${globalThis.process.version}` : 'unknown runtime';
  console.log(`statechorus crypto bench: ${runtime}, ${MESSAGE_BYTES}-byte messages, ${SECONDS}s per figure`);
  if (!hasWebCrypto) console.log('WebCrypto Ed25519 not available: tweetnacl only');
  console.log();

  const seed = randomBytes(32);
  const messages = Array.from({ length: IN_FLIGHT }, () => randomBytes(MESSAGE_BYTES));
  const results = new Map<string, Map<CryptoBackendName, number>>();
  const record = (row: string, name: CryptoBackendName, value: number): void => {
    if (!results.has(row)) results.set(row, new Map());
    results.get(row)!.set(name, value);
  };

  for (const name of names) {
    const backend = await getBackend(name);
    const identity = await generateIdentity({ seed, backend: name });
    const publicKey = identity.publicKey;
    const signatures = await Promise.all(messages.map((m) => identity.sign(m)));
    const opts = { backend: name };
    let i = 0;
    const next = (): number => (i = (i + 1) % IN_FLIGHT);

    process.stdout.write(`measuring ${name} ...`);
    record('sign (identity.sign), sequential', name, await measure(() => identity.sign(messages[next()]!)));
    record(`sign, ${IN_FLIGHT} in flight`, name,
      await measure(() => Promise.all(messages.map((m) => identity.sign(m))), IN_FLIGHT));
    // verify and verifyRaw are measured in alternating rounds (best round kept), so that load
    // from elsewhere on the machine hits both alike and the difference means something.
    const [seq, seqRaw] = await compare(
      () => {
        const k = next();
        return verify(publicKey, messages[k]!, signatures[k]!, opts);
      },
      () => {
        const k = next();
        return backend.verifyRaw(publicKey, messages[k]!, signatures[k]!);
      },
    );
    record('verify (strict + back end), sequential', name, seq);
    record('verifyRaw (back end only), sequential', name, seqRaw);
    const [par, parRaw] = await compare(
      () => Promise.all(messages.map((m, k) => verify(publicKey, m, signatures[k]!, opts))),
      () => Promise.all(messages.map((m, k) => backend.verifyRaw(publicKey, m, signatures[k]!))),
      IN_FLIGHT,
    );
    record(`verify, ${IN_FLIGHT} in flight`, name, par);
    record(`verifyRaw, ${IN_FLIGHT} in flight`, name, parRaw);
    console.log(' done');
  }
  console.log();

  const header = ['ops/s', ...names];
  if (names.length === 2) header.push('webcrypto/tweetnacl');
  const rows: string[][] = [];
  for (const [row, byName] of results) {
    const cells = [row, ...names.map((n) => fmt(byName.get(n) ?? NaN))];
    if (names.length === 2) cells.push(`${fmt(byName.get('webcrypto')! / byName.get('tweetnacl')!)}x`);
    rows.push(cells);
  }
  table(header, rows);

  // What the strict rule costs on its own, per signature (key verdict cached).
  const identity = await generateIdentity({ seed });
  const sig = await identity.sign(messages[0]!);
  const strictOps = measureSync(() => checkStrict(identity.publicKey, sig));
  const overheadRows: string[][] = [['checkStrict alone (cached key)', fmt(strictOps), `${(1e6 / strictOps).toFixed(2)} µs`]];
  for (const name of names) {
    const seq = results.get('verify (strict + back end), sequential')!.get(name)!;
    const raw = results.get('verifyRaw (back end only), sequential')!.get(name)!;
    overheadRows.push([`verify / verifyRaw, ${name}, sequential`, `${((seq / raw) * 100).toFixed(1)}%`,
      `${((1e6 / seq - 1e6 / raw)).toFixed(2)} µs`]);
    const par = results.get(`verify, ${IN_FLIGHT} in flight`)!.get(name)!;
    const parRaw = results.get(`verifyRaw, ${IN_FLIGHT} in flight`)!.get(name)!;
    overheadRows.push([`verify / verifyRaw, ${name}, ${IN_FLIGHT} in flight`, `${((par / parRaw) * 100).toFixed(1)}%`,
      `${((1e6 / par - 1e6 / parRaw)).toFixed(2)} µs`]);
  }
  table(['strict rule cost', 'ops/s or speed', 'per op'], overheadRows);

  // SHA-256: bulk throughput and small-message rate.
  const big = randomBytes(1 << 20);
  const small = randomBytes(MESSAGE_BYTES);
  const syncBig = measureSync(() => sha256Sync(big));
  const pureBig = measureSync(() => sha256SyncPure(big));
  const subtleBig = await measure(() => sha256(big));
  const syncSmall = measureSync(() => sha256Sync(small));
  const subtleSmall = await measure(() => sha256(small));
  const subtleSmallPar = await measure(() => Promise.all(messages.map((m) => sha256(m))), IN_FLIGHT);
  // sha256Sync takes the runtime's native hash for inputs of 512 bytes or more where there is one.
  table(['sha256', 'sha256Sync', 'sha256 (subtle)', 'sync/subtle'], [
    ['1 MiB input, MB/s', fmt(syncBig * 1.048576), fmt(subtleBig * 1.048576), `${fmt(syncBig / subtleBig)}x`],
    ['1 MiB input, pure-JS path (browsers), MB/s', fmt(pureBig * 1.048576), '', ''],
    [`${MESSAGE_BYTES}-byte input, ops/s`, fmt(syncSmall), fmt(subtleSmall), `${fmt(syncSmall / subtleSmall)}x`],
    [`${MESSAGE_BYTES}-byte input, ${IN_FLIGHT} in flight, ops/s`, '', fmt(subtleSmallPar), `${fmt(syncSmall / subtleSmallPar)}x`],
  ]);
}

await main();
