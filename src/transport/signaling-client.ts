// The client side of the signaling protocol. It speaks y-webrtc's protocol (subscribe,
// publish, ping), so our own server (signaling/) and existing y-webrtc servers both serve.
// Reconnects with backoff; the server is untrusted, so everything it delivers is checked by
// the caller (handshake.ts).

/** The part of the WebSocket API used here (browsers, Deno, Node 22+, or the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
const PING_MS = 20_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

/** One signaling server as this peer sees it (`status()` of a replica, `diagnostics()` of a transport). */
export interface SignalingState {
  url: string;
  /** `failed`: the last attempt failed (or the connection was lost); it is retried with backoff. */
  state: 'connected' | 'connecting' | 'failed';
  /** Why the last attempt failed or the connection was lost, as the WebSocket reported it. */
  lastError?: string;
  /** Times the connection was (re)opened. */
  opens: number;
}

export class SignalingConnection {
  #socket: WebSocketLike | undefined;
  #lastError: string | undefined;
  #failed = false;
  #closed = false;
  #backoffMs = BACKOFF_MIN_MS;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  #lastHeard = 0;
  /** Times the server connection was (re)opened. */
  opens = 0;

  constructor(
    readonly url: string,
    private readonly room: string,
    private readonly WebSocketImpl: WebSocketConstructor,
    private readonly handlers: { onData: (data: unknown) => void; onOpen: () => void; onBadFrame: () => void; onFailure?: (reason: string) => void },
  ) {
    this.#connect();
  }

  get open(): boolean {
    return this.#socket?.readyState === OPEN;
  }

  state(): SignalingState {
    const state = this.open ? 'connected' : this.#failed ? 'failed' : 'connecting';
    return { url: this.url, state, ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}), opens: this.opens };
  }

  publish(data: unknown): boolean {
    if (!this.open) return false;
    try {
      this.#socket!.send(JSON.stringify({ type: 'publish', topic: this.room, data }));
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#ping);
    try {
      this.#socket?.close(1000, 'closing');
    } catch {
      // already closed
    }
  }

  #connect(): void {
    if (this.#closed) return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (err) {
      this.#fail(describeError(err, 'cannot open a WebSocket'));
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    let error: string | undefined;
    socket.onopen = () => {
      this.#backoffMs = BACKOFF_MIN_MS;
      this.#failed = false;
      this.opens++;
      socket.send(JSON.stringify({ type: 'subscribe', topics: [this.room] }));
      clearInterval(this.#ping);
      this.#lastHeard = Date.now();
      this.#ping = setInterval(() => {
        // A server that stopped answering (a half-open connection after its host died) is dropped.
        if (Date.now() - this.#lastHeard > 2 * PING_MS + 5_000) {
          try {
            socket.close(4000, 'no answer to pings');
          } catch {
            // closing anyway
          }
          if (this.#socket === socket) this.#socket = undefined;
          this.#fail('the server stopped answering pings');
          clearInterval(this.#ping);
          this.#scheduleReconnect();
          return;
        }
        if (socket.readyState === OPEN) socket.send(JSON.stringify({ type: 'ping' }));
      }, PING_MS);
      this.handlers.onOpen();
    };
    socket.onmessage = (ev) => {
      this.#lastHeard = Date.now();
      this.#receive(ev.data);
    };
    socket.onerror = (ev) => {
      // onclose follows and reconnects; keep what went wrong (browsers say nothing, Node says why).
      error = describeError(ev, '');
    };
    socket.onclose = (ev) => {
      if (this.#socket !== socket) return; // replaced already
      const { code, reason } = (ev ?? {}) as { code?: unknown; reason?: unknown };
      const closed = `connection closed${typeof code === 'number' ? ` (code ${code}${typeof reason === 'string' && reason !== '' ? `: ${reason}` : ''})` : ''}`;
      this.#fail(error ? error : closed);
      error = undefined;
      clearInterval(this.#ping);
      this.#socket = undefined;
      this.#scheduleReconnect();
    };
  }

  #fail(reason: string): void {
    if (this.#closed) return;
    this.#failed = true;
    this.#lastError = reason;
    this.handlers.onFailure?.(reason);
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    clearTimeout(this.#retry);
    const delay = this.#backoffMs * (0.5 + Math.random() / 2);
    this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS);
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  #receive(raw: unknown): void {
    if (typeof raw !== 'string') return this.handlers.onBadFrame();
    let message: { type?: unknown; topic?: unknown; data?: unknown };
    try {
      message = JSON.parse(raw) as typeof message;
    } catch {
      return this.handlers.onBadFrame();
    }
    if (typeof message !== 'object' || message === null) return this.handlers.onBadFrame();
    if (message.type === 'pong') return;
    if (message.type === 'publish' && message.topic === this.room) return this.handlers.onData(message.data);
    // Server errors and messages for other topics are not ours to act on.
  }
}

/** The text of a WebSocket error event or exception (`ws` and undici carry one; browsers do not). */
function describeError(ev: unknown, fallback: string): string {
  const e = ev as { message?: unknown; error?: { message?: unknown; code?: unknown; cause?: { message?: unknown } } } | undefined;
  const inner = e?.error;
  const text = [inner?.message, inner?.cause?.message, e?.message].find((m) => typeof m === 'string' && m !== '') as string | undefined;
  return text ?? (fallback || 'connection failed (no detail from the WebSocket)');
}
