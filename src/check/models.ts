/**
 * Ready-made sequential models for the linearizability checker. Values are compared by their
 * canonical text (`show`), so plain data (numbers, strings, arrays, objects) compares by
 * content. States are immutable: every step returns a new state or the old one.
 */
import { isPending, show } from './format.ts';
import type { Model, Operation, StepResult } from './types.ts';

// ---------------------------------------------------------------------------- register

export type RegisterInput<V> = { op: 'write'; value: V } | { op: 'read' };

/**
 * One read/write register. A read's output is the value read (`undefined` before any write,
 * unless `initial` is given); a write's output is an acknowledgement and is not checked.
 */
export function registerModel<V = unknown>(
  options: { initial?: V } = {},
): Model<V | undefined, RegisterInput<V>, unknown> {
  return {
    init: () => options.initial,
    step(state, input, output, pending): StepResult<V | undefined> {
      if (input.op === 'write') return { ok: true, state: input.value };
      if (input.op === 'read') {
        if (pending || show(output) === show(state)) return { ok: true, state };
        return { ok: false, state, expected: show(state) };
      }
      return unknownOp(state, input);
    },
    key: (state) => show(state),
    readOnly: (input) => input.op === 'read',
    describe(op) {
      const input = op.input;
      if (input.op === 'write') return `write(${show(input.value)})${ack(op)}`;
      return `read() -> ${isPending(op) ? '(no response)' : show(op.output)}`;
    },
  };
}

// ---------------------------------------------------------------------------- key-value

export type KvInput<V> =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: V }
  /**
   * Appends `value` to the key's value: strings concatenate, arrays concatenate (an absent
   * key counts as `''` or `[]`). Appending to a value of another type throws.
   */
  | { op: 'append'; key: string; value: V }
  /** Compare-and-set: sets `to` if the current value equals `from` (`undefined`: absent). */
  | { op: 'cas'; key: string; from: V | undefined; to: V }
  | { op: 'delete'; key: string };

export type KvState<V> = ReadonlyMap<string, V>;

/**
 * A map of independent registers with get / put / append / cas / delete (Porcupine's kv model
 * has get / put / append). Outputs: get → the value (`undefined` when absent); cas → `true`
 * if it swapped; put, append and delete → an unchecked ack. `partition` splits the history
 * per key, so each key is checked on its own.
 */
export function kvModel<V = unknown>(): Model<KvState<V>, KvInput<V>, unknown> {
  const set = (state: KvState<V>, key: string, value: V | undefined): KvState<V> => {
    const next = new Map(state);
    if (value === undefined) next.delete(key);
    else next.set(key, value);
    return next;
  };
  return {
    init: () => new Map<string, V>(),
    step(state, input, output, pending): StepResult<KvState<V>> {
      const current = state.get(input.key);
      switch (input.op) {
        case 'get':
          if (pending || show(output) === show(current)) return { ok: true, state };
          return { ok: false, state, expected: show(current) };
        case 'put':
          return { ok: true, state: set(state, input.key, input.value) };
        case 'append':
          return { ok: true, state: set(state, input.key, appended(current, input.value)) };
        case 'delete':
          return { ok: true, state: state.has(input.key) ? set(state, input.key, undefined) : state };
        case 'cas': {
          const swapped = show(current) === show(input.from);
          if (!pending && output !== swapped) {
            return { ok: false, state, expected: `${swapped} (current value ${show(current)})` };
          }
          return { ok: true, state: swapped ? set(state, input.key, input.to) : state };
        }
      }
      return unknownOp(state, input);
    },
    key: kvKey,
    readOnly: (input) => input.op === 'get',
    partition(history) {
      const parts = new Map<string, Operation<KvInput<V>, unknown>[]>();
      for (const op of history) {
        let part = parts.get(op.input.key);
        if (part === undefined) parts.set(op.input.key, (part = []));
        part.push(op);
      }
      return [...parts.values()];
    },
    describe(op) {
      const input = op.input;
      const k = JSON.stringify(input.key);
      const out = isPending(op) ? '(no response)' : show(op.output);
      switch (input.op) {
        case 'get':
          return `get(${k}) -> ${out}`;
        case 'put':
          return `put(${k}, ${show(input.value)})${ack(op)}`;
        case 'append':
          return `append(${k}, ${show(input.value)})${ack(op)}`;
        case 'delete':
          return `delete(${k})${ack(op)}`;
        case 'cas':
          return `cas(${k}, ${show(input.from)} -> ${show(input.to)}) -> ${out}`;
      }
      return show(input);
    },
    describeState(state) {
      return `{${kvKey(state)}}`;
    },
  };
}

/** `current` with `value` appended: string to string, array to array; absent is empty. */
function appended<V>(current: V | undefined, value: V): V {
  if (typeof value === 'string' && (current === undefined || typeof current === 'string')) {
    return ((current ?? '') + value) as V;
  }
  if (Array.isArray(value) && (current === undefined || Array.isArray(current))) {
    return [...((current as unknown[] | undefined) ?? []), ...value] as V;
  }
  throw new TypeError(
    `kvModel: append needs a string or array value matching the current value, got ${show(value)} onto ${show(current)}`,
  );
}

function kvKey<V>(state: KvState<V>): string {
  const keys = [...state.keys()].sort();
  return keys.map((k) => `${JSON.stringify(k)}=${show(state.get(k))}`).join(',');
}

// ---------------------------------------------------------------------------- counter

export type CounterInput = { op: 'add'; delta: number } | { op: 'read' };

/**
 * A counter. A read's output is the value; an add's output is either the new value (checked
 * when it is a number) or an unchecked ack.
 */
export function counterModel(options: { initial?: number } = {}): Model<number, CounterInput, unknown> {
  return {
    init: () => options.initial ?? 0,
    step(state, input, output, pending): StepResult<number> {
      if (input.op === 'add') {
        const next = state + input.delta;
        if (!pending && typeof output === 'number' && output !== next) {
          return { ok: false, state, expected: String(next) };
        }
        return { ok: true, state: next };
      }
      if (input.op === 'read') {
        if (pending || output === state) return { ok: true, state };
        return { ok: false, state, expected: String(state) };
      }
      return unknownOp(state, input);
    },
    key: (state) => String(state),
    readOnly: (input) => input.op === 'read',
    describe(op) {
      const input = op.input;
      const out = isPending(op) ? '(no response)' : show(op.output);
      return input.op === 'add' ? `add(${input.delta}) -> ${out}` : `read() -> ${out}`;
    },
  };
}

// ---------------------------------------------------------------------------- helpers

function ack(op: Operation<unknown, unknown>): string {
  if (isPending(op)) return ' -> (no response)';
  return op.output === undefined ? '' : ` -> ${show(op.output)}`;
}

function unknownOp<S>(state: S, input: unknown): StepResult<S> {
  return { ok: false, state, expected: `a known operation, not ${show(input)}` };
}
