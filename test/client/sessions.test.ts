import { describe, expect, it } from 'vitest';
import { createAppExecutor, SESSION_EVENT } from '../../src/app/index.ts';
import { createLocalCluster, RequestMismatchError, SessionExpiredError, type FaultModel, type LocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

// Issue 12, findings 3 and 4: exactly-once must survive more clients than the session table
// holds, and a client restarted with the same identity.

const count = (s: { context: unknown }) => (s.context as { count: number }).count;

describe('session table bound (finding 3)', () => {
  it('a retry after 1,100 other clients wrote once is refused as expired, never applied twice (default bound 1,024)', () => {
    const ex = createAppExecutor(counter);
    let index = 0;
    const open = (client: string) => ex.applyRequest(++index, index, { client, session: 0, seq: 1, event: { type: SESSION_EVENT } }).session?.id ?? 0;
    const victim = open('victim');
    ex.applyRequest(++index, index, { client: 'victim', session: victim, seq: 1, event: { type: 'ADD', amount: 1000 } });
    for (let i = 0; i < 1100; i++) {
      const c = `other-${i}`;
      const s = open(c);
      ex.applyRequest(++index, index, { client: c, session: s, seq: 1, event: { type: 'INC' } });
    }
    expect(count(ex.actor.getSnapshot())).toBe(1100 + 1000);
    // the victim's reply was lost: it retries the same request
    const retry = ex.applyRequest(++index, index, { client: 'victim', session: victim, seq: 1, event: { type: 'ADD', amount: 1000 } });
    expect(retry.refused?.code).toBe('session-expired');
    expect(count(ex.actor.getSnapshot())).toBe(1100 + 1000);
  });

  for (const faultModel of ['crash', 'byzantine'] as FaultModel[]) {
    it(`${faultModel}: a client whose replies were lost while its session was evicted gets SessionExpiredError, applied once`, async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 5, sessions: { maxClients: 8 }, client: { retryAfterMs: 200, giveUpAfterMs: 60_000 } });
      try {
        const victim = cluster.createClient();
        await victim.send({ type: 'INC' }); // opens its session
        // Replies to the victim are lost from now on; its request still gets through.
        cluster.sim.network.partitionOneWay(cluster.replicaIds, [victim.id]);
        const pending = victim.send({ type: 'ADD', amount: 1000 }).then(
          () => 'ok',
          (err: unknown) => err,
        );
        await cluster.sim.clock.sleep(500);
        const others = Array.from({ length: 12 }, () => cluster.createClient());
        for (const c of others) await c.send({ type: 'INC' }); // 12 new sessions: the victim's is evicted
        await cluster.sim.clock.sleep(1000); // the victim keeps retrying, into the evicted session
        cluster.heal();
        const outcome = await pending;
        expect(outcome).toBeInstanceOf(SessionExpiredError);
        const check = cluster.createClient();
        const final = await check.send({ type: 'ADD', amount: 0 });
        expect(count(final.snapshot)).toBe(1 + 1000 + 12); // the lost-reply request applied exactly once
        // the expired client opens a new session on its next send
        expect(count((await victim.send({ type: 'INC' })).snapshot)).toBe(1 + 1000 + 12 + 1);
      } finally {
        await cluster.stop();
      }
    }, 60_000);
  }
});

