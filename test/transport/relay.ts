// A bare y-webrtc-protocol relay for transport tests, with a hook to tamper with what it
// relays: the signaling server is untrusted, so tests play a malicious one.
import { createRequire } from 'node:module';
import WebSocketClient, { WebSocketServer, type WebSocket } from 'ws';
import type { Identity } from '../../src/crypto/index.ts';
import type { WebSocketConstructor } from '../../src/transport/signaling-client.ts';
import { webrtcTransport, type WebrtcTransport, type WebrtcTransportOptions } from '../../src/transport/webrtc.ts';

const require = createRequire(import.meta.url);
export const wrtc = require('@roamhq/wrtc') as unknown;

export interface Relay {
  url: string;
  close(): Promise<void>;
  /** Every published `data` object seen, in order. */
  seen: unknown[];
}

/**
 * `tamper` gets each published message before it is relayed and returns the messages to relay
 * instead (none to drop it, several to inject).
 */
export async function startRelay(tamper: (message: Record<string, unknown>) => Array<Record<string, unknown>> = (m) => [m]): Promise<Relay> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const topics = new Map<string, Set<WebSocket>>();
  const seen: unknown[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(String(raw)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (m.type === 'subscribe') for (const t of m.topics as string[]) (topics.get(t) ?? topics.set(t, new Set()).get(t)!).add(ws);
      else if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      else if (m.type === 'publish') {
        seen.push(m.data);
        for (const out of tamper(m)) {
          const subs = topics.get(out.topic as string) ?? new Set();
          const text = JSON.stringify({ ...out, clients: subs.size });
          for (const s of subs) if (s.readyState === 1) s.send(text);
        }
      }
    });
    ws.on('close', () => {
      for (const subs of topics.values()) subs.delete(ws);
    });
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/**
 * Transports and relays for one test file, closed together after each test: call `closeAll`
 * in `afterEach`. Transports meet in room 'room' over real @roamhq/wrtc and `ws`.
 */
export function transportKit() {
  const opened: Array<{ close(): Promise<void> }> = [];
  return {
    transport(relay: Relay | string, identity: Identity, extra: Partial<WebrtcTransportOptions> = {}): WebrtcTransport {
      const t = webrtcTransport({ signaling: typeof relay === 'string' ? relay : relay.url, room: 'room', identity, wrtc, WebSocket: WebSocketClient as unknown as WebSocketConstructor, ...extra });
      opened.push(t);
      return t;
    },
    async relayed(tamper?: Parameters<typeof startRelay>[0]): Promise<Relay> {
      const relay = await startRelay(tamper);
      opened.push(relay);
      return relay;
    },
    /** Closes `t` with the rest. */
    track<T extends { close(): Promise<void> }>(t: T): T {
      opened.push(t);
      return t;
    },
    closeAll: () => Promise.all(opened.splice(0).map((t) => t.close())),
  };
}
