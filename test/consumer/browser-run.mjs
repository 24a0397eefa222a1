// Serves the Vite build (dist-vite/), opens two Chromium pages as replicas r1 and r2 (IndexedDB
// storage), runs r3 and a client here in Node: one crash group across browser and Node commits.
// Env: SIGNALING (ws URL), PLAYWRIGHT_CORE (path of playwright-core, the driver's), CHROMIUM.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient, createReplica, generateIdentity, idToPublicKey, memoryStorage, webrtcTransport } from 'statechorus';
import { counter } from './machine.mjs';

const check = (ok, what) => {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
};
const dir = fileURLToPath(new URL('./dist-vite/', import.meta.url));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  try {
    const body = await readFile(join(dir, path === '/' ? 'index.html' : path.slice(1)));
    res.writeHead(200, { 'Content-Type': types[extname(path)] ?? 'text/html' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const { chromium } = await import(pathToFileURL(join(process.env.PLAYWRIGHT_CORE, 'index.mjs')).href);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
const exit = async (code) => {
  await browser.close().catch(() => {});
  server.close();
  process.exit(code);
};
setTimeout(() => {
  console.log('browser run: gave up after 60 s');
  void exit(1);
}, 60_000);
try {
  const signaling = process.env.SIGNALING;
  const room = `browser-${process.pid}`;
  const pages = [];
  for (let i = 0; i < 2; i++) {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && console.log(`page ${i + 1}: ${m.text()}`));
    page.on('pageerror', (e) => console.log(`page ${i + 1} error: ${e.message}`));
    await page.goto(origin);
    await page.waitForFunction(() => window.app);
    pages.push(page);
  }
  check(true, 'the Vite build loads in Chromium without errors');
  const me3 = await generateIdentity();
  const keys = [await pages[0].evaluate(() => window.app.id()), await pages[1].evaluate(() => window.app.id()), me3.id];
  const members = keys.map((key, i) => ({ id: `r${i + 1}`, key }));
  await Promise.all(pages.map((p, i) => p.evaluate((arg) => window.app.startReplica(arg), { id: `r${i + 1}`, members, signaling, room })));
  const r3 = createReplica({ machine: counter, identity: me3, id: 'r3', group: { faultModel: 'crash', members: members.map((m) => ({ id: m.id, publicKey: idToPublicKey(m.key) })) }, transport: webrtcTransport({ signaling, room }), storage: memoryStorage() });
  await r3.start();
  const me = await generateIdentity();
  const keyOf = new Map(members.map((m) => [m.id, idToPublicKey(m.key)]));
  const transport = webrtcTransport({ signaling, room, identity: me, peerKey: (id) => keyOf.get(id) });
  const client = createClient({ id: me.id, faultModel: 'crash', replicas: members.map((m) => m.id), transport });
  const counts = [];
  for (let i = 0; i < 3; i++) counts.push((await client.send({ type: 'INC' })).snapshot.context.count);
  check(counts.join() === '1,2,3', `two Chromium pages and a Node replica commit as one crash group (counts ${counts.join()})`);
  const applied = await Promise.all(pages.map((p) => p.evaluate(() => window.app.status()?.appliedIndex ?? 0)));
  check(applied.some((n) => n > 0), `the pages applied entries (applied ${applied.join(', ')})`);
  const errors = (await Promise.all(pages.map((p) => p.evaluate(() => window.app.errors)))).flat();
  check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join('; ')}` : ''}`);
  client.close();
  await transport.close();
  await r3.stop();
  await exit(0);
} catch (err) {
  console.log(err?.stack ?? String(err));
  await exit(1);
}

