import type { Clock } from '../clock.ts';

/**
 * Who a task belongs to. A crashed node's incarnation stops being alive: its timers and
 * deliveries are skipped, and a task of it that is still awaiting something is abandoned.
 */
export interface TaskOwner {
  readonly alive: boolean;
  /** Calls listener when the owner dies; returns a function that removes it. */
  onDeath(listener: () => void): () => void;
}

/**
 * Settles when `work` settles or, sooner, when `owner` dies (the work is abandoned). The death
 * listener is removed as soon as the work settles: racing against a long-lived "died" promise
 * instead would keep every task's closure reachable for the owner's whole life.
 */
export function untilSettledOrDead(work: PromiseLike<unknown>, owner: TaskOwner): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const off = owner.onDeath(() => resolve(undefined));
    work.then(
      (v) => {
        off();
        resolve(v);
      },
      (err) => {
        off();
        reject(err);
      },
    );
  });
}

type Task = () => unknown;

interface Entry {
  time: number;
  seq: number;
  fn: Task;
  owner: TaskOwner | undefined;
  cancelled: boolean;
  /** Left the heap (ran or was skipped): cancelling it now changes nothing. */
  done: boolean;
}

export class SimulationError extends Error {
  override name = 'SimulationError';
}

/**
 * The virtual clock and the simulation's scheduler in one: timers, network deliveries and
 * outside calls are tasks ordered by (time, scheduling order), run one at a time. A task
 * that returns a promise is awaited before the next task starts, so asynchronous work
 * (signature checks, storage writes) cannot interleave differently from one run to the next.
 * Consequently a task must settle from its own work and never wait on virtual time.
 *
 * Drive it by hand (`runFor`, `runUntil`, `step`) or let it run by itself (`startAuto`): then
 * it advances to the next instant whenever everything due now is done, yielding to the host
 * between instants so outside code can act.
 */
