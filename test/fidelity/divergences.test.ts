/**
 * Regression tests of issue 13's divergences: a replicated machine must hold the same state
 * on every replica whatever XState leaves to the process.
 */
import { describe, expect, it } from 'vitest';
import { assign, createMachine, fromCallback, fromObservable, fromPromise, fromTransition, sendParent, setup, type AnyActorRef, type Subscribable } from 'xstate';
import { createLocalCluster, ReplicasDisagreeError, type LocalCluster } from '../../src/index.ts';
import { createAppExecutor, SESSION_EVENT } from '../../src/app/index.ts';

const child = createMachine({
  id: 'child',
  context: ({ input }: { input?: { parent?: AnyActorRef } }) => ({ parent: input?.parent }),
  on: { PING: { actions: sendParent({ type: 'PONG' }) } },
});

/** Spawns without an id and hands the child a ref to its parent: both named by XState's process-wide counter. */
export const spawner = setup({ actors: { child } }).createMachine({
  id: 'spawner',
  context: { refs: [] as AnyActorRef[], pongs: 0 },
  on: {
    SPAWN: { actions: assign({ refs: ({ context, spawn, self }) => [...context.refs, spawn('child', { input: { parent: self } })] }) },
    PONG: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
  },
});

async function converged(cluster: LocalCluster, index: number): Promise<Set<string>> {
  await cluster.waitFor(() => cluster.replicaIds.every((id) => cluster.replica(id).status().appliedIndex >= index));
  return new Set(cluster.replicaIds.map((id) => cluster.replica(id).status().digest));
}

describe('actor ids are part of the replicated state', () => {
  it('crash group: replicas that spawn without ids hold equal state and digests', async () => {
    const cluster = await createLocalCluster({ machine: spawner, seed: 3 });
    try {
      // a local actor in this process moves XState's shared counter between replicas
      const client = cluster.createClient();
      await client.send({ type: 'SPAWN' });
      const out = await client.send({ type: 'SPAWN' });
      const digests = await converged(cluster, out.index);
      const ids = new Set(cluster.replicaIds.map((id) => JSON.stringify(Object.keys(cluster.replica(id).app.getSnapshot().children))));
      expect(ids).toEqual(new Set([JSON.stringify(['x:0', 'x:1'])]));
      expect(digests.size).toBe(1);
    } finally {
      await cluster.stop();
    }
  });

  it('Byzantine group: the client gets agreement on a spawn without id', async () => {
    const cluster = await createLocalCluster({ machine: spawner, faultModel: 'byzantine', f: 1, seed: 4, client: { retryAfterMs: 150, giveUpAfterMs: 5_000 } });
    try {
      const client = cluster.createClient();
      await client.send({ type: 'SPAWN' });
      const out = await client.send({ type: 'SPAWN' });
      expect(Object.keys((out.snapshot.context as { refs: unknown[] }).refs)).toHaveLength(2);
    } finally {
      await cluster.stop();
    }
  });

  it('the id counter survives a snapshot: a restored replica names the next child as the others do', () => {
    const a = createAppExecutor(spawner);
    a.applyRequest(1, 0, { client: 'c', session: 0, seq: 1, event: { type: SESSION_EVENT } }); // opens session 1
    a.applyRequest(2, 0, { client: 'c', session: 1, seq: 2, event: { type: 'SPAWN' } });
    const b = createAppExecutor(spawner);
    b.restore(a.snapshot());
    a.applyRequest(3, 0, { client: 'c', session: 1, seq: 3, event: { type: 'SPAWN' } });
    b.applyRequest(3, 0, { client: 'c', session: 1, seq: 3, event: { type: 'SPAWN' } });
    expect(Object.keys(b.actor.getSnapshot().children)).toEqual(['x:0', 'x:1']);
    expect(b.digest).toBe(a.digest);
    a.stop();
    b.stop();
  });
});

describe('logic that runs on a replica\'s own clock is refused', () => {
  const fetchUser = fromPromise(async () => ({ name: 'a' }));
  const ticker = fromCallback(() => () => {});
  const named = setup({ actors: { fetchUser } }).createMachine({ id: 'named', invoke: { src: 'fetchUser' } });
  const inline = createMachine({ id: 'inline', initial: 'a', states: { a: { invoke: { src: ticker } } } });
  const nested = setup({ actors: { inner: setup({ actors: { ticks: fromObservable(() => interval(10)) } }).createMachine({ id: 'inner' }) } }).createMachine({ id: 'outer' });
  const counterLogic = fromTransition((n: number) => n + 1, 0);
  const fine = setup({ actors: { counterLogic, child } }).createMachine({ id: 'fine', invoke: { src: 'counterLogic' } });

  it('createLocalCluster names a promise actor from setup and says what to do instead', async () => {
    await expect(createLocalCluster({ machine: named, seed: 1 })).rejects.toThrow(/actor "fetchUser" of machine "named" is promise, callback or observable logic.*send their outcome as an event/s);
  });

  it('refuses an inline invoked callback actor and one nested in a child machine, in both models', async () => {
    await expect(createLocalCluster({ machine: inline, seed: 1, faultModel: 'byzantine' })).rejects.toThrow(/invoked at "#inline.a" \(invoke\[0\]\) of machine "inline"/);
    expect(() => createAppExecutor(nested)).toThrow(/actor "ticks" of machine "inner"/);
  });

  it('accepts machines and fromTransition logic', () => {
    expect(() => createAppExecutor(fine).stop()).not.toThrow();
  });
});

