import { concatBytes } from '../crypto/bytes.ts';

// Messages over a data channel: split into frames of at most MAX_FRAME_BYTES (SCTP
// implementations disagree above 16 KiB) and reassembled on the other side. The channel is
// reliable and ordered, so one byte of frame kind is all a frame needs.

export const MAX_FRAME_BYTES = 16 * 1024;

/** Frame kinds: the first byte of every frame. */
export const FRAME = {
  /** Part of a message; more parts follow. */
  more: 0,
  /** The last (or only) part of a message. */
  last: 1,
  /** Link check: the sender's flag says whether it has heard from us (see link.ts). */
  hello: 2,
  /** Keepalive while the link is idle. */
  ping: 3,
  /** Several whole small messages, each as a u32 length and its bytes: one channel send for many. */
  packed: 4,
} as const;

/** A message fits in a packed frame if it is at most this long. */
export const MAX_PACKED_MESSAGE = MAX_FRAME_BYTES - 1 - 4;

/** Packs `messages` (each at most MAX_PACKED_MESSAGE, together within one frame) into one frame. */
export function packMessages(messages: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const frame = new Uint8Array(1 + totalBytes + 4 * messages.length);
  const view = new DataView(frame.buffer);
  frame[0] = FRAME.packed;
  let offset = 1;
  for (const m of messages) {
    view.setUint32(offset, m.length);
    frame.set(m, offset + 4);
    offset += 4 + m.length;
  }
  return frame;
}

const PAYLOAD_BYTES = MAX_FRAME_BYTES - 1;

/** The frames of one message, each at most MAX_FRAME_BYTES. */
export function splitMessage(message: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let offset = 0;
  do {
    const end = Math.min(offset + PAYLOAD_BYTES, message.length);
    const frame = new Uint8Array(1 + end - offset);
    frame[0] = end === message.length ? FRAME.last : FRAME.more;
    frame.set(message.subarray(offset, end), 1);
    frames.push(frame);
    offset = end;
  } while (offset < message.length);
  return frames;
}

export type ReassemblyResult =
  | { kind: 'message'; message: Uint8Array }
  | { kind: 'messages'; messages: Uint8Array[] }
  | { kind: 'partial' }
  | { kind: 'control'; frame: number; payload: Uint8Array }
  /** The message went over the size bound; its remaining frames are skipped. */
  | { kind: 'oversized' }
  | { kind: 'malformed' };

/** Rebuilds messages from the frames of one link, refusing any larger than maxMessageBytes. */
export class Reassembler {
  #parts: Uint8Array[] = [];
  #size = 0;
  #skipping = false;

  constructor(private readonly maxMessageBytes: number) {}

  push(frame: Uint8Array): ReassemblyResult {
    if (frame.length === 0 || frame.length > MAX_FRAME_BYTES) return { kind: 'malformed' };
    const kind = frame[0]!;
    const payload = frame.subarray(1);
    if (kind === FRAME.hello || kind === FRAME.ping) return { kind: 'control', frame: kind, payload };
    if (kind === FRAME.packed) return unpack(payload);
    if (kind !== FRAME.more && kind !== FRAME.last) return { kind: 'malformed' };
    if (this.#skipping) {
      if (kind === FRAME.last) this.#skipping = false;
      return { kind: 'partial' };
    }
    this.#size += payload.length;
    if (this.#size > this.maxMessageBytes) {
      this.#parts = [];
      this.#size = 0;
      this.#skipping = kind === FRAME.more;
      return { kind: 'oversized' };
    }
    // Copy: the payload may be a view into a buffer the channel reuses.
    this.#parts.push(payload.slice());
    if (kind === FRAME.more) return { kind: 'partial' };
    const message = this.#parts.length === 1 ? this.#parts[0]! : concatBytes(...this.#parts);
    this.#parts = [];
    this.#size = 0;
    return { kind: 'message', message };
  }
}


function unpack(payload: Uint8Array): ReassemblyResult {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const messages: Uint8Array[] = [];
  let offset = 0;
  while (offset < payload.length) {
    if (offset + 4 > payload.length) return { kind: 'malformed' };
    const length = view.getUint32(offset);
    if (offset + 4 + length > payload.length) return { kind: 'malformed' };
    messages.push(payload.slice(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return { kind: 'messages', messages };
}
