import { createActor, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { SimulationError, VirtualClock } from '../../src/sim/index.ts';

describe('VirtualClock', () => {
  it('runs tasks in time order, ties in scheduling order', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    clock.setTimeout(() => seen.push('b@10'), 10);
    clock.setTimeout(() => seen.push('a@5'), 5);
    clock.setTimeout(() => seen.push('c@10'), 10);
    clock.setTimeout(() => seen.push('now'), 0);
    await clock.runFor(9);
    expect(seen).toEqual(['now', 'a@5']);
    expect(clock.now()).toBe(9);
    await clock.runFor(1);
    expect(seen).toEqual(['now', 'a@5', 'b@10', 'c@10']);
  });

  it('cancels timers', async () => {
    const clock = new VirtualClock();
    let fired = 0;
    const h = clock.setTimeout(() => fired++, 5);
    clock.setTimeout(() => fired++, 6);
    clock.clearTimeout(h);
    clock.clearTimeout(h);
    clock.clearTimeout(undefined);
    expect(clock.pending).toBe(1);
    await clock.runFor(10);
    expect(fired).toBe(1);
  });

  it('keeps order through heavy timer churn (cancelled entries compacted)', async () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const h = clock.setTimeout(() => fired.push(-1), 100 + i);
      clock.clearTimeout(h);
      if (i % 100 === 0) clock.setTimeout(() => fired.push(i), 1000 - i / 10);
    }
    expect(clock.pending).toBe(50);
    await clock.runUntilIdle();
    expect(fired).toEqual(Array.from({ length: 50 }, (_, k) => (49 - k) * 100));
  });

  it('awaits an asynchronous task before the next one starts', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    clock.setTimeout(async () => {
      seen.push('a:start');
      await crypto.subtle.digest('SHA-256', new Uint8Array(1 << 16)); // real async work off the JS thread
      seen.push('a:end');
    }, 1);
    clock.setTimeout(() => seen.push('b'), 1);
    await clock.runFor(1);
    expect(seen).toEqual(['a:start', 'a:end', 'b']);
  });

  it('runUntil stops when the predicate holds or the virtual timeout passes', async () => {
    const clock = new VirtualClock();
    let n = 0;
    const tick = () => {
      n++;
      clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    expect(await clock.runUntil(() => n >= 3, { timeout: 1000 })).toBe(true);
    expect(clock.now()).toBe(30);
    expect(await clock.runUntil(() => n >= 1000, { timeout: 100 })).toBe(false);
    expect(clock.now()).toBe(130);
    await expect(clock.runUntilIdle({ maxTasks: 50 })).rejects.toThrow(/still busy/);
  });

  it('propagates a failing task and refuses re-entrant driving', async () => {
    const clock = new VirtualClock();
    clock.setTimeout(() => {
      throw new Error('boom');
    }, 1);
    await expect(clock.runFor(5)).rejects.toThrow('boom');
    clock.setTimeout(() => clock.runFor(1), 1);
    await expect(clock.runFor(5)).rejects.toThrow(SimulationError);
  });

  it('drives XState delayed transitions as the actor clock', async () => {
    const clock = new VirtualClock();
    const machine = setup({}).createMachine({
      initial: 'idle',
      states: { idle: { after: { 5000: 'late' } }, late: { after: { 1000: 'done' } }, done: { type: 'final' } },
    });
    const actor = createActor(machine, { clock }).start();
    await clock.runFor(4999);
    expect(actor.getSnapshot().value).toBe('idle');
    await clock.runFor(1);
    expect(actor.getSnapshot().value).toBe('late');
    await clock.runFor(1000);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('runs by itself: a minute of virtual time passes in far less real time', async () => {
    const clock = new VirtualClock();
    let beats = 0;
    const beat = () => {
      beats++;
      clock.setTimeout(beat, 100);
    };
    clock.setTimeout(beat, 100);
    clock.startAuto();
    const started = performance.now();
    await clock.sleep(60_000);
    const realMs = performance.now() - started;
    await clock.stopAuto();
    expect(clock.now()).toBeGreaterThanOrEqual(60_000);
    expect(beats).toBeGreaterThanOrEqual(599); // the beat due at 60 000 was scheduled after the sleep
    expect(realMs).toBeLessThan(30_000); // generous: the point is that time is virtual, not wall-clock
  });

  it('wakes up from idle when outside code schedules work, and reports a failing task', async () => {
    const clock = new VirtualClock();
    clock.startAuto();
    expect(await clock.run(() => 'done')).toBe('done');
    expect(await clock.run(async () => 7)).toBe(7);
    await expect(clock.run(() => { throw new Error('task error'); })).rejects.toThrow('task error');
    clock.setTimeout(() => {
      throw new Error('loop error');
    }, 5);
    await expect(clock.whenStopped()).rejects.toThrow('loop error');
    expect(clock.autoRunning).toBe(false);
    await expect(clock.stopAuto()).rejects.toThrow('loop error');
    expect(String(clock.failure)).toMatch(/loop error/);
  });

  it('in real-time mode keeps yielding to the host even when work is always due', async () => {
    const clock = new VirtualClock();
    let spins = 0;
    const spin = () => {
      spins++;
      clock.setTimeout(spin, 0);
    };
    spin();
    clock.startAuto({ realTime: true });
    // Without yielding, this macrotask would never run and the test would hang.
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
    await clock.stopAuto();
    expect(spins).toBeGreaterThan(1);
  });
});
