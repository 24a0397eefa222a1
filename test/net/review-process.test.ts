// Review regression test: no replica process outlives the program that started it.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64Url } from '../../src/crypto/bytes.ts';
import { exportIdentity, generateIdentity } from '../../src/crypto/index.ts';
import { startRelay, type Relay } from '../transport/relay.ts';
import { ensureBuilt } from './build.ts';

const apps = fileURLToPath(new URL('../../examples/apps.mjs', import.meta.url));
const entry = fileURLToPath(new URL('../../dist/src/cluster/replica-process.js', import.meta.url));
let child: ChildProcess | undefined;
let relay: Relay | undefined;
let dir = '';

beforeAll(() => ensureBuilt(), 120_000);

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Finding: replica-process.ts installs its 'disconnect' (and SIGTERM/SIGINT) handlers only after
// the machine module is imported and replica.start() has resolved. If the parent goes away in
// that window (it is SIGKILLed, crashes, or a test times out), 'disconnect' fires with nobody
// listening, and the replica runs on for ever: its transport's timers and signaling socket keep
// the event loop alive. Same pattern in signaling-process.ts (handlers after the server started).
it('a replica process exits when its parent disconnects during start-up', async () => {
  relay = await startRelay();
  dir = await mkdtemp(join(tmpdir(), 'statechorus-review-'));
  // A machine module that takes a moment to load (a large app, a cold disk).
  const slowModule = join(dir, 'slow.mjs');
  await writeFile(slowModule, `await new Promise((r) => setTimeout(r, 1000));\nexport { counter } from ${JSON.stringify(apps)};\n`);
  const identity = await generateIdentity();
  const config = {
    id: 'r1',
    faultModel: 'crash',
    members: [{ id: 'r1', publicKey: toBase64Url(identity.publicKey) }],
    identity: exportIdentity(identity),
    signaling: relay.url,
    room: 'review',
    dataDir: join(dir, 'r1'),
    machine: { module: slowModule, export: 'counter' },
  };
  const path = join(dir, 'r1.json');
  await writeFile(path, JSON.stringify(config));
  child = fork(entry, [path], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
  const exited = new Promise<boolean>((resolve) => child!.once('exit', () => resolve(true)));
  await new Promise((r) => setTimeout(r, 300));
  child.disconnect(); // the parent is gone
  const result = await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), 8_000))]);
  expect(result, 'replica process still running 8 s after its parent left').toBe(true);
}, 30_000);
