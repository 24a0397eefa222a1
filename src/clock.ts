/**
 * Time as the runtime sees it. The replica runtime and application executor take a Clock
 * instead of using globals, so a whole cluster can run on the simulator's virtual clock and
 * replay exactly from a seed. The shape is also XState's `clock` actor option
 * (`setTimeout` / `clearTimeout`).
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The host's wall clock. A zero delay means "after the I/O already waiting" (the end of an
 * instant: batching, the outbox), not a 1 ms timer: replicas use it several times per
 * request, so timer granularity would add milliseconds to every commit.
 */
export function realClock(): Clock {
  const origin = Date.now() - performance.now();
  return {
    now: () => origin + performance.now(),
    setTimeout: (fn, ms) => (ms > 0 ? globalThis.setTimeout(fn, ms) : soon(fn)),
    clearTimeout: (handle) => {
      if (handle instanceof SoonTask) handle.cancelled = true;
      else globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
    },
  };
}

class SoonTask {
  cancelled = false;
  constructor(readonly fn: () => void) {}
}

/** A macrotask after pending I/O: setImmediate where there is one (Node), else a MessageChannel message. */
const schedule: (run: () => void) => void = (() => {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return (run) => void g.setImmediate!(run);
  if (typeof MessageChannel === 'function') {
    const queue: Array<() => void> = [];
    const channel = new MessageChannel();
    channel.port1.onmessage = () => queue.shift()?.();
    return (run) => {
      queue.push(run);
      channel.port2.postMessage(0);
    };
  }
  return (run) => void globalThis.setTimeout(run, 0);
})();

function soon(fn: () => void): SoonTask {
  const task = new SoonTask(fn);
  schedule(() => {
    if (!task.cancelled) task.fn();
  });
  return task;
}
