// Review regression tests for Link (one data channel), with simple-peer replaced by a fake whose
// events the test drives, so races between 'connect' and incoming frames are deterministic.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventEmitter } from 'node:events';

const fakes = vi.hoisted(() => ({ instances: [] as Array<EventEmitter & { sent: Uint8Array[]; _channel: { bufferedAmount: number } }> }));

vi.mock('../../src/transport/peer.ts', async () => {
  const { EventEmitter } = await import('node:events');
  class FakePeer extends EventEmitter {
    sent: Uint8Array[] = [];
    _channel = { bufferedAmount: 0 };
    constructor() {
      super();
      fakes.instances.push(this as never);
    }
    send(data: Uint8Array) {
      this.sent.push(data);
    }
    signal() {}
    destroy() {}
  }
  return { default: FakePeer };
});

const { Link } = await import('../../src/transport/link.ts');
const { FRAME } = await import('../../src/transport/framing.ts');

const links: Array<{ close(reason: string): void }> = [];
afterEach(() => {
  for (const l of links.splice(0)) l.close('test over');
  fakes.instances.length = 0;
});

function newLink(events: Partial<ConstructorParameters<typeof Link>[1]> = {}) {
  const link = new Link(
    { initiator: true, attempt: 'a', remoteSession: 's', wrtc: {}, config: {}, maxMessageBytes: 1 << 20, maxQueuedBytes: 1 << 20, highWaterBytes: 1 << 20, helloMs: 250, keepaliveMs: 2000, deadAfterMs: 15000 },
    { signal() {}, up() {}, message() {}, drop() {}, down() {}, ...events },
  );
  links.push(link);
  return { link, peer: fakes.instances.at(-1)! };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('review: Link', () => {
  // Finding: simple-peer emits 'connect' only after getStats finds the selected candidate pair
  // (retrying every 100 ms), while channel messages are delivered as soon as the channel opens.
  // When the remote side's hellos complete the handshake first, the link goes up while #open is
  // false: #pump returns early, and #onOpen never pumps. Everything queued at 'up' (the
  // transport's waiting messages) sits there until some later send() happens to pump.
  it('sends what was queued when the link came up before simple-peer said connect', async () => {
    const { link, peer } = newLink({
      up: () => link.send(Uint8Array.of(42)), // the transport flushes its waiting messages here
    });
    peer.emit('data', Uint8Array.of(FRAME.hello, 0)); // the remote's hello arrives first
    peer.emit('data', Uint8Array.of(FRAME.hello, 1)); // it has heard our reply: up
    expect(link.isUp).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    peer.emit('connect');
    await until(() => peer.sent.some((f) => f[0] === FRAME.packed && f.includes(42)));
  });
});
