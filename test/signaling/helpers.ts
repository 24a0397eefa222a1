/** Helpers for the signaling tests: fake connections for the hub, a `ws` test client, a raw TCP client. */
import { connect as tcpConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { SignalingConnection } from '../../signaling/hub.ts';

// --- hub level ---

export class FakeConn implements SignalingConnection {
  sent: string[] = [];
  closedWith: { code: number; reason: string } | undefined;
  terminated = false;
  pings = 0;
  bufferedAmount = 0;
  failSend = false;

  send(text: string): void {
    if (this.failSend) throw new Error('send failed');
    this.sent.push(text);
  }
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
  ping(): void {
    this.pings++;
  }
  terminate(): void {
    this.terminated = true;
  }
  /** Messages sent so far, parsed, and forgotten. */
  take(): Array<Record<string, unknown>> {
    const out = this.sent.map((t) => JSON.parse(t) as Record<string, unknown>);
    this.sent = [];
    return out;
  }
}

export class FakeClock {
  t = 1_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

// --- ws level ---

export type Json = Record<string, unknown>;

/** A `ws` client that queues what it receives, so tests await messages instead of sleeping. */
export class TestClient {
  readonly inbox: Json[] = [];
  private waiters: Array<{ pred: (m: Json) => boolean; resolve: (m: Json) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(String(data)) as Json;
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
      else this.inbox.push(m);
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static open(url: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(msg: Json | string): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The first message (queued or coming) that matches; times out with a clear error. */
  next(pred: (m: Json) => boolean = () => true, timeoutMs = 3000): Promise<Json> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (m: Json) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching message within ${timeoutMs} ms; inbox: ${JSON.stringify(this.inbox).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Round trip through the server: everything sent before has been processed when this resolves. */
  async sync(): Promise<void> {
    this.send({ type: 'ping' });
    await this.next((m) => m['type'] === 'pong');
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * A client that does the WebSocket handshake by hand and then never answers pings: a peer
 * whose machine went away without closing the TCP connection.
 */
export class SilentClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  pingsSeen = 0;
  private readonly upgraded: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = tcpConnect(port, host);
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
    this.upgraded = new Promise((resolve, reject) => {
      let head = '';
      let upgradedYet = false;
      this.socket.on('data', (chunk: Buffer) => {
        if (!upgradedYet) {
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
          upgradedYet = true;
          resolve();
          return;
        }
        // after the handshake: count ping frames (opcode 0x9), answer nothing
        if ((chunk[0]! & 0x0f) === 0x9) this.pingsSeen++;
      });
    });
    this.socket.write(
      'GET / HTTP/1.1\r\nHost: ' + host + ':' + port + '\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: ' + randomBytes(16).toString('base64') + '\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  }

  ready(): Promise<void> {
    return this.upgraded;
  }

  /** Sends only the header of a masked text frame announcing `length` payload bytes. */
  sendHeaderOnly(length: number): void {
    const header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
    this.socket.write(Buffer.concat([header, randomBytes(4)]));
  }

  /** Sends one masked text frame (clients must mask). */
  sendText(text: string): void {
    const payload = Buffer.from(text, 'utf8');
    const mask = randomBytes(4);
    let header: Buffer;
    if (payload.length < 126) header = Buffer.from([0x81, 0x80 | payload.length]);
    else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x81;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else throw new Error('frame too long for this helper');
    const body = Buffer.alloc(payload.length);
    for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(Buffer.concat([header, mask, body]));
  }
}

/** Resolves once `cond()` holds, checking after each macrotask (for server-side counters). */
export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
