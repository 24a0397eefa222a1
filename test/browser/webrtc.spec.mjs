// WebRTC in real Chromium pages (run by scripts/browser-test.mjs): the library's browser bundle
// (demo/dist/statechorus.js) in demo/smoke.html, whose module exposes `window.smoke`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/** Polls `check` (sync or async) until it returns a truthy value. */
export async function waitFor(check, label, timeoutMs = 15_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`waiting for ${label}: gave up after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The same pattern as demo/smoke.js: bytes i = (i * 31 + seed) mod 256. */
function pattern(length, seed) {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 255;
  return bytes;
}
const sha256hex = (bytes) => createHash('sha256').update(bytes).digest('hex');

const smoke = (page, fn, arg) => page.evaluate(fn, arg);
const pageId = (page) => smoke(page, () => window.smoke.id);
const connected = (page) => smoke(page, () => window.smoke.connectedPeers());
const received = (page) => smoke(page, () => window.smoke.messages());
const pageErrors = (page) => smoke(page, () => window.smoke.errors.slice());
/** ICE candidates gathered and chosen, and bufferedamountlow events (the runner's probe). */
const rtcReport = (page) => smoke(page, () => window.__rtcProbe?.report());
const describeRtc = (r) => `bufferedamountlow ×${r.lowEvents}; ` + r.connections.map((c) => `${c.state}: local [${c.local.join(', ')}] remote [${c.remote.join(', ')}] chosen ${c.pair}`).join('; ');

/** A Node peer: the Node entry's webrtcTransport, started as a serving peer. */
async function nodePeer(ctx, room) {
  const identity = await ctx.lib.generateIdentity();
  const transport = ctx.lib.webrtcTransport({ signaling: ctx.signalingUrl, room, identity });
  const inbox = [];
  transport.onMessage((from, bytes) => inbox.push({ from, length: bytes.length, sha256: sha256hex(bytes), text: bytes.length <= 1024 ? new TextDecoder().decode(bytes) : undefined }));
  await transport.start({ id: identity.id, identity, peerKey: () => undefined, peers: [] });
  ctx.defer(() => transport.close());
  return { identity, transport, inbox };
}

export const tests = [
  {
    name: 'two pages connect and exchange messages both ways, 1 MiB included',
    timeoutMs: 30_000,
    async run(ctx) {
      const a = await ctx.openSmokePage('peer', ctx.room, 'A');
      const b = await ctx.openSmokePage('peer', ctx.room, 'B');
      const [ida, idb] = [await pageId(a), await pageId(b)];
      const t0 = Date.now();
      await smoke(a, (id) => window.smoke.connect([id]), idb);
      await waitFor(async () => (await connected(a)).includes(idb) && (await connected(b)).includes(ida), 'A and B linked');
      ctx.log(`pages linked in ${Date.now() - t0} ms`);

      // Ten small messages each way, in order.
      await smoke(a, (to) => { for (let i = 0; i < 10; i++) window.smoke.send(to, `a→b ${i}`); }, idb);
      await smoke(b, (to) => { for (let i = 0; i < 10; i++) window.smoke.send(to, `b→a ${i}`); }, ida);
      const small = (page, n) => waitFor(async () => { const m = (await received(page)).filter((x) => x.text !== undefined); return m.length >= n && m; }, 'small messages');
      const atB = await small(b, 10);
      const atA = await small(a, 10);
      assert.deepEqual(atB.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `a→b ${i}`));
      assert.deepEqual(atA.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `b→a ${i}`));
      assert.ok(atB.every((m) => m.from === ida) && atA.every((m) => m.from === idb), 'messages carry the sender’s id');

      // 1 MiB each way at once (64 frames of 16 KiB each way through the send queues).
      const t1 = Date.now();
      const hashAB = await smoke(a, ({ to, n }) => window.smoke.sendPattern(to, n, 1), { to: idb, n: MiB });
      const hashBA = await smoke(b, ({ to, n }) => window.smoke.sendPattern(to, n, 2), { to: ida, n: MiB });
      assert.equal(hashAB, sha256hex(pattern(MiB, 1)));
      const big = (page) => waitFor(async () => (await received(page)).find((m) => m.length === MiB), '1 MiB message', 20_000);
      const [bigB, bigA] = await Promise.all([big(b), big(a)]);
      ctx.log(`1 MiB both ways in ${Date.now() - t1} ms`);
      assert.equal(bigB.sha256, hashAB, 'A→B 1 MiB arrives intact');
      assert.equal(bigA.sha256, hashBA, 'B→A 1 MiB arrives intact');
      assert.equal(bigB.from, ida);

      const [sa, sb] = [await smoke(a, () => window.smoke.stats()), await smoke(b, () => window.smoke.stats())];
      ctx.log(`A stats: ${JSON.stringify(sa)}`);
      assert.equal(sa.messagesIn, 11);
      assert.equal(sb.messagesIn, 11);
      assert.deepEqual(sa.dropped, {});
      assert.deepEqual(sb.dropped, {});
      assert.deepEqual([...(await pageErrors(a)), ...(await pageErrors(b))], []);
      ctx.log(`A: ${describeRtc(await rtcReport(a))}`);
      ctx.log(`B: ${describeRtc(await rtcReport(b))}`);
      await smoke(a, () => window.smoke.render());
      await a.screenshot({ path: join(ctx.tmp, 'peer-page.png') });
    },
  },
  {
    name: 'a page and a Node peer exchange messages',
    timeoutMs: 30_000,
    async run(ctx) {
      const page = await ctx.openSmokePage('peer', ctx.room, 'P');
      const pid = await pageId(page);
      const node = await nodePeer(ctx, ctx.room);
      const nid = node.identity.id;
      const t0 = Date.now();
      node.transport.connect([pid]);
      await waitFor(async () => node.transport.connectedPeers().includes(pid) && (await connected(page)).includes(nid), 'page and Node linked');
      ctx.log(`page and Node linked in ${Date.now() - t0} ms`);

      for (let i = 0; i < 10; i++) node.transport.send(pid, new TextEncoder().encode(`node→page ${i}`));
      await smoke(page, (to) => { for (let i = 0; i < 10; i++) window.smoke.send(to, `page→node ${i}`); }, nid);
      const atPage = await waitFor(async () => { const m = await received(page); return m.length >= 10 && m; }, 'messages at the page');
      await waitFor(() => node.inbox.length >= 10, 'messages at Node');
      assert.deepEqual(atPage.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `node→page ${i}`));
      assert.deepEqual(node.inbox.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `page→node ${i}`));
      assert.ok(atPage.every((m) => m.from === nid) && node.inbox.every((m) => m.from === pid));

      // 1 MiB each way.
      node.transport.send(pid, pattern(MiB, 3));
      const hashPN = await smoke(page, ({ to, n }) => window.smoke.sendPattern(to, n, 4), { to: nid, n: MiB });
      const bigAtPage = await waitFor(async () => (await received(page)).find((m) => m.length === MiB), '1 MiB at the page', 20_000);
      const bigAtNode = await waitFor(() => node.inbox.find((m) => m.length === MiB), '1 MiB at Node', 20_000);
      assert.equal(bigAtPage.sha256, sha256hex(pattern(MiB, 3)));
      assert.equal(bigAtNode.sha256, hashPN);
      assert.deepEqual(node.transport.stats().dropped, {});
      assert.deepEqual(await pageErrors(page), []);
      ctx.log(`page: ${describeRtc(await rtcReport(page))}`);
    },
  },
  {
    name: 'crash-model counter group in 3 pages serves a Node client (INC ×5 → 1..5)',
    timeoutMs: 45_000,
    async run(ctx) {
      const pages = [];
      for (let i = 1; i <= 3; i++) pages.push(await ctx.openSmokePage('replica', ctx.room, `r${i}`));
      const members = [];
      for (let i = 0; i < 3; i++) members.push({ id: `r${i + 1}`, key: await pageId(pages[i]) });
      ctx.defer(() => Promise.all(pages.map((p) => smoke(p, () => window.smoke.stopReplica()).catch(() => {}))));
      const t0 = Date.now();
      await Promise.all(pages.map((p, i) => smoke(p, (arg) => window.smoke.startReplica(arg), { id: `r${i + 1}`, members })));

      const me = await ctx.lib.generateIdentity();
      const keys = new Map(members.map((m) => [m.id, ctx.lib.idToPublicKey(m.key)]));
      const transport = ctx.lib.webrtcTransport({ signaling: ctx.signalingUrl, room: ctx.room, identity: me, peerKey: (id) => keys.get(id) });
      const client = ctx.lib.createClient({ id: me.id, replicas: members.map((m) => m.id), faultModel: 'crash', transport });
      ctx.defer(async () => {
        client.close();
        await transport.close();
      });
      const counts = [];
      let firstMs;
      for (let i = 0; i < 5; i++) {
        const out = await client.send({ type: 'INC' });
        firstMs ??= Date.now() - t0;
        counts.push(out.snapshot.context.count);
      }
      ctx.log(`first INC answered ${firstMs} ms after the replicas started; 5 in ${Date.now() - t0} ms; counts ${counts.join(',')}`);
      assert.deepEqual(counts, [1, 2, 3, 4, 5]);

      // Every replica applies all five (the followers learn the commit index a heartbeat later).
      const statuses = await waitFor(async () => {
        const s = await Promise.all(pages.map((p) => smoke(p, () => window.smoke.replicaStatus())));
        return s.every((x) => x.appliedIndex >= s[0].commitIndex && x.commitIndex >= 5) && s;
      }, 'all replicas applied', 10_000);
      ctx.log(`replicas: ${statuses.map((s) => `${s.id} ${s.phase} term ${s.term} applied ${s.appliedIndex}`).join('; ')}`);
      assert.equal(statuses.filter((s) => s.phase === 'leader').length, 1);
      for (const p of pages) assert.deepEqual(await pageErrors(p), []);
      await smoke(pages[0], () => window.smoke.render());
      await pages[0].screenshot({ path: join(ctx.tmp, 'replica-page.png') });
    },
  },
];