describe('client restarted with the same identity (finding 4)', () => {
  for (const faultModel of ['crash', 'byzantine'] as FaultModel[]) {
    it(`${faultModel}: with default options, its sends are applied (a new session), never answered from the old run's cache`, async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 9 });
      try {
        const c = cluster.createClient();
        for (let i = 0; i < 3; i++) await c.send({ type: 'INC' });
        const before = await c.session();
        c.restart();
        const outs = [];
        for (let i = 0; i < 3; i++) outs.push(await c.send({ type: 'ADD', amount: 10 }));
        expect(outs.map((o) => count(o.snapshot))).toEqual([13, 23, 33]);
        const after = await c.session();
        expect(after.id).not.toBe(before.id);
        expect(after.seq).toBe(3);
      } finally {
        await cluster.stop();
      }
    }, 60_000);

    it(`${faultModel}: restarted with a request in flight, a late reply to the old run is not taken for the new one`, async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 3, network: { latency: { min: 5, max: 20 } } });
      try {
        const c = cluster.createClient();
        await c.send({ type: 'INC' });
        const inFlight = c.send({ type: 'ADD', amount: 100 }).catch(() => 'dropped');
        await cluster.sim.clock.sleep(1);
        c.restart();
        expect(await inFlight).toBe('dropped');
        const out = await c.send({ type: 'ADD', amount: 10 });
        // the old request may or may not have been applied, but this outcome is this request's
        expect([11, 111]).toContain(count(out.snapshot));
        const read = await c.read();
        expect(count(read)).toBe(count(out.snapshot));
      } finally {
        await cluster.stop();
      }
    }, 60_000);

    it(`${faultModel}: resumes its session and learns whether its last request was applied; the old in-flight copy can no longer apply`, async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 4 });
      try {
        const c = cluster.createClient();
        await c.send({ type: 'INC' });
        const { id } = await c.session();
        const inFlight = c.send({ type: 'ADD', amount: 100 }).catch(() => 'dropped');
        await cluster.sim.clock.sleep(1);
        c.restart({ session: id });
        await inFlight;
        const resumed = await c.session();
        expect(resumed.id).toBe(id);
        expect([1, 2]).toContain(resumed.seq);
        const after = await c.send({ type: 'INC' });
        expect(count(after.snapshot)).toBe(resumed.seq === 2 ? 102 : 2);
        await cluster.sim.clock.sleep(2000); // any straggling copy of the old request
        expect(count(await c.read())).toBe(count(after.snapshot));
        // an expired session cannot be resumed: a clear error, then a new session
        c.restart({ session: 999_999 });
        await expect(c.send({ type: 'INC' })).rejects.toBeInstanceOf(SessionExpiredError);
        expect(count((await c.send({ type: 'INC' })).snapshot)).toBe(count(after.snapshot) + 1);
      } finally {
        await cluster.stop();
      }
    }, 60_000);
  }

  it('a resume applied twice (a retransmission, or a late copy of an earlier run) fences once: the next seq from either answer applies', () => {
    const ex = createAppExecutor(counter);
    let index = 0;
    const apply = (session: number, seq: number, event: Record<string, unknown>) => ex.applyRequest(++index, index, { client: 'c', session, seq, event: event as never });
    const id = apply(0, 1, { type: SESSION_EVENT }).session!.id;
    apply(id, 1, { type: 'INC' });
    // the restarted client resumes (attempt 5); its opening is retransmitted and ordered again
    const first = apply(0, 5, { type: SESSION_EVENT, resume: id });
    const again = apply(0, 5, { type: SESSION_EVENT, resume: id });
    expect(first.session).toEqual({ id, seq: 1 });
    expect(again.session).toEqual({ id, seq: 1 });
    // a late copy of an earlier run's resume (attempt 3) fences nothing either, also on a replica restored from a snapshot
    const restored = createAppExecutor(counter);
    restored.restore(ex.snapshot());
    expect(restored.digest).toBe(ex.digest);
    expect(restored.applyRequest(index + 1, index + 1, { client: 'c', session: 0, seq: 3, event: { type: SESSION_EVENT, resume: id } }).session).toEqual({ id, seq: 1 });
    expect(apply(0, 3, { type: SESSION_EVENT, resume: id }).session).toEqual({ id, seq: 1 });
    expect(restored.digest).toBe(ex.digest);
    // the client took the first answer: it skips the fence (2) and sends 3
    const next = apply(id, 3, { type: 'ADD', amount: 10 });
    expect(next.refused).toBeUndefined();
    expect(count(next.snapshot)).toBe(11);
    // once a request is applied after the resume, a late copy still fences nothing
    expect(apply(0, 5, { type: SESSION_EVENT, resume: id }).session).toEqual({ id, seq: 3 });
    expect(count(apply(id, 4, { type: 'INC' }).snapshot)).toBe(12);
    // a later resume (a new run) fences again: the earlier run's next number can no longer apply
    expect(apply(0, 9, { type: SESSION_EVENT, resume: id }).session).toEqual({ id, seq: 4 });
    expect(apply(id, 5, { type: 'INC' }).refused?.code).toBe('request-mismatch');
  });

  for (const faultModel of ['crash', 'byzantine'] as FaultModel[]) {
    it(`${faultModel}: a resume whose replies come after its retransmissions were ordered too still sends its next request under a free number`, async () => {
      // Replies take longer than the retry interval: the opening is retransmitted and applied
      // several times, and the client takes the first reply (randomized crash suite, seed 26).
      const cluster = await createLocalCluster({
        machine: counter,
        faultModel,
        f: 1,
        seed: 7,
        network: { latency: { min: 8, max: 12 } },
        client: { retryAfterMs: 10, giveUpAfterMs: 60_000 },
      });
      try {
        const c = cluster.createClient();
        await c.send({ type: 'INC' });
        const { id } = await c.session();
        for (let i = 0; i < 5; i++) {
          c.restart({ session: id });
          const out = await c.send({ type: 'ADD', amount: 10 });
          expect(count(out.snapshot)).toBe(1 + 10 * (i + 1));
        }
      } finally {
        await cluster.stop();
      }
    }, 60_000);
  }

  it('a different request under a seq already applied gets RequestMismatchError, never the cached outcome', async () => {
    const ex = createAppExecutor(counter);
    ex.applyRequest(1, 0, { client: 'c', session: 0, seq: 1, event: { type: SESSION_EVENT } });
    ex.applyRequest(2, 0, { client: 'c', session: 1, seq: 3, event: { type: 'INC' } });
    // the old run's last seq, sent again by a restarted client with another event
    const r = ex.applyRequest(3, 0, { client: 'c', session: 1, seq: 3, event: { type: 'ADD', amount: 5 } });
    expect(r.refused?.code).toBe('request-mismatch');
    expect(count(r.snapshot)).toBe(1);
    expect(RequestMismatchError.name).toBe('RequestMismatchError');
  });
});

export type { LocalCluster };
