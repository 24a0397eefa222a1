// Runs the runtime-neutral tests (crypto, codec, storage, simulator) under Deno, from the
// local node_modules only (no network): `deno` is an npm dev dependency and deno.json maps
// "vitest" to a small shim over Deno.test. test/deno-net runs the networking under Deno too:
// the Deno signaling server, and WebRTC through @roamhq/wrtc loaded as a Node-API addon.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// `node scripts/deno-test.mjs test/storage` runs only the folders or files given.
const suites = process.argv.length > 2 ? process.argv.slice(2) : ['test/crypto', 'test/codec', 'test/storage', 'test/sim', 'test/deno-net'].filter((d) => existsSync(d));
// Node-only tests: the storage crash test spawns and SIGKILLs Node child processes.
const nodeOnly = ['test/storage/file-crash.test.ts'].filter((f) => existsSync(f));
const denoBin = require.resolve('deno/bin.cjs');
const args = [
  denoBin, 'test',
  '--no-check', // tsc already type-checks; Deno's checker would only repeat it
  '--cached-only', // never fetch anything: everything comes from node_modules
  '--allow-read', '--allow-env', '--allow-sys',
  '--allow-write', // file storage tests write under the temp directory
  '--allow-run', // ...and check whether a lock's process is alive (process.kill(pid, 0))
  '--allow-net=127.0.0.1,localhost', // deno-net: the signaling server and its WebSocket clients, on loopback only
  `--allow-ffi=${fileURLToPath(new URL('../node_modules', import.meta.url))}`, // deno-net: Node-API addons (@roamhq/wrtc's binary) from node_modules only
  ...(nodeOnly.length > 0 ? [`--ignore=${nodeOnly.join(',')}`] : []),
  ...suites,
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } });
process.exit(result.status ?? 1);
