/**
 * Plain-text rendering of values, operations and histories for checker explanations. Output
 * is meant to be read in a failing test's log, so it favours short, stable text.
 */
import type { Model, Operation } from './types.ts';

/** Stable, compact text for any value (sorted object keys; never throws). */
export function show(value: unknown): string {
  try {
    return showInner(value, new Set());
  } catch {
    return String(value);
  }
}

function showInner(value: unknown, seen: Set<unknown>): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
    case 'symbol':
      return String(value);
    case 'function':
      return '[function]';
  }
  if (value === null) return 'null';
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((v) => showInner(v, seen)).join(',')}]`;
    if (value instanceof Map) {
      const parts = [...value].map(([k, v]) => `${showInner(k, seen)}=>${showInner(v, seen)}`);
      return `Map{${parts.sort().join(',')}}`;
    }
    if (value instanceof Set) {
      return `Set{${[...value].map((v) => showInner(v, seen)).sort().join(',')}}`;
    }
    if (value instanceof Uint8Array) {
      return `bytes(${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')})`;
    }
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${showInner(obj[k], seen)}`).join(',')}}`;
  } finally {
    seen.delete(value);
  }
}

export function isPending(op: Operation<unknown, unknown>): boolean {
  return op.return === undefined || op.return === Infinity;
}

function showTime(t: number | undefined): string {
  return t === undefined || t === Infinity ? '∞' : String(t);
}

/** One line for an operation: times, client, then the model's description (or input/output). */
export function describeOperation<I, O>(
  model: Pick<Model<unknown, I, O>, 'describe'> | undefined,
  op: Operation<I, O>,
): string {
  let what: string;
  if (model?.describe) {
    try {
      what = model.describe(op);
    } catch {
      what = defaultDescribe(op);
    }
  } else {
    what = defaultDescribe(op);
  }
  return `[${showTime(op.call)} .. ${showTime(op.return)}] client ${op.client}: ${what}`;
}

function defaultDescribe<I, O>(op: Operation<I, O>): string {
  const out = isPending(op) ? '(no response)' : show(op.output);
  return `${show(op.input)} -> ${out}`;
}

export interface FormatHistoryOptions<I, O> {
  describe?: (op: Operation<I, O>) => string;
  /** Width of the timeline bar in characters (default 40; 0 for no bars). */
  width?: number;
  /** Print at most this many operations (default all). */
  limit?: number;
}

/**
 * A compact timeline: one line per operation in call order, with a bar showing when it was
 * outstanding relative to the whole history ('>' marks an operation that never returned).
 */
export function formatHistory<I, O>(
  history: readonly Operation<I, O>[],
  options: FormatHistoryOptions<I, O> = {},
): string {
  const width = options.width ?? 40;
  const ops = [...history].sort((a, b) => a.call - b.call);
  const shown = options.limit === undefined ? ops : ops.slice(0, options.limit);
  let min = Infinity;
  let max = -Infinity;
  for (const op of ops) {
    min = Math.min(min, op.call);
    max = Math.max(max, op.call);
    if (!isPending(op)) max = Math.max(max, op.return!);
  }
  const span = max > min ? max - min : 1;
  const col = (t: number) => Math.min(width - 1, Math.floor(((t - min) / span) * (width - 1)));
  const model = options.describe ? { describe: options.describe } : undefined;
  const lines = shown.map((op) => {
    const text = describeOperation(model, op);
    if (width <= 0) return text;
    const from = col(op.call);
    const to = isPending(op) ? width - 1 : col(op.return!);
    const bar = ' '.repeat(from) + '#'.repeat(Math.max(1, to - from + 1));
    const padded = (isPending(op) ? bar.slice(0, -1) + '>' : bar).padEnd(width);
    return `|${padded}| ${text}`;
  });
  if (shown.length < ops.length) lines.push(`... ${ops.length - shown.length} more operations`);
  return lines.join('\n');
}
