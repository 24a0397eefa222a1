import { describe, expect, it } from 'vitest';
import { Simulation, seedsToRun, withSeed, type NodeEnv } from '../../src/sim/index.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A small gossiping node: it keeps a counter in memory and in storage, and on every message
 * does real asynchronous work (a WebCrypto digest, a storage write) before answering, so the
 * test exercises the scheduler's handling of async tasks, crashes and restarts.
 */
function gossipNode(peers: string[], log: string[]) {
  return async (env: NodeEnv) => {
    const saved = await env.storage.get('count');
    let count = saved ? Number(dec.decode(saved)) : 0;
    log.push(`${env.id}#${env.incarnation} start count=${count}`);
    env.onMessage(async (from, bytes) => {
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
      count++;
      await env.storage.set('count', enc.encode(String(count)));
      log.push(`${env.id} got ${dec.decode(bytes)} from ${from} d=${digest[0]}`);
      if (env.random.chance(0.5)) env.send(from, enc.encode(`ack-${count}`));
    });
    const tick = () => {
      env.send(env.random.pick(peers.filter((p) => p !== env.id)), enc.encode(`${env.id}:${count}`));
      env.clock.setTimeout(tick, env.random.between(5, 50));
    };
    env.clock.setTimeout(tick, env.random.between(5, 50));
  };
}

async function scenario(seed: number): Promise<{ hash: string; log: string[]; sim: Simulation }> {
  const sim = new Simulation({ seed, link: { latency: { min: 1, max: 20 }, loss: 0.1, duplicate: 0.05, reorder: 0.1 } });
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const log: string[] = [];
  for (const id of ids) await sim.addNode(id, gossipNode(ids, log));
  const r = sim.random.fork('faults');
  for (let round = 0; round < 20; round++) {
    await sim.clock.runFor(r.between(20, 200));
    const victim = r.pick(ids);
    const action = r.int(4);
    if (action === 0 && sim.isUp(victim)) sim.crash(victim);
    else if (action === 1 && !sim.isUp(victim)) await sim.restart(victim);
    else if (action === 2) sim.network.partition([victim], ids.filter((x) => x !== victim));
    else sim.network.heal();
  }
  await sim.clock.runFor(500);
  await sim.stop();
  return { hash: sim.trace.hash, log, sim };
}

describe('Simulation', () => {
  it('same seed, same trace; another seed, another trace', async () => {
    for (const seed of seedsToRun(5, 100)) {
      await withSeed(seed, async () => {
        const first = await scenario(seed);
        const second = await scenario(seed);
        expect(first.sim.trace.length).toBeGreaterThan(300);
        expect(second.hash).toBe(first.hash);
        expect(second.log).toEqual(first.log);
        const other = await scenario(seed + 1000);
        expect(other.hash).not.toBe(first.hash);
      });
    }
  });

  it('a crash loses in-memory state and timers, keeps storage; restart resumes from storage', async () => {
    const sim = new Simulation({ seed: 9, link: { latency: 1 }, traceKeep: 1_000_000 });
    const log: string[] = [];
    await sim.addNode('a', gossipNode(['a', 'b'], log));
    await sim.addNode('b', gossipNode(['a', 'b'], log));
    await sim.clock.runFor(1000);
    const stored = Number(dec.decode((await sim.storageOf('a').get('count'))!));
    expect(stored).toBeGreaterThan(5);
    sim.crash('a');
    expect(sim.isUp('a')).toBe(false);
    const sentBefore = sim.trace.counts.send;
    const fromA = () => sim.trace.recent().filter((r) => r.kind === 'send' && r.from === 'a').length;
    const aSendsBefore = fromA();
    await sim.clock.runFor(500);
    expect(fromA()).toBe(aSendsBefore); // a's timers died with it
    expect(sim.trace.counts.send).toBeGreaterThan(sentBefore); // b carries on
    expect(sim.network.stats.droppedDown).toBeGreaterThan(0);
    await sim.restart('a');
    expect(log.at(-1)).toBe(`a#2 start count=${stored}`);
    await expect(sim.restart('a')).rejects.toThrow(/is running/);
    await sim.stop();
  });

  it('abandons the unfinished work of a node that crashes mid-task', async () => {
    const sim = new Simulation({ seed: 1 });
    let afterWrite = false;
    let storage!: NodeEnv['storage'];
    await sim.addNode('a', (env) => {
      storage = env.storage;
      env.clock.setTimeout(async () => {
        sim.crash('a'); // e.g. power lost while the write is in flight
        await env.storage.set('k', new Uint8Array([1]));
        afterWrite = true;
      }, 10);
    });
    await sim.clock.runFor(100); // must not hang on the never-settling write
    expect(afterWrite).toBe(false);
    expect(await sim.storageOf('a').get('k')).toBe(undefined);
    let settled = false;
    void storage.get('k').then(() => (settled = true));
    await sim.clock.runFor(10);
    expect(settled).toBe(false);
  });

  it('stops nodes gracefully before retiring them, so work in flight can finish', async () => {
    const sim = new Simulation({ seed: 2 });
    await sim.addNode('a', (env) => ({
      // A stop that flushes state: before the fix its write never settled and stop() hung.
      stop: async () => {
        await env.storage.set('flushed', new Uint8Array([1]));
      },
    }));
    await sim.stop();
    expect(await sim.storageOf('a').get('flushed')).toEqual(new Uint8Array([1]));
    expect(sim.isUp('a')).toBe(false);
  });

  it('rejects bad arguments', async () => {
    expect(() => new Simulation({ seed: 1.5 })).toThrow(/integer seed/);
    const sim = new Simulation({ seed: 1 });
    await sim.addNode('a', () => {});
    await expect(sim.addNode('a', () => {})).rejects.toThrow(/already exists/);
    await expect(sim.addNode('', () => {})).rejects.toThrow(/non-empty/);
    expect(() => sim.crash('zz')).toThrow(/unknown node/);
  });

  it('names the seed of a failing run', async () => {
    await expect(withSeed(1234, () => { throw new Error('checker said no'); }, () => 'trace tail')).rejects.toThrow(
      /seed 1234.*SEED=1234[\s\S]*checker said no[\s\S]*trace tail/,
    );
  });
});
