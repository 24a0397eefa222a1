/**
 * The transport contract suite: every Transport (memory, WebRTC) runs it. A target sets up
 * three started transports that reach each other once for the whole suite (WebRTC links are
 * slow to make), and the tests share them: each tags its messages and looks only at its own.
 * The last test closes one of the three. Waits are for conditions, with a deadline, and a
 * timeout says what had arrived.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Transport } from '../../src/transport/types.ts';

export interface ContractPeer {
  id: string;
  transport: Transport;
}

export type Impersonation =
  /** The transport was made and started claiming the victim's id; `turnedAway` holds once the receiver refused it. */
  | { transport: Transport; turnedAway: () => boolean; close(): Promise<void> }
  /** Making such a transport was refused outright. */
  | { refused: Error };

export interface TransportContractTarget {
  /** Three started transports that can reach each other, with their ids; `tearDown` closes what is left. */
  setUp(): Promise<{ peers: [ContractPeer, ContractPeer, ContractPeer]; tearDown(): Promise<void> }>;
  /** Tries to send as `victim` without its key, to `receiver`. */
  impersonate(victim: ContractPeer, receiver: ContractPeer): Promise<Impersonation>;
  /** An id no transport of the group has. */
  absentId: string;
  /** Deadline for one wait (ms). */
  waitMs: number;
}

interface Received {
  from: string;
  tag: string;
  n: number;
  text: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A message of test `tag`, number `n`, padded to `size` bytes. */
const message = (tag: string, n: number, size = 0) => encoder.encode(`${tag}:${n}:`.padEnd(size, '.'));

export function describeTransportContract(name: string, target: TransportContractTarget): void {
  describe(`transport contract: ${name}`, () => {
    let a: ContractPeer;
    let b: ContractPeer;
    let c: ContractPeer;
    let tearDown: () => Promise<void> = async () => {};
    const inbox = new Map<string, Received[]>();

    beforeAll(async () => {
      const group = await target.setUp();
      [a, b, c] = group.peers;
      tearDown = group.tearDown;
      for (const p of group.peers) {
        const got: Received[] = [];
        inbox.set(p.id, got);
        p.transport.onMessage((from, bytes) => {
          const text = decoder.decode(bytes);
          const [tag = '', n = '-1'] = text.split(':');
          got.push({ from, tag, n: Number(n), text });
        });
      }
      // Every pair has carried a message before the tests start (links made once).
      for (const [x, y] of [[a, b], [a, c], [b, c], [b, a], [c, a], [c, b]] as const) x.transport.send(y.id, message('warm', 0));
      await until(() => [a, b, c].every((p) => got(p, 'warm').length === 2), 'every pair carried a warm-up message', () => summary());
    }, 120_000);

    afterAll(() => tearDown(), 30_000);

    const got = (p: ContractPeer, tag: string) => inbox.get(p.id)!.filter((m) => m.tag === tag);
    const summary = () => [...inbox].map(([id, ms]) => `${id} got ${ms.length}: ${ms.slice(-6).map((m) => `${m.tag}:${m.n} from ${m.from}`).join(', ')}`).join('; ');
    async function until(cond: () => boolean, what: string, saw: () => string = summary): Promise<void> {
      const end = Date.now() + target.waitMs;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`${what}: not reached within ${target.waitMs} ms; saw ${saw()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    /** `from` sends a sentinel to `to` and waits for it: what `from` sent `to` before has arrived by then (pair order). */
    async function sentinel(from: ContractPeer, to: ContractPeer, tag: string): Promise<void> {
      from.transport.send(to.id, message(tag, 0));
      await until(() => got(to, tag).some((m) => m.from === from.id), `${tag} from ${from.id} at ${to.id}`);
    }

    it('delivers a message to the peer it names, with the true id of its sender, and to no one else', async () => {
      a.transport.send(b.id, message('reach', 1));
      b.transport.send(a.id, message('reach', 2));
      c.transport.send(b.id, message('reach', 3));
      await until(() => got(b, 'reach').length === 2 && got(a, 'reach').length === 1, 'reach messages at b (2) and a (1)');
      expect(got(b, 'reach').map((m) => [m.from, m.n]).sort()).toEqual([[a.id, 1], [c.id, 3]]);
      expect(got(a, 'reach').map((m) => [m.from, m.n])).toEqual([[b.id, 2]]);
      // Had a's message to b gone to c instead, it would reach c before a's next message to c.
      await sentinel(a, c, 'reach-end');
      expect(got(c, 'reach')).toEqual([]);
    });

    it('keeps the order of the messages between a pair, both ways at once', async () => {
      const n = 200;
      for (let i = 0; i < n; i++) {
        a.transport.send(b.id, message('order', i, i % 50 === 0 ? 20_000 : 0));
        b.transport.send(a.id, message('order', i));
      }
      await until(() => got(b, 'order').length === n && got(a, 'order').length === n, `${n} ordered messages each way`, () => `b ${got(b, 'order').length}, a ${got(a, 'order').length}`);
      expect(got(b, 'order').map((m) => m.n)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(got(a, 'order').map((m) => m.n)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(got(b, 'order').every((m) => m.from === a.id)).toBe(true);
    });

    it('delivers a copy: changing the buffer after send changes nothing that arrives', async () => {
      const bytes = message('copy', 7);
      a.transport.send(b.id, bytes);
      bytes.fill(0x41);
      const altered = decoder.decode(bytes); // 'AAAAAAA'
      a.transport.send(b.id, bytes);
      await until(() => got(b, 'copy').length === 1 && got(b, altered).length === 1, 'the original and the altered buffer at b', () => inbox.get(b.id)!.slice(-3).map((m) => m.text).join(' | '));
      expect(got(b, 'copy')[0]!.text).toBe('copy:7:');
    });

    it('neither throws nor delivers elsewhere when the peer named is unknown', async () => {
      expect(() => a.transport.send(target.absentId, message('absent', 1))).not.toThrow();
      expect(() => a.transport.send('', message('absent', 2))).not.toThrow();
      await sentinel(a, b, 'absent-end-b');
      await sentinel(a, c, 'absent-end-c');
      for (const p of [a, b, c]) expect(got(p, 'absent')).toEqual([]);
    });

    it("does not let a peer without the victim's key make its bytes arrive under the victim's id", async () => {
      const attempt = await target.impersonate(b, a);
      if ('refused' in attempt) {
        expect(attempt.refused).toBeInstanceOf(Error);
      } else {
        try {
          attempt.transport.send(a.id, message('forged', 1));
          await until(attempt.turnedAway, `${a.id} turns away the transport claiming ${b.id}`);
        } finally {
          await attempt.close();
        }
      }
      // The real b still reaches a, and nothing forged arrived under any id.
      await sentinel(b, a, 'impersonation-end');
      expect(got(a, 'forged')).toEqual([]);
    });

    it('delivers nothing to a closed transport, and sending to or from it does not throw', async () => {
      await sentinel(a, c, 'before-close');
      await c.transport.close?.();
      const heard = inbox.get(c.id)!.length;
      expect(() => a.transport.send(c.id, message('closed', 1))).not.toThrow();
      expect(() => c.transport.send(a.id, message('closed', 2))).not.toThrow();
      expect(() => c.transport.send(b.id, message('closed', 3))).not.toThrow();
      // Later traffic between the others flows; by then nothing reached c, nor came from it.
      await sentinel(a, b, 'after-close-ab');
      await sentinel(b, a, 'after-close-ba');
      expect(inbox.get(c.id)!.length).toBe(heard);
      expect([...got(a, 'closed'), ...got(b, 'closed')]).toEqual([]);
    });
  });
}
