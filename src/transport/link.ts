// One WebRTC data channel to one peer (./peer.ts underneath), with what raw data channels
// lack: chunking, a send queue that honours bufferedAmount, and a liveness check. A link counts
// as up only after it has carried a message both ways: a channel can report "connected" while
// nothing is delivered (seen after simultaneous dials), so both sides exchange hellos first,
// and keepalives after that.

import Peer from './peer.ts';
import { FRAME, MAX_FRAME_BYTES, MAX_PACKED_MESSAGE, packMessages, Reassembler, splitMessage } from './framing.ts';

export interface LinkOptions {
  initiator: boolean;
  /** Names this connection attempt in signed offers and answers. */
  attempt: string;
  /** The peer's signaling session this link belongs to. */
  remoteSession: string;
  wrtc: unknown;
  config: RTCConfiguration;
  maxMessageBytes: number;
  /** Frames waiting to be sent; over it, whole messages are dropped (the protocols retransmit). */
  maxQueuedBytes: number;
  /** Stop writing into the channel while it buffers more than this. */
  highWaterBytes: number;
  helloMs: number;
  keepaliveMs: number;
  /** No frame for this long: the link is dead. */
  deadAfterMs: number;
}

export interface LinkEvents {
  /** A session description to deliver to the peer through signaling. */
  signal(description: { type: 'offer' | 'answer'; sdp: string }): void;
  /** The link has carried a message both ways. */
  up(): void;
  message(bytes: Uint8Array): void;
  /** Counted drops on this link (oversized, malformed frames, queue full). */
  drop(reason: string): void;
  /** The link is gone (closed, failed or dead); called once. */
  down(reason: string): void;
}

type Channel = { bufferedAmount: number; bufferedAmountLowThreshold?: number; addEventListener?: (t: string, f: () => void) => void };

