// Command-line options of the benchmarks: `--name value` and `--flag`.
const args = process.argv.slice(2);

/** The value after `--name`, or undefined. */
export function textOption(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The number after `--name`, or `fallback`. */
export function numberOption(name: string, fallback: number): number {
  return Number(textOption(name) ?? fallback);
}

/** Whether `--name` was given. */
export function hasFlag(name: string): boolean {
  return args.includes(`--${name}`);
}
