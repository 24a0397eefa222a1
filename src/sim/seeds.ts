/**
 * Helpers for seeded randomized tests: every failure names the seed that replays it.
 */
export class SeededFailure extends Error {
  override name = 'SeededFailure';
  constructor(readonly seed: number, override readonly cause: unknown, detail?: string) {
    super(
      `failed with seed ${seed} (replay: SEED=${seed} npm run test:unit -- <this test file>)\n` +
        `${cause instanceof Error ? cause.stack ?? cause.message : String(cause)}` +
        (detail ? `\n--- detail ---\n${detail}` : ''),
    );
  }
}

/**
 * Runs fn for one seed; a failure is rethrown as SeededFailure carrying the seed and,
 * optionally, whatever `detail` returns (a trace tail, a history).
 */
export async function withSeed<T>(seed: number, fn: (seed: number) => Promise<T> | T, detail?: () => string): Promise<T> {
  try {
    return await fn(seed);
  } catch (err) {
    if (err instanceof SeededFailure) throw err;
    let extra: string | undefined;
    try {
      extra = detail?.();
    } catch {
      extra = undefined;
    }
    throw new SeededFailure(seed, err, extra);
  }
}

/**
 * The seeds a randomized test runs: `count` seeds from `base`, or exactly the ones named in
 * the SEED (one) or SEEDS (comma-separated) environment variables when they are set.
 */
export function seedsToRun(count: number, base = 1): number[] {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const deno = (globalThis as { Deno?: { env: { get(k: string): string | undefined } } }).Deno;
  const read = (k: string) => {
    try {
      return env?.[k] ?? deno?.env.get(k);
    } catch {
      return undefined; // Deno without --allow-env
    }
  };
  const one = read('SEED');
  const many = read('SEEDS');
  const named = one ?? many;
  if (named) {
    const seeds = named.split(',').map((s) => Number.parseInt(s.trim(), 10));
    if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`bad SEED/SEEDS value: ${named}`);
    return seeds;
  }
  return Array.from({ length: count }, (_, i) => base + i);
}
