import { describe, expect, it } from 'vitest';
import { Client, ClientTimeoutError, RequestRejectedError, type AppSnapshot, type ClientOptions } from '../../src/client/index.ts';
import { VirtualClock } from '../../src/sim/index.ts';
import { open, seal, type WireKind } from '../../src/wire/index.ts';

// The client against fake replicas: the test plays every replica by hand, crafting the reply
// bytes itself, so it decides exactly who says what and when.

const CLIENT = 'c1';
const R4 = ['r1', 'r2', 'r3', 'r4']; // n = 4, f = 1

interface Sent {
  to: string;
  kind: WireKind;
  body: Record<string, unknown>;
}

/** A client with fake replicas; by default its session (id 1) is already open, so tests see only their requests. */
async function harness(options: Partial<ClientOptions> = {}, openSession = true) {
  const clock = new VirtualClock();
  const wire: Array<{ to: string; bytes: Uint8Array }> = [];
  let handler: ((from: string, bytes: Uint8Array) => unknown) | undefined;
  const client = new Client({
    id: CLIENT,
    replicas: R4,
    faultModel: 'byzantine',
    retryAfterMs: 100,
    clock,
    transport: {
      send: (to, bytes) => void wire.push({ to, bytes }),
      onMessage: (h) => void (handler = h),
    },
    ...options,
  });

  /** Lets the client's promise chains run (queueing, sealing) until it is quiet. */
  async function settle(): Promise<void> {
    for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** What the client sent since the last call, decoded as each replica would see it. */
  async function outbox(): Promise<Sent[]> {
    await settle();
    const taken = wire.splice(0);
    const out: Sent[] = [];
    for (const { to, bytes } of taken) {
      const r = await open(bytes, CLIENT, { self: to, memberKey: () => undefined, maxBytes: 1 << 20 });
      if (!r.ok) throw new Error(`the client sent an envelope ${to} cannot open: ${r.drop}`);
      out.push({ to, kind: r.message.kind, body: r.message.body as Record<string, unknown> });
    }
    return out;
  }

  /** Delivers a message from a (fake) replica, and lets the client finish handling it. */
  async function deliver(from: string, kind: WireKind, body: unknown): Promise<void> {
    const bytes = await seal({ from, to: CLIENT, kind, body });
    await handler!(from, bytes);
    await settle();
  }

  async function runFor(ms: number): Promise<void> {
    await clock.runFor(ms);
    await settle();
  }

  if (openSession) {
    const info = client.session();
    const crash = options.faultModel === 'crash';
    for (const m of await outbox()) {
      if (crash || m.to === 'r1' || m.to === 'r2') {
        const body = { session: 0, seq: m.body.seq, result: { index: 1, digest: 'd1:0', snapshot: snap(0), duplicate: false, session: { id: 1, seq: 0 } }, members: R4 };
        await deliver(m.to, 'reply', body);
      }
    }
    expect(await info).toEqual({ id: 1, seq: 0 });
  }
  return { clock, client, outbox, deliver, runFor, settle };
}

/** Watches a promise so a test can assert that it is still pending. */
function track<T>(p: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

const snap = (count: number): AppSnapshot => ({ value: 'idle', context: { count }, status: 'active' });

function reply(seq: number, o: { index: number; count: number; digest?: string; members?: string[] }) {
  return {
    session: 1,
    seq,
    result: { index: o.index, digest: o.digest ?? `d${o.index}:${o.count}`, snapshot: snap(o.count), duplicate: false },
    members: o.members ?? R4,
  };
}

function readReply(nonce: number, o: { index: number; count: number; digest?: string; members?: string[]; ordered?: boolean }) {
  return {
    nonce,
    index: o.index,
    digest: o.digest ?? `d${o.index}:${o.count}`,
    snapshot: snap(o.count),
    members: o.members ?? R4,
    ...(o.ordered ? { ordered: true } : {}),
  };
}

const targets = (sent: Sent[]) => sent.map((m) => m.to).sort();

describe('byzantine client: output voting', () => {
  it('accepts a result at f+1 = 2 matching replies of n = 4; one reply (even twice) does not decide', async () => {
    const h = await harness();
    const seen: AppSnapshot[] = [];
    h.client.actor.subscribe((s) => seen.push(s));
    const out = track(h.client.send({ type: 'INC' }));

    const sent = await h.outbox();
    expect(targets(sent)).toEqual(R4);
    for (const m of sent) expect(m).toMatchObject({ kind: 'request', body: { seq: 1, event: { type: 'INC' } } });

    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1 }));
    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1 })); // the same replica again is still one vote
    expect(out.settled).toBe(false);
    expect(h.client.actor.getSnapshot()).toMatchObject({ agreed: false, index: 0 }); // no machine given: a placeholder until agreement

    await h.deliver('r2', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.settled).toBe(true);
    expect(out.value).toEqual({ index: 1, digest: 'd1:1', snapshot: snap(1), agreed: ['r1', 'r2'], dissent: [] });
    expect(h.client.actor.getSnapshot()).toMatchObject({ ...snap(1), agreed: true, index: 1 });
    expect(seen).toEqual([expect.objectContaining({ ...snap(1), agreed: true })]);
  });

  it('ignores replies for another seq and replies from outside the group', async () => {
    const h = await harness();
    const out = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1 }));
    await h.deliver('r2', 'reply', reply(7, { index: 1, count: 1 }));
    await h.deliver('mallory', 'reply', reply(1, { index: 1, count: 1 }));
    await h.deliver('r3', 'redirect', { session: 1, seq: 1, leader: 'r1' });
    expect(out.settled).toBe(false);
    await h.deliver('r3', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.value).toMatchObject({ agreed: ['r1', 'r3'] });
  });

  it('names a replica with a different digest in dissent, and logs late dissent after the decision', async () => {
    const h = await harness();
    const out = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r3', 'reply', reply(1, { index: 1, count: 1, digest: 'forged' }));
    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.settled).toBe(false); // r1 and r3 disagree: one vote each
    await h.deliver('r2', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.value).toMatchObject({ digest: 'd1:1', agreed: ['r1', 'r2'], dissent: [{ replica: 'r3', digest: 'forged' }] });
    expect(h.client.dissentLog).toEqual([{ seq: 1, replica: 'r3', digest: 'forged' }]);

    // After the decision: a late liar shows up in the log (once), a late correct replica does not.
    await h.deliver('r4', 'reply', reply(1, { index: 1, count: 1, digest: 'late-lie' }));
    await h.deliver('r4', 'reply', reply(1, { index: 1, count: 1, digest: 'late-lie' }));
    await h.deliver('r3', 'reply', reply(1, { index: 1, count: 1 }));
    expect(h.client.dissentLog).toEqual([
      { seq: 1, replica: 'r3', digest: 'forged' },
      { seq: 1, replica: 'r4', digest: 'late-lie' },
    ]);
  });

  it('keeps the last 100 dissent records, newest last', async () => {
    const h = await harness();
    for (let seq = 1; seq <= 101; seq++) {
      const out = h.client.send({ type: 'INC' });
      await h.outbox();
      await h.deliver('r4', 'reply', reply(seq, { index: seq, count: seq, digest: `lie${seq}` }));
      await h.deliver('r1', 'reply', reply(seq, { index: seq, count: seq }));
      await h.deliver('r2', 'reply', reply(seq, { index: seq, count: seq }));
      await out;
    }
    expect(h.client.dissentLog.length).toBe(100);
    expect(h.client.dissentLog[0]).toEqual({ seq: 2, replica: 'r4', digest: 'lie2' });
    expect(h.client.dissentLog[99]).toEqual({ seq: 101, replica: 'r4', digest: 'lie101' });
  });

  it('does not count a reply with the right digest but a made-up snapshot as agreeing', async () => {
    const h = await harness();
    const out = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r1', 'reply', { ...reply(1, { index: 1, count: 1 }), result: { index: 1, digest: 'd1:1', snapshot: snap(999), duplicate: false } });
    await h.deliver('r2', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.settled).toBe(false);
    await h.deliver('r3', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.value).toMatchObject({ snapshot: snap(1), agreed: ['r2', 'r3'], dissent: [{ replica: 'r1', digest: 'd1:1' }] });
  });

  it('is not rejected by a lone error, but by f+1 errors', async () => {
    const h = await harness();
    const first = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r4', 'error', { session: 1, seq: 1, message: 'a lie' });
    expect(first.settled).toBe(false);
    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1 }));
    await h.deliver('r2', 'reply', reply(1, { index: 1, count: 1 }));
    expect(first.error).toBeUndefined();
    expect(first.value).toMatchObject({ index: 1, agreed: ['r1', 'r2'], dissent: [] });

    const second = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r2', 'error', { session: 1, seq: 2, message: 'bad event' });
    expect(second.settled).toBe(false);
    await h.deliver('r3', 'error', { session: 1, seq: 2, message: 'worded differently' });
    expect(second.error).toBeInstanceOf(RequestRejectedError);
    expect((second.error as Error).message).toContain('bad event');
  });

  it('retransmits to every replica every retryAfterMs until decided, and gives up after giveUpAfterMs', async () => {
    const h = await harness({ giveUpAfterMs: 1_000 });
    const out = track(h.client.send({ type: 'INC' }));
    expect(targets(await h.outbox())).toEqual(R4);
    await h.runFor(99);
    expect(await h.outbox()).toEqual([]);
    await h.runFor(1);
    const again = await h.outbox();
    expect(targets(again)).toEqual(R4);
    for (const m of again) expect(m.body).toEqual({ session: 1, seq: 1, event: { type: 'INC' } }); // a retry keeps the seq

    await h.deliver('r3', 'reply', reply(1, { index: 1, count: 1 }));
    await h.deliver('r4', 'reply', reply(1, { index: 1, count: 1 }));
    expect(out.value).toMatchObject({ agreed: ['r3', 'r4'] });
    await h.runFor(500);
    expect(await h.outbox()).toEqual([]); // decided: no more retransmissions

    const lost = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r1', 'reply', reply(2, { index: 2, count: 2 })); // one vote is not enough, ever
    await h.runFor(999);
    expect(lost.settled).toBe(false);
    expect((await h.outbox()).length).toBe(9 * 4);
    await h.runFor(1);
    expect(lost.error).toBeInstanceOf(ClientTimeoutError);
  });

  it('adopts the agreed member list after a reconfiguration, and counts the new member from then on', async () => {
    const h = await harness();
    const R5 = [...R4, 'r5'];
    const first = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r5', 'reply', reply(1, { index: 1, count: 1, members: R5 })); // not a member yet: ignored
    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1, members: R5 }));
    expect(first.settled).toBe(false);
    await h.deliver('r2', 'reply', reply(1, { index: 1, count: 1, members: R5 }));
    expect(first.value).toMatchObject({ agreed: ['r1', 'r2'] });
    expect(h.client.replicas).toEqual(R5);

    const second = track(h.client.send({ type: 'INC' }));
    expect(targets(await h.outbox())).toEqual(R5);
    await h.deliver('r5', 'reply', reply(2, { index: 2, count: 2, members: R5 }));
    await h.deliver('r1', 'reply', reply(2, { index: 2, count: 2, members: R5 }));
    expect(second.value).toMatchObject({ agreed: ['r1', 'r5'] });
  });

  it('needs more votes for a reply that claims a bigger group', async () => {
    const h = await harness();
    const R7 = [...R4, 'r5', 'r6', 'r7']; // f = 2 in the claimed group: 3 votes
    const out = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r1', 'reply', reply(1, { index: 1, count: 1, members: R7 }));
    await h.deliver('r2', 'reply', reply(1, { index: 1, count: 1, members: R7 }));
    expect(out.settled).toBe(false);
    expect(h.client.replicas).toEqual(R4);
    await h.deliver('r3', 'reply', reply(1, { index: 1, count: 1, members: R7 }));
    expect(out.value).toMatchObject({ agreed: ['r1', 'r2', 'r3'] });
    expect(h.client.replicas).toEqual(R7);
  });

  it('accepts an unordered read at 2f+1 = 3 matching replies, not at f+1', async () => {
    const h = await harness();
    const out = track(h.client.readOutcome());
    const sent = await h.outbox();
    expect(targets(sent)).toEqual(R4);
    for (const m of sent) expect(m).toMatchObject({ kind: 'read', body: { nonce: 1 } });
    for (const m of sent) expect(m.body.ordered).toBeUndefined();

    await h.deliver('r1', 'readReply', readReply(1, { index: 5, count: 3 }));
    await h.deliver('r2', 'readReply', readReply(1, { index: 5, count: 3 }));
    expect(out.settled).toBe(false);
    await h.deliver('r4', 'readReply', readReply(1, { index: 5, count: 3 }));
    expect(out.value).toEqual({ index: 5, digest: 'd5:3', snapshot: snap(3), agreed: ['r1', 'r2', 'r4'], dissent: [] });
    expect(h.client.actor.getSnapshot()).toMatchObject({ ...snap(3), agreed: true, index: 5 });
    expect(await h.outbox()).toEqual([]); // no fallback was needed
  });

  it('falls back to an ordered read when the replies disagree, and accepts f+1 matching ordered replies', async () => {
    const h = await harness();
    const out = track(h.client.read());
    await h.outbox();
    await h.deliver('r1', 'readReply', readReply(1, { index: 5, count: 3 }));
    await h.deliver('r2', 'readReply', readReply(1, { index: 4, count: 2 }));
    expect(await h.outbox()).toEqual([]); // 3 of 4 could still agree
    await h.deliver('r3', 'readReply', readReply(1, { index: 6, count: 4 }));

    // No key can reach 3 votes now: an ordered read, under a new nonce, to every replica.
    const ordered = await h.outbox();
    expect(targets(ordered)).toEqual(R4);
    for (const m of ordered) expect(m).toMatchObject({ kind: 'read', body: { nonce: 2, ordered: true } });

    await h.deliver('r4', 'readReply', readReply(1, { index: 6, count: 4 })); // late, for the old nonce: not a vote
    await h.deliver('r3', 'readReply', readReply(2, { index: 6, count: 4, ordered: true }));
    expect(out.settled).toBe(false);
    await h.deliver('r2', 'readReply', readReply(2, { index: 6, count: 4, ordered: true }));
    expect(out.value).toEqual(snap(4));
  });

  it('falls back to an ordered read after readFallbackMs (default 2 * retryAfterMs) without agreement', async () => {
    const h = await harness();
    const out = track(h.client.readOutcome());
    await h.outbox();
    await h.deliver('r1', 'readReply', readReply(1, { index: 1, count: 1 }));
    await h.runFor(199);
    expect((await h.outbox()).every((m) => m.body.ordered === undefined)).toBe(true);
    await h.runFor(1);
    const ordered = await h.outbox();
    expect(targets(ordered)).toEqual(R4);
    for (const m of ordered) expect(m.body).toEqual({ nonce: 2, ordered: true });
    await h.deliver('r1', 'readReply', readReply(2, { index: 1, count: 1 }));
    await h.deliver('r2', 'readReply', readReply(2, { index: 1, count: 1 }));
    expect(out.value).toMatchObject({ index: 1, agreed: ['r1', 'r2'] });
  });
});

