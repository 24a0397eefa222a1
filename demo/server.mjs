#!/usr/bin/env node
// The demo's web server: serves demo/ read-only, and a lobby that seats the tabs of a room.
//
// The lobby is the demo's stand-in for a group configuration file: a Byzantine group needs its
// members' public keys before it starts, and tabs generate theirs. Each tab posts its key and
// gets a seat (r1..r4); once four keys are in, the room's member list is fixed and every tab
// starts its replica with it. A tab that comes back with the same key gets the same seat.
// The lobby sees only public keys; replicas, moves and votes go tab to tab over WebRTC.
//
//   node demo/server.mjs [--port 8080] [--signaling-port 8787] [--host 127.0.0.1]
// (`npm run demo` builds the bundle and runs this with the signaling server.)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const demoDir = dirname(fileURLToPath(import.meta.url));
export const ROOM_SIZE = 4; // Byzantine, f = 1
const MAX_ROOMS = 1_000;
const MAX_BODY = 1_024;
const ROOM_NAME = /^[a-z0-9][a-z0-9-]{0,47}$/;
/** An Ed25519 public key as an identity id: 32 bytes in unpadded base64url. */
const KEY = /^[A-Za-z0-9_-]{43}$/;

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.map': 'application/json', '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' };

/** Rooms in memory: name -> member keys in seat order. */
export function createLobby({ size = ROOM_SIZE, maxRooms = MAX_ROOMS } = {}) {
  const rooms = new Map();
  const view = (keys) => ({ size, members: keys.map((key, i) => ({ id: `r${i + 1}`, key })), full: keys.length === size });
  return {
    get(room) {
      return view(rooms.get(room) ?? []);
    },
    /** Seats `key` in `room` (the same seat again for a key already there). */
    join(room, key) {
      let keys = rooms.get(room);
      if (!keys) {
        if (rooms.size >= maxRooms) return { status: 503, body: { error: 'too many rooms on this server' } };
        rooms.set(room, (keys = []));
      }
      let i = keys.indexOf(key);
      if (i < 0) {
        if (keys.length >= size) return { status: 409, body: { error: `room "${room}" already has its ${size} players; open another room`, ...view(keys) } };
        i = keys.push(key) - 1;
      }
      return { status: 200, body: { seat: `r${i + 1}`, ...view(keys) } };
    },
  };
}

/**
 * Starts the demo's HTTP server: demo/ as static files (GET, HEAD) and the lobby API:
 *   GET  /api/config            { signaling }   the signaling server pages should use
 *   GET  /api/rooms/<room>      { size, members: [{ id, key }], full }
 *   POST /api/rooms/<room>/join { key }  ->  { seat, size, members, full }  (409 when full)
 */
export function startDemoServer({ port = 8080, host = '127.0.0.1', signaling = 'ws://127.0.0.1:8787', dir = demoDir, lobby = createLobby() } = {}) {
  const json = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const readBody = (req) =>
    new Promise((resolve, reject) => {
      let size = 0;
      const chunks = [];
      req.on('data', (c) => {
        size += c.length;
        if (size > MAX_BODY) {
          // Answer first, then drop the connection rather than read the rest.
          reject(Object.assign(new Error(`the body is limited to ${MAX_BODY} bytes`), { status: 413, closeAfter: true }));
          req.pause();
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  /** Listening on every interface, the signaling server is reached by the name the page used. */
  const signalingFor = (req) => {
    const url = new URL(signaling);
    if (['0.0.0.0', '[::]', '::'].includes(url.hostname) && req.headers.host) url.hostname = new URL(`http://${req.headers.host}`).hostname;
    return url.href.replace(/\/$/, '');
  };

  async function api(req, res, path) {
    if (path === '/api/config' && req.method === 'GET') return json(res, 200, { signaling: signalingFor(req), roomSize: lobby.get('').size });
    const m = /^\/api\/rooms\/([^/]+)(\/join)?$/.exec(path);
    if (!m) return json(res, 404, { error: 'no such API' });
    const room = m[1];
    if (!ROOM_NAME.test(room)) return json(res, 400, { error: 'a room name is 1 to 48 lowercase letters, digits or dashes' });
    if (!m[2] && req.method === 'GET') return json(res, 200, lobby.get(room));
    if (m[2] && req.method === 'POST') {
      let key;
      try {
        key = JSON.parse(await readBody(req)).key;
      } catch (err) {
        if (err.closeAfter) res.on('finish', () => req.destroy());
        return json(res, err.status ?? 400, { error: err.status ? err.message : 'the body must be JSON: { "key": "<public key id>" }' });
      }
      if (typeof key !== 'string' || !KEY.test(key)) return json(res, 400, { error: 'key must be an Ed25519 public key id (43 base64url characters)' });
      const r = lobby.join(room, key);
      return json(res, r.status, r.body);
    }
    return json(res, 405, { error: `${req.method} not allowed here` });
  }

  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path.startsWith('/api/')) return await api(req, res, path);
      const file = normalize(join(dir, path === '/' ? 'index.html' : path));
      if (!file.startsWith(dir + sep) || (req.method !== 'GET' && req.method !== 'HEAD')) throw Object.assign(new Error('forbidden'), { status: 403 });
      const info = await stat(file);
      if (!info.isFile()) throw Object.assign(new Error('not found'), { status: 404 });
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      const status = err.status ?? (err.code === 'ENOENT' ? 404 : 400);
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`${status}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
        port: address.port,
        lobby,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

function option(args, name, fallback) {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

function port(text, name) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number (0-65535), got ${text}`);
  return n;
}

async function main(args) {
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: npm run demo -- [--port 8080] [--signaling-port 8787] [--host 127.0.0.1]');
    return;
  }
  const host = option(args, '--host', '127.0.0.1');
  const webPort = port(option(args, '--port', '8080'), '--port');
  const signalingPort = port(option(args, '--signaling-port', '8787'), '--signaling-port');
  const root = join(demoDir, '..');
  const { buildBrowserBundle } = await import(pathToFileURL(join(root, 'scripts', 'browser-build.mjs')).href);
  await buildBrowserBundle({ quiet: true });
  const lib = await import(pathToFileURL(join(root, 'dist', 'src', 'node.js')).href);
  const taken = (what, p) => (err) => {
    if (err?.code === 'EADDRINUSE') throw new Error(`port ${p} is taken (${what}); choose another with ${what === 'signaling' ? '--signaling-port' : '--port'}`);
    throw err;
  };
  const signalingServer = await lib.startSignalingServer({ port: signalingPort, host }).catch(taken('signaling', signalingPort));
  const web = await startDemoServer({ port: webPort, host, signaling: signalingServer.url }).catch(async (err) => {
    await signalingServer.close();
    return taken('web', webPort)(err);
  });
  console.log(`statechorus demo: open ${web.url}/ in four browser tabs (the page offers a button for that).`);
  console.log(`  signaling server ${signalingServer.url}; inspector ${web.url}/inspector.html?room=<room>`);
  console.log('  Ctrl-C stops.');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled([web.close(), signalingServer.close()]);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`demo: ${err?.message ?? err}`);
    process.exit(1);
  });
}
