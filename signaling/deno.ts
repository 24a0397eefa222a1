/**
 * The signaling server on Deno: `Deno.serve` + `Deno.upgradeWebSocket`, feeding the
 * runtime-neutral hub (hub.ts). Same API as node.ts.
 *
 *   deno run --allow-net signaling/deno.ts --port 8787 [--host H]
 *
 * Differences from the Node adapter, from what Deno offers:
 * - frames over the size limit are refused (1009) after Deno has received them, as
 *   `Deno.upgradeWebSocket` has no payload limit option of its own;
 * - dead connections are detected by Deno itself (`idleTimeout`: it pings and closes a socket
 *   that does not answer), to the second: `pingIntervalMs` is rounded up to whole seconds.
 */
import { DEFAULT_HOST, parseArgs, usage, UsageError, wsUrl } from './args.ts';
import { HEALTH_TEXT, type SignalingServer, type SignalingServerOptions } from './server.ts';
import { SignalingHub, type HubPeer } from './hub.ts';

// Typed loosely so that tsc on Node (without Deno's types) checks this file too.
// deno-lint-ignore no-explicit-any
declare const Deno: any;

export { HEALTH_TEXT, type SignalingServer, type SignalingServerOptions } from './server.ts';

function listenError(err: unknown, host: string, port: number): Error {
  const name = err instanceof Error ? err.name : '';
  if (name === 'AddrInUse') return new Error(`port ${port} is already in use (host ${host})`, { cause: err });
  if (name === 'PermissionDenied') return new Error(`not allowed to listen on port ${port} (host ${host}); run deno with --allow-net`, { cause: err });
  if (name === 'AddrNotAvailable') return new Error(`cannot listen on host ${host}: address not available`, { cause: err });
  return new Error(`cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

export async function startSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const { port: requestedPort = 0, host = DEFAULT_HOST, closeGraceMs = 1000, redis, ...limits } = options;
  // One instance per room on Deno: sharing rooms through Redis is the Node server's (node.ts).
  if (redis !== undefined) throw new TypeError('signaling: the Deno server does not share rooms through Redis; run the Node server (npx statechorus signal --redis URL)');
  const hub = new SignalingHub(limits);
  const idleTimeout = Math.max(1, Math.ceil(hub.options.pingIntervalMs / 1000));
  // deno-lint-ignore no-explicit-any
  const sockets = new Set<any>();
  const socketClosed = new Set<() => void>();

  // deno-lint-ignore no-explicit-any
  const handler = (req: Request, info: any): Response => {
    if ((req.headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
      const path = new URL(req.url).pathname;
      if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/' || path === '/health')) {
        return new Response(HEALTH_TEXT, { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
      }
      return new Response('not found; connect with a WebSocket\n', { status: 404 });
    }
    const ip: string = info?.remoteAddr?.hostname ?? '';
    const refusal = hub.wouldRefuse(ip);
    if (refusal) {
      hub.refused(refusal);
      return new Response(refusal === 'serverFull' ? 'Service Unavailable\n' : 'Too Many Connections\n', { status: 503 });
    }
    // deno-lint-ignore no-explicit-any
    let upgraded: { socket: any; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(req, { idleTimeout });
    } catch {
      return new Response('bad WebSocket upgrade request\n', { status: 400 });
    }
    const ws = upgraded.socket;
    ws.binaryType = 'arraybuffer';
    let peer: HubPeer | undefined;
    ws.onopen = () => {
      peer = hub.connect(
        {
          send: (text) => ws.send(text),
          close: (code, reason) => ws.close(code, reason),
          get bufferedAmount() {
            return Number(ws.bufferedAmount ?? 0);
          },
        },
        ip,
      );
      if (peer) sockets.add(ws);
    };
    ws.onmessage = (e: MessageEvent) => {
      if (!peer) return;
      if (typeof e.data === 'string') peer.text(e.data);
      else peer.binary(e.data instanceof ArrayBuffer ? e.data.byteLength : Number(e.data?.size ?? 0));
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      sockets.delete(ws);
      peer?.closed();
      for (const f of socketClosed) f();
    };
    return upgraded.response;
  };

  // deno-lint-ignore no-explicit-any
  let server: any;
  try {
    server = Deno.serve(
      {
        port: requestedPort,
        hostname: host,
        onListen: () => {},
        onError: () => new Response('internal error\n', { status: 500 }),
      },
      handler,
    );
  } catch (e) {
    throw listenError(e, host, requestedPort);
  }
  const port: number = server.addr?.port ?? requestedPort;
  let closing: Promise<void> | undefined;

  return {
    port,
    host,
    url: wsUrl(host, port),
    stats: () => hub.stats(),
    close() {
      closing ??= (async () => {
        hub.closeAll();
        if (sockets.size > 0) {
          await new Promise<void>((resolve) => {
            const check = () => {
              if (sockets.size === 0) done();
            };
            const timer = setTimeout(() => done(), closeGraceMs);
            const done = () => {
              clearTimeout(timer);
              socketClosed.delete(check);
              resolve();
            };
            socketClosed.add(check);
          });
        }
        await server.shutdown();
      })();
      return closing;
    },
  };
}

/** $PORT when readable (without --allow-env Deno refuses, and PORT is only a fallback). */
function envPort(): string | undefined {
  try {
    return Deno.env.get('PORT');
  } catch {
    return undefined;
  }
}

/** `deno run --allow-net signaling/deno.ts [signal] --port 8787 [--host H]` */
async function runCli(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(argv, { PORT: envPort() }, true);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`statechorus: ${e.message}`);
    console.error('Run "deno run signaling/deno.ts --help" for usage.');
    Deno.exit(1);
    return;
  }
  if (parsed.kind === 'help') {
    console.log(usage('deno run --allow-net signaling/deno.ts').trimEnd());
    return;
  }
  const { port, host, limits, redis } = parsed.command;
  let server: SignalingServer;
  try {
    server = await startSignalingServer({ port, host, ...limits, ...(redis ? { redis } : {}) });
  } catch (e) {
    console.error(`statechorus signal: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
    return;
  }
  const stop = (signal: string) => () => {
    console.log(`${signal}: shutting down`);
    setTimeout(() => Deno.exit(0), 5000);
    server.close().then(
      () => {
        const s = server.stats();
        console.log(`signaling server stopped (${s.accepted} connections served, ${s.relayed} messages relayed)`);
        Deno.exit(0);
      },
      (e: unknown) => {
        console.error(`statechorus signal: error while closing: ${e instanceof Error ? e.message : String(e)}`);
        Deno.exit(1);
      },
    );
  };
  Deno.addSignalListener('SIGINT', stop('SIGINT'));
  Deno.addSignalListener('SIGTERM', stop('SIGTERM'));
  // Only now: whoever waits for this line may signal at once, and the handlers must be there.
  console.log(`signaling server listening on ${server.url}`);
}

if ((import.meta as { main?: boolean }).main) {
  await runCli(Deno.args);
}
