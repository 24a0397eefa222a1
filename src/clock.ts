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

/** The host's wall clock. */
export function realClock(): Clock {
  const origin = Date.now() - performance.now();
  return {
    now: () => origin + performance.now(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  };
}
