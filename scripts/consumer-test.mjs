#!/usr/bin/env node
// The consumer test: statechorus as a dependency of someone else's app. Packs the package
// (`npm pack`, from the built dist/), installs the tarball plus xstate, the oldest TypeScript the
// package declares, Vite and esbuild into a temporary project outside the repository, copies
// test/consumer/ there and runs, in that project:
//   node      a Node ESM script: local clusters (both models), a crash group over WebRTC across two processes
//   deno      the same under Deno (npm: specifiers from node_modules)
//   vite      a browser app built by Vite with a config that sets nothing for statechorus
//   esbuild   the same app with esbuild --bundle --platform=browser
//   chromium  the Vite build in two Chromium pages plus a Node replica: one crash group commits
//   tsc       --noEmit, skipLibCheck false: bundler (a browser app and a Node app), nodenext, node16
// and measures the browser bundle sizes (minified and gzip; the crash app within 60 kB gzip and
// without the Byzantine protocol). Installs come from the npm registry
// through the npm cache. The last line is `N passed, N failed`.
//   node scripts/consumer-test.mjs [--keep]   (--keep leaves the temporary project)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const results = [];

function sh(label, cmd, args, options = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 120_000, killSignal: 'SIGKILL', ...options });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, signal: r.signal, out, ms: Date.now() - t0, why: r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}` };
}
function record(name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? '✓' : '✗'} ${name}${detail ? ` (${detail})` : ''}`);
}
/** Runs a step; it passes when it exits 0 (and `extra` holds on its output). */
function step(name, cmd, args, options = {}, extra = () => true) {
  const r = sh(name, cmd, args, options);
  const ok = r.ok && extra(r.out);
  if (!ok || process.env.CONSUMER_VERBOSE) console.log(r.out.trimEnd().split('\n').map((l) => `    ${l}`).join('\n'));
  record(name, ok, `${r.ms} ms${ok ? '' : `, ${r.why}`}`);
  return r;
}