export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #heap: Entry[] = [];
  #cancelledInHeap = 0;
  #running = false;
  #auto = false;
  #wake: (() => void) | undefined;
  #autoDone: Promise<void> | undefined;
  #failure: unknown;
  #tasksRun = 0;
  /** When set, time follows the wall clock (ms since start) instead of jumping ahead. */
  #wall: (() => number) | undefined;

  now(): number {
    return this.#wall ? Math.max(this.#now, this.#wall()) : this.#now;
  }

  /** How many tasks have run so far. */
  get tasksRun(): number {
    return this.#tasksRun;
  }

  /** Schedules fn after ms of virtual time (0 = at the current instant, after what is already due). */
  setTimeout(fn: () => unknown, ms = 0, owner?: TaskOwner): unknown {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    return this.#push(this.now() + delay, fn, owner);
  }

  clearTimeout(handle: unknown): void {
    const entry = handle as Entry | undefined;
    if (entry && typeof entry === 'object' && 'cancelled' in entry && !entry.cancelled && !entry.done) {
      entry.cancelled = true;
      this.#cancelledInHeap++;
      if (this.#cancelledInHeap > 1024 && this.#cancelledInHeap > this.#heap.length / 2) this.#compact();
    }
  }

  /** Schedules fn at an absolute virtual time (not before now). */
  scheduleAt(time: number, fn: () => unknown, owner?: TaskOwner): unknown {
    return this.#push(Math.max(time, this.#now), fn, owner);
  }

  /** Runs fn as a task at the current instant and resolves with its result. */
  run<T>(fn: () => T | Promise<T>, owner?: TaskOwner): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.setTimeout(
        () => {
          try {
            const r = fn();
            if (isThenable(r)) return (r as Promise<T>).then(resolve, reject);
            resolve(r as T);
          } catch (err) {
            reject(err);
          }
          return undefined;
        },
        0,
        owner,
      );
    });
  }

  /** A promise that resolves after ms of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Number of scheduled, not cancelled tasks. */
  get pending(): number {
    return this.#heap.length - this.#cancelledInHeap;
  }

  /** Time of the next live task, or undefined when nothing is scheduled. */
  nextTime(): number | undefined {
    return this.#peekLive()?.time;
  }

  /** Runs the next task (advancing time to it). False when nothing is scheduled. */
  async step(): Promise<boolean> {
    this.#enter();
    try {
      const entry = this.#popLive();
      if (!entry) return false;
      await this.#execute(entry);
      return true;
    } finally {
      this.#running = false;
    }
  }

  /** Runs every task due within the next ms of virtual time, then sets the time to now + ms. */
  async runFor(ms: number): Promise<void> {
    const target = this.#now + ms;
    this.#enter();
    try {
      for (;;) {
        const next = this.#peekLive();
        if (!next || next.time > target) break;
        await this.#execute(this.#popLive()!);
      }
      this.#now = Math.max(this.#now, target);
    } finally {
      this.#running = false;
    }
  }

  /**
   * Runs tasks until predicate() is true (checked before each task) or `timeout` ms of
   * virtual time pass. Resolves true when the predicate held.
   */
  async runUntil(predicate: () => boolean, options: { timeout: number }): Promise<boolean> {
    const deadline = this.#now + options.timeout;
    this.#enter();
    try {
      for (;;) {
        if (predicate()) return true;
        const next = this.#peekLive();
        if (!next || next.time > deadline) {
          this.#now = Math.max(this.#now, deadline);
          return predicate();
        }
        await this.#execute(this.#popLive()!);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Runs tasks until none is scheduled, or fails after maxTasks (a periodic timer never idles). */
  async runUntilIdle(options: { maxTasks?: number } = {}): Promise<void> {
    const max = options.maxTasks ?? 1_000_000;
    this.#enter();
    try {
      for (let n = 0; ; n++) {
        const entry = this.#popLive();
        if (!entry) return;
        if (n >= max) throw new SimulationError(`still busy after ${max} tasks at t=${this.#now}`);
        await this.#execute(entry);
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * Runs by itself in the background until stopAuto(). When a task fails, the loop stops and
   * the failure is kept in `failure` (and returned by stopAuto's promise as a rejection).
   */
  startAuto(options: { realTime?: boolean } = {}): void {
    if (this.#auto) return;
    this.#enter();
    this.#auto = true;
    if (options.realTime) {
      const origin = performance.now() - this.#now;
      this.#wall = () => performance.now() - origin;
    }
    this.#autoDone = this.#autoLoop().finally(() => {
      this.#running = false;
      this.#auto = false;
    });
    // The failure is reported through stopAuto()/whenStopped(), not as an unhandled rejection.
    this.#autoDone.catch(() => {});
  }

  /** Settles when the background loop ends: resolves after stopAuto(), rejects if a task failed. */
  whenStopped(): Promise<void> {
    return this.#autoDone ?? Promise.resolve();
  }

  /** Stops the background loop after the current task; rejects if a task had failed. */
  async stopAuto(): Promise<void> {
    this.#auto = false;
    this.#wake?.();
    try {
      await this.#autoDone;
    } finally {
      this.#autoDone = undefined;
      if (this.#wall) this.#now = this.#wall();
      this.#wall = undefined;
    }
  }

  get autoRunning(): boolean {
    return this.#auto;
  }

  /** The error of the task that stopped the automatic loop, if any. */
  get failure(): unknown {
    return this.#failure;
  }

  async #autoLoop(): Promise<void> {
    let lastYield = performance.now();
    while (this.#auto) {
      const next = this.#peekLive();
      if (!next) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      if (this.#wall) {
        // Real time: wait for the wall clock to reach the task, or for earlier work to appear.
        const wait = next.time - this.#wall();
        if (wait > 0) {
          await new Promise<void>((resolve) => {
            const t = globalThis.setTimeout(resolve, wait);
            this.#wake = () => {
              globalThis.clearTimeout(t);
              resolve();
            };
          });
          this.#wake = undefined;
          continue;
        }
      } else if (next.time > this.#now) {
        // Everything due now is done: let outside code act at this instant before time moves.
        await yieldToHost();
        if (this.#peekLive() !== next) continue;
      }
      const entry = this.#popLive()!;
      if (this.#wall) {
        // Real time promises no replay, so tasks may overlap (each node still serialises its
        // own work): one node's signature check no longer holds up every other node.
        if (entry.time > this.#now) this.#now = entry.time;
        this.#tasksRun++;
        try {
          const r = entry.fn();
          if (isThenable(r)) (r as Promise<unknown>).then(undefined, (err) => this.#fail(err));
        } catch (err) {
          this.#fail(err);
        }
        if (this.#failure !== undefined) throw this.#failure;
        // Under load something is always due: without yielding, promise continuations and I/O
        // completions (signatures, storage) would starve and the loop would spin forever.
        if (performance.now() - lastYield > 1) {
          await yieldToHost();
          lastYield = performance.now();
        } else {
          await null;
        }
        continue;
      }
      try {
        await this.#execute(entry);
      } catch (err) {
        this.#failure = err;
        this.#auto = false;
        throw err;
      }
    }
  }

  #fail(err: unknown): void {
    this.#failure ??= err;
    this.#auto = false;
    this.#wake?.();
  }

  #enter(): void {
    if (this.#running) {
      throw new SimulationError('the virtual clock is already running (a task may not drive the clock, nor two runs overlap)');
    }
    this.#running = true;
  }

  async #execute(entry: Entry): Promise<void> {
    if (entry.time > this.#now) this.#now = entry.time;
    this.#tasksRun++;
    const result = entry.fn();
    if (!isThenable(result)) return;
    const owner = entry.owner;
    // A task of a node that crashes meanwhile is abandoned, not awaited forever.
    await (owner ? untilSettledOrDead(result, owner) : result);
  }

  #push(time: number, fn: Task, owner: TaskOwner | undefined): Entry {
    if (typeof fn !== 'function') throw new TypeError('setTimeout needs a function');
    const entry: Entry = { time, seq: this.#seq++, fn, owner, cancelled: false, done: false };
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    if (this.#wake) {
      const wake = this.#wake;
      this.#wake = undefined;
      wake();
    }
    return entry;
  }

  #peekLive(): Entry | undefined {
    for (;;) {
      const top = this.#heap[0];
      if (!top) return undefined;
      if (!top.cancelled && (top.owner === undefined || top.owner.alive)) return top;
      this.#popTop();
    }
  }

  #popLive(): Entry | undefined {
    const top = this.#peekLive();
    if (top) this.#popTop();
    return top;
  }

  #popTop(): void {
    const heap = this.#heap;
    const top = heap[0]!;
    top.done = true;
    if (top.cancelled) this.#cancelledInHeap--;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const child = r < heap.length && before(heap[r]!, heap[l]!) ? r : l;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }

  /** Drops cancelled entries when they are most of the heap (timers reset again and again). */
  #compact(): void {
    const live = this.#heap.filter((e) => !e.cancelled);
    live.sort((a, b) => (before(a, b) ? -1 : 1));
    this.#heap.length = 0;
    this.#heap.push(...live); // a sorted array is a valid heap
    this.#cancelledInHeap = 0;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';
}

/** One turn of the host's event loop (a macrotask), without the 1 ms clamp of setTimeout. */
export function yieldToHost(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate!(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