describe('crash client (unchanged)', () => {
  it('accepts one reply, sent to one replica', async () => {
    const h = await harness({ faultModel: 'crash', replicas: ['r1', 'r2', 'r3'] });
    const out = track(h.client.send({ type: 'INC' }));
    const sent = await h.outbox();
    expect(sent).toEqual([{ to: 'r1', kind: 'request', body: { session: 1, seq: 1, event: { type: 'INC' } } }]);
    await h.deliver('r1', 'reply', { session: 1, seq: 1, result: { index: 1, digest: 'd', snapshot: snap(1), duplicate: false } });
    expect(out.value).toEqual({ index: 1, digest: 'd', snapshot: snap(1), agreed: ['r1'], dissent: [] });
  });

  it('is rejected by one error', async () => {
    const h = await harness({ faultModel: 'crash', replicas: ['r1', 'r2', 'r3'] });
    const out = track(h.client.send({ type: 'INC' }));
    await h.outbox();
    await h.deliver('r1', 'error', { session: 1, seq: 1, message: 'no' });
    expect(out.error).toBeInstanceOf(RequestRejectedError);
  });
});

describe('client restarted with the same identity', () => {
  it('numbers its requests from startSeq + 1, so the replicas do not take them for repeats', async () => {
    const h = await harness({ startSeq: 41 });
    void h.client.send({ type: 'INC' });
    const sent = await h.outbox();
    for (const m of sent) expect(m.body).toMatchObject({ seq: 42 });
    await Promise.all(R4.slice(0, 2).map((r) => h.deliver(r, 'reply', reply(42, { index: 9, count: 9 }))));
    void h.client.send({ type: 'INC' });
    for (const m of await h.outbox()) expect(m.body).toMatchObject({ seq: 43 });
  });

  it('refuses a startSeq that is not a non-negative safe integer', async () => {
    for (const startSeq of [-1, 1.5, Number.NaN, 2 ** 53]) await expect(harness({ startSeq })).rejects.toThrow(/startSeq/);
  });
});
