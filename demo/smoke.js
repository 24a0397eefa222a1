// The smoke page's module: a webrtcTransport with a fresh identity, driven by the browser test
// through `window.smoke` (see test/browser/webrtc.spec.mjs).
//   role=peer     the bare transport: send text or a patterned message, keep what arrives
//   role=replica  waits for `smoke.startReplica({ id, members })`: a crash-model counter replica
import { createReplica, generateIdentity, idToPublicKey, memoryStorage, sha256Sync, webrtcTransport } from './dist/statechorus.js';
import { counter } from './dist/counter.js';

const params = new URLSearchParams(location.search);
const signaling = params.get('signaling') ?? `ws://${location.hostname}:8787`;
const room = params.get('room') ?? 'smoke';
const role = params.get('role') ?? 'peer';

const $ = (id) => document.getElementById(id);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const log = (text) => ($('log').textContent = `${new Date().toISOString().slice(11, 23)} ${text}\n${$('log').textContent}`.slice(0, 4000));
function setState(text, kind) {
  $('state').textContent = text;
  $('state').className = `state ${kind}`;
}

/** Bytes i = (i * 31 + seed) mod 256: the receiver's hash shows the message arrived whole. */
function pattern(length, seed) {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 255;
  return bytes;
}

const received = [];
const errors = [];
let transport;
let replica;

addEventListener('error', (e) => errors.push(String(e.message ?? e)));
addEventListener('unhandledrejection', (e) => errors.push(String(e.reason?.stack ?? e.reason)));

function render() {
  if (!transport) return;
  const s = transport.stats();
  $('id').textContent = transport.id || '(not started)';
  $('peers').textContent = transport.connectedPeers().map((p) => (p.length > 12 ? `${p.slice(0, 8)}…` : p)).join(', ') || 'none';
  $('messages').textContent = `${s.messagesIn} / ${s.messagesOut} (${s.bytesIn} / ${s.bytesOut} bytes), links up ${s.linksUp}, lost ${s.linksLost}`;
  if (replica) {
    const st = replica.status();
    $('replica').textContent = `${st.id}: ${st.phase}, term ${st.term}, leader ${st.leader ?? '–'}, commit ${st.commitIndex}, applied ${st.appliedIndex}`;
  }
  const up = transport.connectedPeers().length;
  if (replica) setState(up > 0 ? `replica running, ${up} link${up === 1 ? '' : 's'} up` : 'replica started, no links yet', up > 0 ? 'ok' : 'wait');
  else if (role === 'peer') setState(up > 0 ? `connected to ${up} peer${up === 1 ? '' : 's'}` : 'waiting for peers', up > 0 ? 'ok' : 'wait');
}

async function main() {
  $('role').textContent = role;
  $('room').textContent = room;
  $('signaling').textContent = signaling;
  const identity = await generateIdentity();
  $('id').textContent = identity.id;

  const api = {
    role,
    id: identity.id,
    errors,
    received,
    /** What arrived: { from, length, sha256, text (short messages) }. */
    messages: () => received.slice(),
    stats: () => transport?.stats(),
    /** Refreshes the status table now (it also refreshes every 250 ms). */
    render: () => render(),
    connectedPeers: () => transport?.connectedPeers() ?? [],
    connect: (ids) => transport.connect(ids),
    send(to, text) {
      transport.send(to, new TextEncoder().encode(text));
    },
    /** Sends a patterned message of `length` bytes; returns its SHA-256 (hex). */
    sendPattern(to, length, seed = 7) {
      const bytes = pattern(length, seed);
      transport.send(to, bytes);
      return hex(sha256Sync(bytes));
    },
  };

  if (role === 'peer') {
    transport = webrtcTransport({ signaling, room, identity });
    transport.onMessage((from, bytes) => {
      const entry = { from, length: bytes.length, sha256: hex(sha256Sync(bytes)), at: Date.now() };
      if (bytes.length <= 1024) entry.text = new TextDecoder().decode(bytes);
      received.push(entry);
      log(`from ${from.slice(0, 8)}…: ${entry.text ?? `${bytes.length} bytes`}`);
    });
    // Started as a peer that serves (like a replica): others may dial it, ids are checked
    // against the keys they derive from.
    await transport.start({ id: identity.id, identity, peerKey: () => undefined, peers: [] });
  } else if (role === 'replica') {
    /** members: [{ id, key }] with key the member's identity id (its public key, base64url). */
    api.startReplica = async ({ id, members }) => {
      if (replica) throw new Error('replica already started');
      transport = webrtcTransport({ signaling, room });
      replica = createReplica({
        machine: counter,
        identity,
        id,
        group: { faultModel: 'crash', members: members.map((m) => ({ id: m.id, publicKey: idToPublicKey(m.key) })) },
        transport,
        storage: memoryStorage(),
      });
      await replica.start();
      log(`replica ${id} started`);
      render();
      return replica.status();
    };
    api.replicaStatus = () => replica?.status();
    api.stopReplica = async () => replica?.stop();
    setState('identity ready; replica not started', 'wait');
  } else {
    throw new Error(`unknown role ${role}`);
  }

  window.smoke = api;
  render();
  setInterval(render, 250);
  log(`ready as ${role}`);
}

main().catch((err) => {
  errors.push(String(err?.stack ?? err));
  setState(`error: ${err?.message ?? err}`, 'err');
  window.smokeError = String(err?.stack ?? err);
});
