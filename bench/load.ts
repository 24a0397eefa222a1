// The closed-loop load driver every networked benchmark shares (etcd and statechorus alike),
// so both systems see exactly the same load.

export interface LoadOptions {
  /** Concurrent closed loops: each issues its next op when the previous one completes. */
  clients: number;
  /** Length of the measured window. */
  durationMs: number;
  /** Ops completing in the first `warmupMs` are not counted (default 1 s). */
  warmupMs?: number;
  /** One operation; `seq` counts this client's ops from 0. A rejection is counted as an error. */
  op: (clientIndex: number, seq: number) => Promise<void>;
}

export interface LoadResult {
  /** Successful ops completed inside the measured window. */
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Failed ops over the whole run (warm-up and drain included), and the first error's message. */
  errors: number;
  firstError?: string;
  /** Successful ops over the whole run, warm-up and drain included (e.g. to divide server counters by). */
  completed: number;
  /** Wall time of the whole run, warm-up and drain included. */
  elapsedMs: number;
}

/**
 * Closed-loop load: `clients` loops issue ops back to back until the measured window closes, then
 * wait for their last op. An op counts (ops, latency) when it succeeds and completes inside the
 * window [warmupMs, warmupMs + durationMs]; throughput is those ops over `durationMs`.
 */
export async function runLoad({ clients, durationMs, warmupMs = 1_000, op }: LoadOptions): Promise<LoadResult> {
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let completed = 0;
  let firstError: string | undefined;

  const loop = async (clientIndex: number) => {
    for (let seq = 0; performance.now() < windowEnd; seq++) {
      const t0 = performance.now();
      try {
        await op(clientIndex, seq);
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
        // Let timers and I/O run: a failing op may reject without ever leaving the microtask queue.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const t1 = performance.now();
      completed++;
      if (t1 >= windowStart && t1 <= windowEnd) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));

  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
  const result: LoadResult = {
    ops: sorted.length,
    opsPerSec: sorted.length / (durationMs / 1_000),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanMs: sorted.length ? sorted.reduce((s, x) => s + x, 0) / sorted.length : NaN,
    errors,
    completed,
    elapsedMs: performance.now() - start,
  };
  if (firstError !== undefined) result.firstError = firstError;
  return result;
}