function interval(ms: number): Subscribable<number> {
  return {
    subscribe: () => {
      const t = setInterval(() => {}, ms);
      return { unsubscribe: () => clearInterval(t) };
    },
  } as unknown as Subscribable<number>;
}

describe('a machine in a final state shows its output to clients', () => {
  const finishing = createMachine({
    id: 'finishing',
    initial: 'running',
    context: { total: 0 },
    states: {
      running: { on: { ADD: { actions: assign({ total: ({ context }) => context.total + 1 }) }, FINISH: 'done' } },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ total: context.total }),
  });

  for (const faultModel of ['crash', 'byzantine'] as const) {
    it(`${faultModel}: output in send(), read() and client.actor snapshots`, async () => {
      const cluster = await createLocalCluster({ machine: finishing, faultModel, f: 1, seed: 5 });
      try {
        const client = cluster.createClient();
        await client.send({ type: 'ADD' });
        const out = await client.send({ type: 'FINISH' });
        expect(out.snapshot).toMatchObject({ status: 'done', output: { total: 1 } });
        expect(await client.read()).toMatchObject({ status: 'done', output: { total: 1 } });
        expect(client.actor.getSnapshot()).toMatchObject({ output: { total: 1 } });
      } finally {
        await cluster.stop();
      }
    });
  }
});

describe('the machine and replicated time start at group genesis', () => {
  const light = createMachine({
    id: 'light',
    initial: 'green',
    states: { green: { after: { 1000: 'yellow' } }, yellow: { after: { 1000: 'red' } }, red: {} },
  });
  for (const faultModel of ['crash', 'byzantine'] as const) {
    it(`${faultModel}: a traffic light with no requests is yellow after 1.6 s of group time, as a local actor is`, async () => {
      const cluster = await createLocalCluster({ machine: light, faultModel, f: 1, seed: 6 });
      try {
        await cluster.sim.clock.sleep(1600);
        for (const id of cluster.replicaIds) expect(cluster.replica(id).app.getSnapshot().value).toBe('yellow');
        const client = cluster.createClient();
        expect((await client.read()).value).toBe('yellow');
      } finally {
        await cluster.stop();
      }
    });
  }
});

describe('divergence is never silent', () => {
  let calls = 0;
  /** Not deterministic on purpose: each replica that applies TICK stores a different number. */
  const leaky = createMachine({ id: 'leaky', context: { n: 0 }, on: { TICK: { actions: assign({ n: () => ++calls }) } } });

  it('crash: followers compare digests with the leader at equal applied index and report the difference', async () => {
    const cluster = await createLocalCluster({ machine: leaky, seed: 8 });
    try {
      const client = cluster.createClient();
      for (let i = 0; i < 20; i++) await client.send({ type: 'TICK' });
      const leader = (await cluster.waitForLeader())!;
      const followers = cluster.replicaIds.filter((id) => id !== leader);
      await cluster.waitFor(() => followers.every((id) => cluster.replica(id).status().diverged !== undefined));
      for (const id of followers) {
        const d = cluster.replica(id).status().diverged!;
        expect(d).toMatchObject({ index: 16, leader, digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
        expect(d.leaderDigest).not.toBe(d.digest);
        expect(cluster.replica(id).metrics.misbehaviour.diverged).toBe(1);
      }
      expect(cluster.replica(leader).status().diverged).toBeUndefined();
    } finally {
      await cluster.stop();
    }
  });

  it('crash: a divergence followed by no traffic is reported within seconds (the idle leader sends its last digest)', async () => {
    const cluster = await createLocalCluster({ machine: leaky, seed: 5 });
    try {
      await cluster.createClient().send({ type: 'TICK' }); // index 3 or so: far from a multiple of 16
      const sent = cluster.sim.clock.now();
      const leader = (await cluster.waitForLeader())!;
      const followers = cluster.replicaIds.filter((id) => id !== leader);
      await cluster.waitFor(() => followers.every((id) => cluster.replica(id).status().diverged !== undefined), { timeoutMs: 5_000 });
      expect(cluster.sim.clock.now() - sent).toBeLessThan(3_000);
      for (const id of followers) expect(cluster.replica(id).status().diverged!.index % 16).not.toBe(0);
    } finally {
      await cluster.stop();
    }
  });

  it('Byzantine: a client whose replies disagree says which replicas said what, not "timeout"', async () => {
    const cluster = await createLocalCluster({ machine: leaky, faultModel: 'byzantine', f: 1, seed: 7, client: { retryAfterMs: 150, giveUpAfterMs: 5_000 } });
    try {
      const client = cluster.createClient();
      const err = await client.send({ type: 'TICK' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReplicasDisagreeError);
      expect(String((err as Error).message)).toMatch(/^replicas disagree: r\d → digest [0-9a-f]{12} at index \d+; r\d → digest/);
      expect((err as ReplicasDisagreeError).groups).toHaveLength(4);
    } finally {
      await cluster.stop();
    }
  });
});
