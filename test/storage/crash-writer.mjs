// Child process of file-crash.test.ts: opens a file storage and writes into it from several
// concurrent workers as fast as it can, printing each operation on stdout once it is
// acknowledged (and each delete before it is issued), until the parent SIGKILLs it.
//
// usage: node crash-writer.mjs <module file.js> <dir> <round> <seed>
// Lines (all fields separated by spaces):
//   ready                    the store is open
//   s <key>                  set of <key> acknowledged (value: crashValue(key))
//   D <key>                  delete of <key> about to be issued
//   d <key>                  delete of <key> acknowledged
//   h <worker> <seq>         set of hard/<worker> to <seq> acknowledged
//   l <worker> <i>           log batch at index i acknowledged: log/<round>/<worker>/i..i+3 set, [0, i-8) deleted
//   b <prefix> <m>           batch of m keys <prefix><j> (j < m) acknowledged
//   c <n>                    the store has compacted its log n times since open
import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, dir, roundArg, seedArg] = process.argv.slice(2);
const round = Number(roundArg);
const { openFileStorage } = await import(pathToFileURL(modulePath).href);
const { crashValue, logKey, prng } = await import(new URL('./crash-common.mjs', import.meta.url).href);

// stdout is a non-blocking pipe: when a loaded parent has not drained it, writeSync throws
// EAGAIN; retry until the whole line is out (the line must precede any later one).
const print = (line) => {
  const buf = Buffer.from(line + '\n');
  for (let done = 0; done < buf.length; ) {
    try {
      done += writeSync(1, buf, done);
    } catch (err) {
      if (err?.code !== 'EAGAIN') throw err;
    }
  }
};
const random = prng(Number(seedArg));
// Compact early and often, so kills land in compactions too.
const s = await openFileStorage(dir, { compactMinBytes: 128 << 10, compactRatio: 1.25 });
print('ready');
let compactions = 0;
setInterval(() => {
  const c = s.stats().compactions;
  if (c !== compactions) print(`c ${(compactions = c)}`);
}, 5);

const WORKERS = 8;
// Keys left by earlier rounds join the workers' pools, so deletes keep the live data small and
// the log has plenty to compact.
const earlier = { k: [], big: [] };
for (const [key] of await s.scan({ prefix: 'k/' })) earlier.k.push(key);
for (const [key] of await s.scan({ prefix: 'big/' })) earlier.big.push(key);

async function worker(w) {
  // k/ keys whose set was acknowledged and not deleted since
  const acked = earlier.k.filter((_, i) => i % WORKERS === w);
  // large values: the next large write deletes these in the same batch
  let bigs = earlier.big.filter((_, i) => i % WORKERS === w);
  let n = 0;
  let hard = 0;
  let logIndex = 0;
  for (;;) {
    const r = random();
    n++;
    if (r < 0.4) {
      const key = `k/${round}/${w}/${n}`;
      await s.set(key, crashValue(key));
      acked.push(key);
      print(`s ${key}`);
    } else if (r < 0.5 && acked.length > 0) {
      const key = acked.splice(Math.floor(random() * acked.length), 1)[0];
      print(`D ${key}`);
      await s.delete(key);
      print(`d ${key}`);
    } else if (r < 0.65) {
      const seq = round * 1_000_000 + ++hard;
      await s.set(`hard/${w}`, new TextEncoder().encode(String(seq)));
      print(`h ${w} ${seq}`);
    } else if (r < 0.85) {
      const i = logIndex;
      logIndex += 4;
      const ops = [];
      for (let j = i; j < i + 4; j++) {
        const key = logKey(round, w, j);
        ops.push({ type: 'set', key, value: crashValue(key) });
      }
      if (i >= 8) ops.push({ type: 'deleteRange', start: logKey(round, w, 0), end: logKey(round, w, i - 8) });
      await s.batch(ops);
      print(`l ${w} ${i}`);
    } else if (r < 0.99) {
      const m = 2 + Math.floor(random() * 5);
      const prefix = `b/${round}/${w}/${n}/${m}/`;
      await s.batch(Array.from({ length: m }, (_, j) => ({ type: 'set', key: prefix + j, value: crashValue(prefix + j) })));
      print(`b ${prefix} ${m}`);
    } else {
      // now and then a large value (records bigger than a write chunk, torn in many places)
      // replacing the previous ones in the same batch
      const key = `big/${round}/${w}/${n}`;
      const ops = [{ type: 'set', key, value: crashValue(key) }];
      for (const old of bigs) {
        print(`D ${old}`);
        ops.push({ type: 'delete', key: old });
      }
      await s.batch(ops);
      print(`s ${key}`);
      for (const old of bigs) print(`d ${old}`);
      bigs = [key];
    }
  }
}

for (let w = 0; w < WORKERS; w++) {
  worker(w).catch((err) => {
    process.stderr.write(`worker ${w} failed: ${err?.stack ?? err}\n`);
    process.exit(3);
  });
}
