/**
 * The signaling server on Node: a `ws` WebSocketServer on a node:http server, feeding the
 * runtime-neutral hub (hub.ts). Plain HTTP GET `/` or `/health` answers a short text.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_HOST, wsUrl } from './args.ts';
import { HEALTH_TEXT, type SignalingServer, type SignalingServerOptions } from './server.ts';
import { SignalingHub } from './hub.ts';

export { HEALTH_TEXT, type SignalingServer, type SignalingServerOptions } from './server.ts';

function remoteIp(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  try {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
  } catch {
    socket.destroy();
  }
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE') return new Error(`port ${port} is already in use (host ${host})`, { cause: err });
  if (err.code === 'EACCES') return new Error(`not allowed to listen on port ${port} (host ${host})`, { cause: err });
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return new Error(`cannot listen on host ${host}: address not available`, { cause: err });
  return new Error(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err });
}

export async function startSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const { port: requestedPort = 0, host = DEFAULT_HOST, closeGraceMs = 1000, redis, ...limits } = options;
  const hub = new SignalingHub(limits);
  // Loaded only when asked for: the single-process server never touches ioredis.
  const bus = redis === undefined ? undefined : await (await import('./redis.ts')).connectRedisBus(hub, typeof redis === 'string' ? { url: redis } : redis);
  const sockets = new Set<WebSocket>();

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/' || path === '/health')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(HEALTH_TEXT);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found; connect with a WebSocket\n');
    }
  });
  // Slow or half-done HTTP requests (including upgrade requests) must not hold sockets long,
  // and the number of sockets of any kind is capped a little above the WebSocket limit (the
  // margin serves health checks and handshakes in progress).
  http.headersTimeout = 10_000;
  http.requestTimeout = 10_000;
  http.maxConnections = hub.options.maxConnections + 64;
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: hub.options.maxFrameBytes, // ws refuses bigger frames from their header, unbuffered
    perMessageDeflate: false, // no decompression bombs, no zlib memory per connection
    clientTracking: false,
  });
  wss.on('error', () => {});

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const ip = remoteIp(req);
    const refusal = hub.wouldRefuse(ip);
    if (refusal) {
      hub.refused(refusal);
      refuseUpgrade(socket, 503, refusal === 'serverFull' ? 'Service Unavailable' : 'Too Many Connections');
      return;
    }
    try {
      wss.handleUpgrade(req, socket, head, (ws) => attach(ws, ip));
    } catch {
      socket.destroy();
    }
  });

  function attach(ws: WebSocket, ip: string): void {
    ws.on('error', () => {}); // ws closes the socket itself after an error; 'close' follows
    const peer = hub.connect(
      {
        send: (text) => ws.send(text),
        close: (code, reason) => ws.close(code, reason),
        ping: () => ws.ping(),
        terminate: () => ws.terminate(),
        get bufferedAmount() {
          return ws.bufferedAmount;
        },
      },
      ip,
    );
    if (!peer) {
      // refused (a race with another upgrade); the hub already asked it to close
      setTimeout(() => ws.terminate(), closeGraceMs).unref();
      return;
    }
    sockets.add(ws);
    ws.on('message', (data, isBinary) => {
      // binaryType is 'nodebuffer', so data is a Buffer (ws has validated text frames as UTF-8)
      if (isBinary) peer.binary(Array.isArray(data) ? data.reduce((a, b) => a + b.length, 0) : data.byteLength);
      else peer.text(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data)).toString('utf8'));
    });
    ws.on('pong', () => peer.pong());
    ws.on('error', (err: Error & { code?: string }) => {
      // over maxPayload: ws stops reading, closes with 1009 itself; count it
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') peer.tooLarge();
    });
    ws.on('close', () => {
      sockets.delete(ws);
      peer.closed();
    });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      http.off('listening', onListening);
      void bus?.close();
      reject(listenError(err, host, requestedPort));
    };
    const onListening = () => {
      http.off('error', onError);
      resolve();
    };
    http.once('error', onError);
    http.once('listening', onListening);
    http.listen(requestedPort, host);
  });
  http.on('error', () => {}); // after listening, errors are per connection and handled there

  const heartbeat = setInterval(() => hub.heartbeat(), hub.options.pingIntervalMs);
  heartbeat.unref();

  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : requestedPort;
  let closing: Promise<void> | undefined;

  return {
    port,
    host,
    url: wsUrl(host, port),
    stats: () => (bus ? { ...hub.stats(), redis: bus.stats() } : hub.stats()),
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        hub.closeAll();
        if (sockets.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, closeGraceMs);
            const check = () => {
              if (sockets.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            };
            for (const ws of sockets) ws.once('close', check);
            check();
          });
          for (const ws of sockets) ws.terminate();
        }
        http.closeAllConnections();
        await stopped;
        wss.close();
        await bus?.close();
      })();
      return closing;
    },
  };
}
