#!/usr/bin/env node
// The browser tests: WebRTC between headless Chromium pages, and between a page and Node.
//   node scripts/browser-test.mjs [name filter]
// Builds demo/dist/ (Vite) and dist/ (tsc; skipped when STATECHORUS_BUILT=1), starts the
// signaling server and the demo's server (demo/ and its lobby) on loopback, launches Debian's Chromium
// through playwright-core and runs test/browser/*.spec.mjs. Everything offline. The last line
// is `N passed, N failed`; the exit code is 0 only when nothing failed. Screenshots and page
// logs go to .tmp/browser/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = join(root, '.tmp', 'browser');
mkdirSync(tmp, { recursive: true });
const filter = process.argv[2];
const RUN_TIMEOUT_MS = 300_000;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const cleanups = [];
let cleaningUp;
async function cleanup() {
  // Last registered, first closed (pages, then the browser, then the servers).
  cleaningUp ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await Promise.race([fn(), new Promise((r) => setTimeout(r, 5_000))]);
      } catch {
        // best effort
      }
    }
  })();
  return cleaningUp;
}
let exiting = false;
async function finish(passed, failed, note) {
  if (exiting) return;
  exiting = true;
  clearTimeout(watchdog);
  if (note) console.log(note);
  await cleanup();
  console.log(`browser tests took ${elapsed()}`);
  console.log(`${passed} passed, ${failed} failed`);
  // @roamhq/wrtc keeps native threads that can hold the process open: leave explicitly.
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
const watchdog = setTimeout(() => void finish(0, 1, `the whole run exceeded ${RUN_TIMEOUT_MS / 1000} s`), RUN_TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void finish(0, 1, `interrupted by ${sig}`));
process.on('unhandledRejection', (err) => console.log(`unhandled rejection: ${err?.stack ?? err}`));

function runStep(label, cmd, args) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], timeout: 90_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  console.log(`${label}: ${Date.now() - t0} ms`);
}

/**
 * Injected into every page before its scripts: keeps the page's RTCPeerConnections and counts
 * `bufferedamountlow` events on their data channels, so tests can report which ICE candidates
 * were gathered and chosen (`await window.__rtcProbe.report()`).
 */
const RTC_PROBE = `(() => {
  const Base = window.RTCPeerConnection;
  if (!Base) return;
  const pcs = [];
  let lowEvents = 0;
  const watch = (ch) => ch.addEventListener('bufferedamountlow', () => lowEvents++);
  class ProbedPeerConnection extends Base {
    constructor(...args) {
      super(...args);
      pcs.push(this);
      this.addEventListener('datachannel', (e) => watch(e.channel));
    }
    createDataChannel(...args) {
      const ch = super.createDataChannel(...args);
      watch(ch);
      return ch;
    }
  }
  window.RTCPeerConnection = ProbedPeerConnection;
  const kinds = (sdp) => (sdp || '').split(/\\r?\\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => {
    const f = l.split(' ');
    return f[7] + ':' + (f[4].endsWith('.local') ? 'mdns' : f[4].includes(':') ? 'ipv6' : f[4]);
  });
  window.__rtcProbe = {
    get lowEvents() { return lowEvents; },
    async report() {
      const out = [];
      for (const pc of pcs) {
        const entry = { state: pc.connectionState, local: kinds(pc.localDescription?.sdp), remote: kinds(pc.remoteDescription?.sdp), pair: null };
        try {
          const stats = await pc.getStats();
          for (const s of stats.values()) {
            if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
              const l = stats.get(s.localCandidateId), r = stats.get(s.remoteCandidateId);
              entry.pair = l?.candidateType + ' ' + (l?.address || '(hidden)') + ' <-> ' + r?.candidateType + ' ' + (r?.address || '(hidden)');
            }
          }
        } catch {}
        out.push(entry);
      }
      return { lowEvents, connections: out };
    },
  };
})();`;

