/**
 * Codec throughput next to JSON in the same run (ratios matter, not absolute numbers).
 *
 *   node --experimental-strip-types bench/codec.ts      (Node >= 22.6)
 *   deno run bench/codec.ts
 *   or compile with tsc and run the .js with node.
 *
 * MB/s counts each format's own output: codec bytes, and UTF-8 bytes of the JSON text.
 */
import { decode, encode, type Plain } from '../src/codec/index.ts';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function event(i: number): Plain {
  return {
    type: 'ADD',
    item: { id: `abc${100 + (i % 900)}`, qty: 1 + (i % 7), note: 'some text here', price: 12.5 + i },
    client: 'client-42',
    seq: 1000 + i,
  };
}

function protocolMessage(): Plain {
  const batch: Plain[] = [];
  for (let i = 0; i < 64; i++) batch.push({ client: `c${i % 5}`, seq: 5000 + i, event: event(i) });
  return { type: 'prepare', view: 3, seq: 123456, from: 'r1', digest: 'f'.repeat(64), batch };
}

function stateObject(): Plain {
  const items: Plain[] = [];
  for (let i = 0; i < 72; i++) {
    items.push({
      id: `item-${i}`,
      name: `Product number ${i}`,
      qty: i % 5,
      price: Math.round(i * 3.7 * 100) / 100,
      tags: ['red', 'large', i % 2 ? 'sale' : 'new'],
      meta: { addedAt: 1732615200000 + i * 1000, by: 'user-7', gift: i % 3 === 0 },
    });
  }
  const history: Plain[] = [];
  for (let i = 0; i < 30; i++) history.push({ t: 1732615200000 + i, ev: i % 2 ? 'ADD' : 'REMOVE', ok: true });
  return {
    value: { cart: 'open', payment: 'idle' },
    status: 'active',
    context: { customer: { id: 'cust-1', name: 'Ada Lovelace', email: 'ada@example.org', vip: true }, items, history, total: 1234.56, count: 72 },
  };
}

/**
 * ops/s of `fn`: the best of several short rounds, so that a busy machine (other processes
 * taking the CPU for a while) disturbs the figures less than an average would.
 */
function measure(fn: () => unknown, rounds = 15, roundMs = 60): number {
  const warm = performance.now() + roundMs;
  while (performance.now() < warm) for (let i = 0; i < 10; i++) fn();
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let ops = 0;
    const start = performance.now();
    let now = start;
    while (now - start < roundMs) {
      for (let i = 0; i < 10; i++) fn();
      ops += 10;
      now = performance.now();
    }
    best = Math.max(best, (ops * 1000) / (now - start));
  }
  return best;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pad = (s: string, n: number) => s.padStart(n);

function row(label: string, ops: number, bytes: number, ref?: number): void {
  const ratio = ref === undefined ? '' : `${(ops / ref).toFixed(2)}× JSON`;
  console.log(`  ${label.padEnd(28)} ${pad(fmt(ops), 11)} ops/s ${pad(fmt((ops * bytes) / 1e6, 1), 8)} MB/s  ${ratio}`);
}

let sink = 0;

/** The usual way to canonical JSON: a replacer that rebuilds each object with sorted keys. */
function sortKeys(_key: string, x: unknown): unknown {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return x;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x).sort()) out[k] = (x as Record<string, unknown>)[k];
  return out;
}

for (const [name, value] of [
  ['(a) application event', event(1)],
  ['(b) message with 64 events', protocolMessage()],
  ['(c) nested state object', stateObject()],
] as const) {
  const bytes = encode(value);
  const json = JSON.stringify(value);
  const jsonBytes = textEncoder.encode(json);
  console.log(`${name}: codec ${bytes.length} bytes, JSON ${jsonBytes.length} bytes`);

  const jsonStringify = measure(() => (sink += JSON.stringify(value).length));
  const jsonStringifyUtf8 = measure(() => (sink += textEncoder.encode(JSON.stringify(value)).length));
  const jsonSorted = measure(() => (sink += JSON.stringify(value, sortKeys).length));
  const codecEncode = measure(() => (sink += encode(value).length));
  row('JSON.stringify', jsonStringify, jsonBytes.length);
  row('JSON.stringify + UTF-8', jsonStringifyUtf8, jsonBytes.length);
  row('JSON.stringify, sorted keys', jsonSorted, jsonBytes.length);
  row('encode', codecEncode, bytes.length, jsonStringify);

  const jsonParse = measure(() => (sink += JSON.parse(json) === null ? 0 : 1));
  const jsonParseUtf8 = measure(() => (sink += JSON.parse(textDecoder.decode(jsonBytes)) === null ? 0 : 1));
  const codecDecode = measure(() => (sink += decode(bytes).ok ? 1 : 0));
  row('JSON.parse', jsonParse, jsonBytes.length);
  row('UTF-8 + JSON.parse', jsonParseUtf8, jsonBytes.length);
  row('decode', codecDecode, bytes.length, jsonParse);
  console.log('');
}

if (sink === 42) console.log(''); // keeps the work observable
