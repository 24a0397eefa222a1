// Runs the runtime-neutral tests (crypto, codec, storage, simulator) under Deno, from the
// local node_modules only (no network): `deno` is an npm dev dependency and deno.json maps
// "vitest" to a small shim over Deno.test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const suites = ['test/crypto', 'test/codec', 'test/storage', 'test/sim'].filter((d) => existsSync(d));
const denoBin = require.resolve('deno/bin.cjs');
const args = [
  denoBin, 'test',
  '--no-check', // tsc already type-checks; Deno's checker would only repeat it
  '--cached-only', // never fetch anything: everything comes from node_modules
  '--allow-read', '--allow-env', '--allow-sys',
  ...suites,
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } });
process.exit(result.status ?? 1);
