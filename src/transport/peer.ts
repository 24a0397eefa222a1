// One WebRTC peer connection with one data channel, on the W3C API alone (the browser's own, or
// RTCPeerConnection and friends passed as `wrtc` in Node and Deno). It keeps the part of
// simple-peer's API that Link uses (on signal/connect/data/close/error, signal(), send(),
// destroy(), _channel) without simple-peer's Node streams, Buffer, events and randombytes, which
// browser bundlers could only build with shims. No trickle: one offer and one answer, each
// carrying every ICE candidate gathered (or what was gathered after ICE_COMPLETE_TIMEOUT_MS).

type Description = { type: 'offer' | 'answer'; sdp: string };
type Handlers = {
  signal: (description: Description) => void;
  connect: () => void;
  data: (data: Uint8Array) => void;
  close: () => void;
  error: (err: Error & { code: string }) => void;
};
type Rtc = {
  RTCPeerConnection: new (config?: RTCConfiguration) => RTCPeerConnection;
  RTCSessionDescription?: new (init: RTCSessionDescriptionInit) => RTCSessionDescriptionInit;
};

export interface PeerOptions {
  initiator: boolean;
  /** RTCPeerConnection (and RTCSessionDescription); the global ones when absent. */
  wrtc?: unknown;
  config?: RTCConfiguration;
}

/** Like simple-peer: send the description with what was gathered when gathering takes this long. */
const ICE_COMPLETE_TIMEOUT_MS = 5_000;

function peerError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

export default class Peer {
  /** The data channel once created (initiator) or received; named as in simple-peer. */
  _channel: RTCDataChannel | null = null;
  readonly #pc: RTCPeerConnection;
  readonly #rtc: Rtc;
  readonly #handlers: { [K in keyof Handlers]?: Handlers[K][] } = {};
  #iceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The local description waits for ICE gathering; sent once per negotiation. */
  #awaitingGathering = false;
  #destroyed = false;

  constructor(options: PeerOptions) {
    const rtc = (options.wrtc ?? globalThis) as Partial<Rtc>;
    if (typeof rtc.RTCPeerConnection !== 'function') throw peerError('ERR_WEBRTC_SUPPORT', 'No WebRTC support: pass RTCPeerConnection as the `wrtc` option in this runtime');
    this.#rtc = rtc as Rtc;
    const pc = new this.#rtc.RTCPeerConnection(options.config);
    this.#pc = pc;
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === 'failed') this.#fail('ERR_ICE_CONNECTION_FAILURE', 'Ice connection failed.');
      else if (pc.iceConnectionState === 'closed') this.#fail('ERR_ICE_CONNECTION_CLOSED', 'Ice connection closed.');
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') this.#fail('ERR_CONNECTION_FAILURE', 'Connection failed.');
    };
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === 'complete') this.#sendDescription();
    };
    pc.onicecandidate = (event) => {
      if (!event.candidate) this.#sendDescription();
    };
    if (options.initiator) {
      this.#setChannel(pc.createDataChannel(randomLabel()));
      this.#negotiate(() => pc.createOffer(), 'ERR_CREATE_OFFER');
    } else {
      pc.ondatachannel = (event) => this.#setChannel(event.channel);
    }
  }

  on<K extends keyof Handlers>(event: K, handler: Handlers[K]): this {
    ((this.#handlers[event] ??= []) as Handlers[K][]).push(handler);
    return this;
  }

  /** The remote offer (answered) or answer. */
  signal(description: Description): void {
    if (this.#destroyed) throw peerError('ERR_DESTROYED', 'cannot signal after peer is destroyed');
    const init = { type: description.type, sdp: description.sdp };
    const remote = this.#rtc.RTCSessionDescription ? new this.#rtc.RTCSessionDescription(init) : init;
    this.#pc.setRemoteDescription(remote).then(
      () => {
        if (description.type === 'offer' && !this.#destroyed) this.#negotiate(() => this.#pc.createAnswer(), 'ERR_CREATE_ANSWER');
      },
      (err: unknown) => this.#fail('ERR_SET_REMOTE_DESCRIPTION', String((err as Error)?.message ?? err)),
    );
  }

  send(data: Uint8Array): void {
    // An exact-length view: the channel sends the whole view it is given.
    this._channel?.send(data as Uint8Array<ArrayBuffer>);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#iceTimer);
    const channel = this._channel;
    if (channel) {
      channel.onopen = channel.onmessage = channel.onclose = channel.onerror = null;
      try {
        channel.close();
      } catch {
        // already closed
      }
    }
    const pc = this.#pc;
    pc.oniceconnectionstatechange = pc.onconnectionstatechange = pc.onicegatheringstatechange = pc.onicecandidate = pc.ondatachannel = null;
    try {
      pc.close();
    } catch {
      // already closed
    }
    this.#emit('close');
  }

  #negotiate(create: () => Promise<RTCSessionDescriptionInit>, code: string): void {
    create()
      .then((description) => (this.#destroyed ? undefined : this.#pc.setLocalDescription(description)))
      .then(
        () => {
          if (this.#destroyed) return;
          this.#awaitingGathering = true;
          if (this.#pc.iceGatheringState === 'complete') return this.#sendDescription();
          this.#iceTimer = setTimeout(() => this.#sendDescription(), ICE_COMPLETE_TIMEOUT_MS);
        },
        (err: unknown) => this.#fail(code, String((err as Error)?.message ?? err)),
      );
  }

  #sendDescription(): void {
    if (!this.#awaitingGathering || this.#destroyed) return;
    const local = this.#pc.localDescription;
    if (!local || (local.type !== 'offer' && local.type !== 'answer')) return;
    this.#awaitingGathering = false;
    clearTimeout(this.#iceTimer);
    this.#emit('signal', { type: local.type, sdp: local.sdp });
  }

  #setChannel(channel: RTCDataChannel): void {
    if (this._channel) return; // one data channel per connection; ignore any other
    this._channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.onopen = () => this.#emit('connect');
    channel.onmessage = (event: MessageEvent) => {
      const data = event.data as unknown;
      if (data instanceof ArrayBuffer) this.#emit('data', new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) this.#emit('data', new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else if (typeof data === 'string') this.#emit('data', new TextEncoder().encode(data));
    };
    channel.onclose = () => this.destroy();
    channel.onerror = (event) => this.#fail('ERR_DATA_CHANNEL', String((event as { error?: { message?: string } }).error?.message ?? 'data channel error'));
    if (channel.readyState === 'open') queueMicrotask(() => this.#emit('connect'));
  }

  #fail(code: string, message: string): void {
    if (this.#destroyed) return;
    this.#emit('error', peerError(code, message));
    this.destroy();
  }

  #emit<K extends keyof Handlers>(event: K, ...args: Parameters<Handlers[K]>): void {
    for (const handler of this.#handlers[event] ?? []) (handler as (...a: Parameters<Handlers[K]>) => void)(...args);
  }
}

function randomLabel(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