export class Link {
  readonly attempt: string;
  readonly remoteSession: string;
  readonly initiator: boolean;
  readonly createdAt = Date.now();
  #peer: Peer;
  #open = false;
  #heard = false;
  #confirmed = false;
  #up = false;
  #gone = false;
  #answered = false;
  #queue: Uint8Array[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  #lastReceived = Date.now();
  #lastSent = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpScheduled = false;
  #bufferedEstimate = 0;
  /** The frames of a large message being sent, and the next one to send. */
  #partial: { frames: Uint8Array[]; next: number } | undefined;
  readonly #reassembler: Reassembler;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    private readonly options: LinkOptions,
    private readonly events: LinkEvents,
  ) {
    this.attempt = options.attempt;
    this.remoteSession = options.remoteSession;
    this.initiator = options.initiator;
    this.#reassembler = new Reassembler(options.maxMessageBytes);
    this.#peer = new Peer({
      initiator: options.initiator,
      // One signed offer and one signed answer carrying every candidate: fewer signatures
      // and nothing unsigned on the signaling path.
      wrtc: options.wrtc,
      config: options.config,
    });
    this.#peer.on('signal', (data: { type?: string; sdp?: string }) => {
      if ((data.type === 'offer' || data.type === 'answer') && typeof data.sdp === 'string') {
        this.events.signal({ type: data.type, sdp: data.sdp });
      }
    });
    this.#peer.on('connect', () => this.#onOpen());
    this.#peer.on('data', (data: Uint8Array) => this.#onFrame(data));
    this.#peer.on('close', () => this.close('closed'));
    this.#peer.on('error', (err: { code?: string }) => this.close(`error: ${err?.code ?? 'unknown'}`));
  }

  get isUp(): boolean {
    return this.#up;
  }

  get isGone(): boolean {
    return this.#gone;
  }

  /** The peer's offer (we answer) or answer (to our offer); an answer is taken once. */
  acceptDescription(description: { type: 'offer' | 'answer'; sdp: string }): boolean {
    if (this.#gone) return false;
    if (description.type === 'answer') {
      if (!this.initiator || this.#answered) return false;
      this.#answered = true;
    } else if (this.initiator) {
      return false;
    }
    try {
      this.#peer.signal(description);
      return true;
    } catch {
      this.close('bad description');
      return false;
    }
  }

  /**
   * Queues one message. Messages queued in the same turn of the event loop go out together:
   * small ones packed into one frame (a channel send is a costly native call), large ones in
   * 16 KiB frames, as the channel drains.
   */
  send(message: Uint8Array): void {
    if (this.#gone) return;
    const size = message.length + 4;
    if (this.#queuedBytes + size > this.options.maxQueuedBytes) return this.events.drop('sendQueueFull');
    this.#queue.push(message);
    this.#queuedBytes += size;
    if (this.#up && !this.#pumpScheduled) {
      this.#pumpScheduled = true;
      queueMicrotask(() => this.#pump());
    }
  }

  close(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#up = false;
    clearInterval(this.#timer);
    clearTimeout(this.#pumpTimer);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#partial = undefined;
    try {
      this.#peer.destroy();
    } catch {
      // already destroyed
    }
    this.events.down(reason);
  }

  #channel(): Channel | undefined {
    return (this.#peer._channel as Channel | null) ?? undefined;
  }

  #onOpen(): void {
    if (this.#gone) return;
    this.#open = true;
    const channel = this.#channel();
    // Resume writing when the channel has drained below a quarter of the high-water mark.
    if (channel && typeof channel.bufferedAmountLowThreshold === 'number' && channel.addEventListener) {
      channel.addEventListener('bufferedamountlow', () => this.#pump());
    }
    this.#sendHello();
    this.#timer = setInterval(() => this.#check(), Math.min(this.options.helloMs, this.options.keepaliveMs));
    // The peer's hellos can arrive before our channel reports open:
    // the link may be up already, with messages waiting.
    if (this.#up) this.#pump();
  }

  #check(): void {
    const now = Date.now();
    if (now - this.#lastReceived > this.options.deadAfterMs) return this.close('dead');
    if (!this.#up) this.#sendHello();
    else if (now - this.#lastSent >= this.options.keepaliveMs) this.#write(Uint8Array.of(FRAME.ping));
  }

  #sendHello(): void {
    this.#write(Uint8Array.of(FRAME.hello, this.#heard ? 1 : 0));
  }

  #onFrame(data: Uint8Array): void {
    if (this.#gone) return;
    this.#lastReceived = Date.now();
    // A plain Uint8Array view (Node hands out Buffers, whose slice() does not copy).
    const frame = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data as ArrayBuffer);
    this.bytesIn += frame.length;
    const result = this.#reassembler.push(frame);
    switch (result.kind) {
      case 'message':
        return this.events.message(result.message);
      case 'messages':
        for (const m of result.messages) {
          if (m.length > this.options.maxMessageBytes) this.events.drop('oversized');
          else this.events.message(m);
        }
        return;
      case 'control':
        if (result.frame === FRAME.hello) this.#onHello(result.payload[0] === 1);
        return;
      case 'oversized':
        return this.events.drop('oversized');
      case 'malformed':
        return this.events.drop('malformedFrame');
      case 'partial':
        return;
    }
  }

  #onHello(theyHeardUs: boolean): void {
    const first = !this.#heard;
    this.#heard = true;
    if (theyHeardUs) this.#confirmed = true;
    // Answer at once when this is news to the peer, so the check takes one round trip.
    if (first || !theyHeardUs) this.#sendHello();
    if (!this.#up && this.#confirmed) {
      this.#up = true;
      this.events.up();
      this.#pump();
    }
  }

  #write(frame: Uint8Array): boolean {
    try {
      this.#peer.send(frame);
      this.#lastSent = Date.now();
      this.bytesOut += frame.length;
      return true;
    } catch {
      this.close('send failed');
      return false;
    }
  }

  #pump(): void {
    this.#pumpScheduled = false;
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    if (this.#gone || !this.#open) return;
    // Reading bufferedAmount is a costly native call: estimate it from what we wrote since the
    // last reading (an upper bound, as the channel only drains), and read it again only when
    // the estimate reaches the high-water mark.
    const high = this.options.highWaterBytes;
    if (this.#bufferedEstimate > high / 2) this.#bufferedEstimate = this.#channel()?.bufferedAmount ?? 0;
    while (this.#bufferedEstimate <= high) {
      let frame: Uint8Array;
      if (this.#partial) {
        frame = this.#partial.frames[this.#partial.next++]!;
        if (this.#partial.next === this.#partial.frames.length) this.#partial = undefined;
      } else if (this.#queueHead < this.#queue.length) {
        frame = this.#nextFrame();
      } else {
        break;
      }
      if (!this.#write(frame)) return;
      this.#bufferedEstimate += frame.length;
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      // Under steady backpressure the queue never empties: drop the sent part now and then.
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (this.#partial || this.#queueHead < this.#queue.length) {
      // Backpressure: the bufferedamountlow event resumes us; the timer is a fallback for
      // implementations that do not fire it.
      this.#pumpTimer = setTimeout(() => this.#pump(), 20);
    }
  }

  /** The next frame from the queue: small messages packed together, or the first frame of a large one. */
  #nextFrame(): Uint8Array {
    const first = this.#take();
    if (first.length > MAX_PACKED_MESSAGE) {
      const frames = splitMessage(first);
      if (frames.length > 1) this.#partial = { frames, next: 1 };
      return frames[0]!;
    }
    const batch = [first];
    let total = first.length;
    let room = MAX_FRAME_BYTES - 1 - 4 - first.length;
    while (this.#queueHead < this.#queue.length) {
      const next = this.#queue[this.#queueHead]!;
      if (next.length + 4 > room) break;
      batch.push(this.#take());
      total += next.length;
      room -= next.length + 4;
    }
    return packMessages(batch, total);
  }

  #take(): Uint8Array {
    const message = this.#queue[this.#queueHead]!;
    this.#queue[this.#queueHead++] = EMPTY;
    this.#queuedBytes -= message.length + 4;
    return message;
  }
}

const EMPTY = new Uint8Array(0);