async function main() {
  // 1. Builds.
  const { buildBrowserBundle } = await import('./browser-build.mjs');
  let t0 = Date.now();
  await buildBrowserBundle({ quiet: true });
  console.log(`browser bundle (vite): ${Date.now() - t0} ms`);
  if (process.env.STATECHORUS_BUILT !== '1') runStep('library build (tsc)', process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
  const lib = await import(pathToFileURL(join(root, 'dist', 'src', 'node.js')).href);

  // 2. Chromium (Debian's), installed when missing.
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) runStep('apt chromium', 'bash', [join(root, 'scripts', 'apt-ensure.sh'), 'chromium:chromium']);
  const { chromium } = await import('playwright-core');

  // 3. Servers and the browser.
  const signaling = await lib.startSignalingServer({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => signaling.close());
  const { startDemoServer } = await import('../demo/server.mjs');
  const web = await startDemoServer({ port: 0, signaling: signaling.url });
  cleanups.push(() => web.close());
  t0 = Date.now();
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    timeout: 30_000,
    // Our own handlers close everything and still print the summary.
    handleSIGINT: false,
    handleSIGTERM: false,
  });
  cleanups.push(() => browser.close());
  console.log(`chromium ${browser.version()} launched: ${Date.now() - t0} ms`);

  // 4. The tests.
  const specDir = join(root, 'test', 'browser');
  const specs = readdirSync(specDir).filter((f) => f.endsWith('.spec.mjs')).sort();
  const tests = [];
  for (const f of specs) {
    const mod = await import(pathToFileURL(join(specDir, f)).href);
    for (const t of mod.tests) tests.push({ ...t, file: f });
  }
  let passed = 0;
  let failed = 0;
  let room = 0;
  for (const test of tests) {
    if (filter && !test.name.includes(filter)) continue;
    const testCleanups = [];
    const pageLogs = [];
    const ctx = {
      lib,
      root,
      tmp,
      signalingUrl: signaling.url,
      baseUrl: web.url,
      room: `browser-${process.pid}-${++room}`,
      log: (...a) => console.log('   ', ...a),
      /** A page of demo/smoke.html in a fresh browser context, with `window.smoke` ready. */
      async openSmokePage(role, room, label = role) {
        const context = await ctx.newContext({ viewport: { width: 1000, height: 640 } });
        await context.addInitScript(RTC_PROBE);
        const page = ctx.watch(await context.newPage(), label);
        const q = new URLSearchParams({ signaling: signaling.url, room, role });
        await page.goto(`${web.url}/smoke.html?${q}`);
        await page.waitForFunction(() => window.smoke || window.smokeError, null, { timeout: 15_000 });
        const err = await page.evaluate(() => window.smokeError);
        if (err) throw new Error(`page ${label} failed to start: ${err}`);
        return page;
      },
      defer: (fn) => testCleanups.push(fn),
      /** A fresh browser context (closed after the test); pages in one context share storage and BroadcastChannels. */
      async newContext(options = {}) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
        testCleanups.push(() => context.close());
        return context;
      },
      /** Keeps a page's console and errors for the test's log. */
      watch(page, label) {
        page.on('console', (m) => pageLogs.push(`[${label}] ${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => pageLogs.push(`[${label}] pageerror: ${e.stack ?? e}`));
        return page;
      },
    };
    const t1 = Date.now();
    let timer;
    try {
      await Promise.race([
        test.run(ctx),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${test.timeoutMs ?? 30_000} ms`)), test.timeoutMs ?? 30_000))),
      ]);
      passed++;
      console.log(`✓ ${test.name} (${Date.now() - t1} ms)`);
    } catch (err) {
      failed++;
      console.log(`✗ ${test.name} (${Date.now() - t1} ms)\n    ${String(err?.stack ?? err).split('\n').join('\n    ')}`);
      if (pageLogs.length > 0) console.log(`    page logs (last 30):\n      ${pageLogs.slice(-30).join('\n      ')}`);
    } finally {
      clearTimeout(timer);
      for (const fn of testCleanups.reverse()) {
        try {
          await Promise.race([fn(), new Promise((r) => setTimeout(r, 5_000))]);
        } catch {
          // best effort
        }
      }
      writeFileSync(join(tmp, `${test.name.replace(/[^a-z0-9]+/gi, '-')}.log`), pageLogs.join('\n') + '\n');
    }
  }
  await finish(passed, failed);
}

main().catch((err) => void finish(0, 1, `browser tests could not run: ${err?.stack ?? err}`));
