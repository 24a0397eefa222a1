// Shared pieces of the `statechorus` commands: argument parsing with readable errors, output.
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export const stdio: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` (after the command word); unknown options and missing values are UsageErrors. */
export function parseCommand<O extends Options>(command: string, argv: readonly string[], options: O, positionals = 0): { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] } {
  try {
    const r = nodeParseArgs({ args: [...argv], options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: positionals > 0, strict: true });
    if (r.positionals.length > positionals) throw new UsageError(`unexpected argument ${JSON.stringify(r.positionals[positionals])}`);
    return { values: r.values as Record<string, string | string[] | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // node:util's messages name the option ("Unknown option '--prot'"); keep them, without the hint about '--'.
    throw new UsageError(`${command}: ${String((e as Error).message).replace(/\. To specify a positional argument.*$/s, '')}`);
  }
}

export function required(command: string, values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`${command}: --${name} is required`);
  return v;
}

/** A whole number of milliseconds from "1500", "1500ms", "10s" or "2m". */
export function duration(command: string, name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const m = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!m) throw new UsageError(`${command}: --${name} needs a duration such as 500ms, 10s or 2m, got ${JSON.stringify(text)}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1);
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
