import { describe, expect, it } from 'vitest';
import { Prng, SimNetwork, Trace, VirtualClock, type TaskOwner } from '../../src/sim/index.ts';

const alive: TaskOwner = { alive: true, onDeath: () => () => {} };
const bytes = (n: number) => new Uint8Array([n & 255, n >> 8]);
const num = (b: Uint8Array) => b[0]! | (b[1]! << 8);

function setup(seed = 1, link = {}) {
  const clock = new VirtualClock();
  const trace = new Trace();
  const net = new SimNetwork(clock, new Prng(seed), trace, link);
  const inbox: Record<string, Array<{ from: string; n: number; at: number }>> = { a: [], b: [], c: [] };
  const ep = Object.fromEntries(
    ['a', 'b', 'c'].map((id) => [id, net.attach(id, (from, m) => void inbox[id]!.push({ from, n: num(m), at: clock.now() }), alive)]),
  );
  return { clock, net, trace, inbox, ep: ep as Record<'a' | 'b' | 'c', ReturnType<SimNetwork['attach']>> };
}

describe('SimNetwork', () => {
  it('delivers within the latency bounds and copies the payload', async () => {
    const { clock, ep, inbox } = setup(1, { latency: { min: 2, max: 8 } });
    const buf = bytes(7);
    ep.a.send('b', buf);
    buf[0] = 99;
    await clock.runFor(100);
    expect(inbox.b).toHaveLength(1);
    expect(inbox.b![0]!.n).toBe(7);
    expect(inbox.b![0]!.at >= 2 && inbox.b![0]!.at <= 8).toBe(true);
  });

  it('loses, duplicates and reorders at the configured rates', async () => {
    const { clock, net, ep, inbox } = setup(2, { latency: 1, loss: 0.3, duplicate: 0.2, reorder: 0.5, reorderDelay: 50 });
    for (let i = 0; i < 2000; i++) ep.a.send('b', bytes(i));
    await clock.runFor(1000);
    expect(net.stats.droppedLoss).toBeGreaterThan(500);
    expect(net.stats.droppedLoss).toBeLessThan(700);
    expect(net.stats.duplicated).toBeGreaterThan(200);
    expect(inbox.b!.length).toBe(2000 - net.stats.droppedLoss + net.stats.duplicated);
    const order = inbox.b!.map((m) => m.n);
    const inversions = order.filter((n, i) => i > 0 && n < order[i - 1]!).length;
    expect(inversions).toBeGreaterThan(100);
  });

  it('partitions both ways, one way, and heals; a cut wire loses messages in flight', async () => {
    const { clock, net, ep, inbox } = setup(3, { latency: 10 });
    net.partition(['a'], ['b', 'c']);
    ep.a.send('b', bytes(1));
    ep.b.send('a', bytes(2));
    ep.b.send('c', bytes(3));
    await clock.runFor(20);
    expect(inbox.a).toHaveLength(0);
    expect(inbox.b).toHaveLength(0);
    expect(inbox.c!.map((m) => m.n)).toEqual([3]);
    net.heal();
    net.partitionOneWay(['a'], ['b']);
    ep.a.send('b', bytes(4));
    ep.b.send('a', bytes(5));
    await clock.runFor(20);
    expect(inbox.b).toHaveLength(0);
    expect(inbox.a!.map((m) => m.n)).toEqual([5]);
    net.heal();
    ep.c.send('a', bytes(6));
    await clock.runFor(5);
    net.isolate('a', ['a', 'b', 'c']);
    await clock.runFor(20);
    expect(inbox.a!.map((m) => m.n)).toEqual([5]);
    expect(net.stats.droppedPartition).toBe(4);
  });

  it('applies per-link settings over the defaults', async () => {
    const { clock, net, ep, inbox } = setup(4, { latency: 1 });
    net.setLink('a', 'b', { latency: 100 });
    ep.a.send('b', bytes(1));
    ep.a.send('c', bytes(2));
    ep.b.send('a', bytes(3));
    await clock.runFor(50);
    expect(inbox.b).toHaveLength(0);
    expect(inbox.c).toHaveLength(1);
    expect(inbox.a).toHaveLength(1);
    await clock.runFor(60);
    expect(inbox.b![0]!.at).toBe(100);
  });

  it('drops messages to a detached or dead node and counts them', async () => {
    const { clock, net, ep } = setup(5, { latency: 1 });
    net.detach('c');
    ep.a.send('c', bytes(1));
    ep.a.send('nobody', bytes(1));
    await clock.runFor(5);
    expect(net.stats.droppedDown).toBe(2);
  });

  it('rejects invalid link settings', () => {
    const { net } = setup();
    expect(() => net.configure({ loss: 2 })).toThrow(RangeError);
    expect(() => net.setLink('a', 'b', { latency: { min: 5, max: 1 } })).toThrow(RangeError);
    expect(() => net.configure({ duplicate: -0.1 })).toThrow(/probability/);
  });
});