// 1. Pack (dist/ must be built: npm test builds it first; alone, this builds it).
if (!process.env.STATECHORUS_BUILT) {
  const b = sh('build', 'npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, timeout: 300_000 });
  if (!b.ok) {
    console.log(b.out);
    record('build', false);
  }
}
const project = mkdtempSync(join(tmpdir(), 'statechorus-consumer-'));
const packed = sh('pack', 'npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: root });
let tarball;
try {
  const info = JSON.parse(packed.out.slice(packed.out.indexOf('[')))[0];
  tarball = join(project, info.filename);
  const paths = info.files.map((f) => f.path);
  const unwanted = paths.filter((p) => p.endsWith('.map') || p.startsWith('dist/bench/') || /\.ts$/.test(p.replace(/\.d\.ts$/, '')));
  record('npm pack', packed.ok && unwanted.length === 0 && paths.includes('LICENSE'), `${info.files.length} files, ${(info.size / 1024).toFixed(0)} kB packed, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked${unwanted.length ? `; unwanted: ${unwanted.slice(0, 5).join(', ')}` : ''}`);
  // Every relative link in the shipped README resolves inside the package.
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const broken = [...readme.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l)).filter((l) => !paths.some((p) => p === l.replace(/^\.\//, '') || p.startsWith(l.replace(/^\.\//, '').replace(/\/?$/, '/'))));
  record('README links resolve in the package', broken.length === 0, broken.join(', '));
} catch (err) {
  console.log(packed.out);
  record('npm pack', false, String(err));
}

// 2. The project: the tarball, xstate (a peer dependency), the oldest TypeScript declared.
const oldestTs = /\d+\.\d+/.exec(pkg.peerDependencies?.typescript ?? '5.7')[0];
cpSync(join(root, 'test', 'consumer'), project, { recursive: true });
writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
const deps = [tarball, `xstate@${version('xstate')}`, `typescript@~${oldestTs}.0`, `@types/node@${version('@types/node')}`, `vite@${version('vite')}`, `esbuild@${version('esbuild')}`];
const install = step('npm install (tarball, xstate, typescript ' + oldestTs + ', vite, esbuild)', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...deps], { cwd: project, timeout: 180_000 });
const inProject = { cwd: project, env: { ...process.env, NO_COLOR: '1' } };

if (install.ok) {
  // A signaling server for the Deno and browser runs, from the installed package.
  const signalingChild = (await import('node:child_process')).spawn(process.execPath, ['-e', `
    const { startSignalingServer } = await import('statechorus');
    const s = await startSignalingServer({ port: 0, host: '127.0.0.1' });
    console.log(s.url);
  `, '--input-type=module'], { cwd: project, stdio: ['ignore', 'pipe', 'inherit'] });
  const signaling = await new Promise((resolve) => {
    let buf = '';
    signalingChild.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.trim());
    });
    signalingChild.on('exit', () => resolve(undefined));
  });

  step('node: local clusters (crash, byzantine) and a crash group over WebRTC across two processes', process.execPath, ['node-app.mjs'], inProject, (out) => (out.match(/^ok:/gm) ?? []).length === 3);

  // The deno executable itself (deno/bin.cjs turns a signal into exit status 1): @roamhq/wrtc can
  // end a Deno process by SIGSEGV as it exits, after the work is done (README: known issue under
  // Deno). All three checks printed and then that signal: passed, and the signal is named.
  const denoName = 'deno: npm:statechorus from node_modules, local clusters and a crash group over WebRTC';
  const denoExe = join(dirname(require.resolve('deno/bin.cjs')), process.platform === 'win32' ? 'deno.exe' : 'deno');
  const d = sh(denoName, denoExe, ['run', '-A', '--cached-only', 'deno-app.mjs'], { ...inProject, env: { ...inProject.env, SIGNALING: signaling ?? '' } });
  const denoOk = (d.out.match(/^ok:/gm) ?? []).length === 3 && (d.ok || d.signal === 'SIGSEGV');
  if (!denoOk || process.env.CONSUMER_VERBOSE) console.log(d.out.trimEnd().split('\n').map((l) => `    ${l}`).join('\n'));
  record(denoName, denoOk, `${d.ms} ms${d.signal === 'SIGSEGV' && denoOk ? ", then SIGSEGV at exit (the WebRTC addon's known exit crash)" : ''}${denoOk ? '' : `, ${d.why}`}`);

  const vite = step('vite build (a config that sets nothing for statechorus)', process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], inProject, (out) => !/externalized|global is not defined|Module ".*" has been/.test(out));
  step('esbuild --bundle --platform=browser', join(project, 'node_modules', '.bin', 'esbuild'), ['web/main.js', '--bundle', '--platform=browser', '--format=esm', '--minify', '--outfile=dist-esbuild/main.js', '--log-level=warning'], inProject, (out) => out.trim() === '');

  if (vite.ok) {
    if (!existsSync('/usr/bin/chromium') && !process.env.CHROMIUM_PATH) spawnSync('bash', [join(root, 'scripts', 'apt-ensure.sh'), 'chromium:chromium'], { stdio: 'inherit' });
    const env = { ...inProject.env, SIGNALING: signaling ?? '', PLAYWRIGHT_CORE: dirname(require.resolve('playwright-core/package.json')), CHROMIUM: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' };
    step('chromium: the Vite build, two pages and a Node replica as one crash group', process.execPath, ['browser-run.mjs'], { ...inProject, env }, (out) => (out.match(/^ok:/gm) ?? []).length === 4);
  } else {
    record('chromium: the Vite build, two pages and a Node replica as one crash group', false, 'no Vite build');
  }
  signalingChild.kill();

  // The three settings at once (tsc is single-threaded; this step is most of the test's time).
  const { execFile } = await import('node:child_process');
  const tsc = (setting) => new Promise((resolve) => {
    const t0 = Date.now();
    execFile(process.execPath, ['node_modules/typescript/bin/tsc', '-p', `ts/tsconfig.${setting}.json`], { ...inProject, timeout: 170_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => resolve({ setting, ok: !err, out: `${stdout}${stderr}`, ms: Date.now() - t0 }));
  });
  for (const r of await Promise.all(['bundler', 'nodenext', 'node16'].map(tsc))) {
    if (!r.ok) console.log(r.out.trimEnd().split('\n').map((l) => `    ${l}`).join('\n'));
    record(`tsc ${oldestTs} --noEmit, skipLibCheck false, ${r.setting}`, r.ok, `${r.ms} ms`);
  }

  // Browser weight: what an app loads at start (esbuild, browser platform, minified, dynamic
  // imports split off as Vite does: the tweetnacl fallback loads only where WebCrypto lacks
  // Ed25519), xstate apart (the app's own dependency) unless said.
  try {
    const esbuild = await import(pathToFileURL(join(project, 'node_modules', 'esbuild', 'lib', 'main.js')).href);
    const measure = async (label, entry, external) => {
      const outdir = join(project, '.size');
      const r = await esbuild.build({ entryPoints: [join(project, entry)], bundle: true, splitting: true, outdir, platform: 'browser', format: 'esm', minify: true, write: false, metafile: true, external, absWorkingDir: project, logLevel: 'silent' });
      const entryOut = Object.entries(r.metafile.outputs).find(([, o]) => o.entryPoint);
      const at = (key) => r.outputFiles.find((f) => f.path.endsWith(key.replace(/^.*\/\.size\//, '/')));
      // The entry and the chunks it imports statically: what loads before the app runs.
      const initial = new Set();
      const visit = (key) => {
        if (initial.has(key)) return;
        initial.add(key);
        for (const i of r.metafile.outputs[key].imports) if (i.kind === 'import-statement' && r.metafile.outputs[i.path]) visit(i.path);
      };
      visit(entryOut[0]);
      const size = (keys) => {
        const bytes = Buffer.concat([...keys].map((k) => Buffer.from(at(k).contents)));
        return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
      };
      const start = size(initial);
      const lazy = Object.keys(r.metafile.outputs).filter((k) => !initial.has(k) && !k.endsWith('.map'));
      const later = lazy.length ? size(lazy) : undefined;
      console.log(`    ${label}: ${(start.raw / 1024).toFixed(1)} kB minified, ${(start.gzip / 1024).toFixed(1)} kB gzip${later ? ` (+ ${(later.gzip / 1024).toFixed(1)} kB gzip loaded on demand)` : ''}`);
      const inputs = [...initial].flatMap((k) => Object.entries(r.metafile.outputs[k].inputs).filter(([, v]) => v.bytesInOutput > 0).map(([name]) => name));
      return { gzip: start.gzip, bundled: inputs };
    };
    console.log('browser bundle sizes at start (esbuild --bundle --splitting --platform=browser --minify):');
    const crash = await measure('crash app: createReplica from statechorus/crash, createClient, webrtcTransport, idbStorage (size-crash.mjs)', 'size-crash.mjs', ['xstate']);
    await measure('the same with createReplica from statechorus (both fault models; size-both.mjs)', 'size-both.mjs', ['xstate']);
    await measure('crash app with xstate', 'size-crash.mjs', []);
    await measure('the test app (web/main.js: createReplica from statechorus, a machine, xstate)', 'web/main.js', []);
    record('core + crash model + WebRTC + idb <= 60 kB gzip', crash.gzip <= 60 * 1024, `${(crash.gzip / 1024).toFixed(1)} kB`);
    const byzantine = crash.bundled.filter((k) => /actors\/byzantine\/|replica\/byzantine\.js|cluster\/behaviours\//.test(k));
    record('a crash-only app bundles none of the Byzantine protocol', byzantine.length === 0, byzantine.slice(0, 3).join(', '));
  } catch (err) {
    record('browser bundle sizes', false, String(err?.message ?? err));
  }
}

if (process.argv.includes('--keep')) console.log(`project kept: ${project}`);
else rmSync(project, { recursive: true, force: true });
const passed = results.filter((r) => r.ok).length;
console.log(`consumer test took ${elapsed()}`);
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length ? 0 : 1);
