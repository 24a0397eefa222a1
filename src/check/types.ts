/**
 * Types shared by the linearizability checker and its models. A history is what clients
 * observed: each operation with its invocation time and, if it returned, its response time
 * and output. A model is the sequential specification the history is checked against.
 */

/** One client operation as observed from outside the system. */
export interface Operation<I, O> {
  client: string | number;
  input: I;
  /** Invocation time (any monotone clock; virtual time in the simulator). */
  call: number;
  /**
   * Absent when the operation never returned (client gave up or crashed): it may or may not
   * have taken effect.
   */
  output?: O;
  /** Response time; absent (or Infinity) when the operation never returned. */
  return?: number;
}

export interface StepResult<S> {
  /** False when the sequential specification cannot produce the observed output here. */
  ok: boolean;
  /** The state after the step (ignored when `ok` is false). */
  state: S;
  /** When `ok` is false, what the model would have answered (shown in explanations). */
  expected?: string;
}

/** A sequential specification. States are treated as immutable values. */
export interface Model<S, I, O> {
  init(): S;
  /**
   * Applies `input` to `state`. `output` is undefined when the operation never returned
   * (`pending` is true): then the step must accept any output.
   */
  step(state: S, input: I, output: O | undefined, pending: boolean): StepResult<S>;
  /** Canonical identity of a state: equal keys mean interchangeable states. */
  key(state: S): string;
  /**
   * Optional: true when `input` never changes any state (a query such as a read). The search
   * then commits to such an operation as soon as it fits, which makes read-heavy histories
   * much cheaper. Must be exact: answer false (or omit) when unsure.
   */
  readOnly?(input: I): boolean;
  /**
   * Optional P-compositionality: split the history into independent sub-histories (e.g. one
   * per key) that are checked separately, taking turns, until one fails. Every operation must
   * appear in exactly one part.
   */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  /** Describes an operation's input and output; client and times are added by the checker. */
  describe?(op: Operation<I, O>): string;
  /** Human-readable state for explanations; defaults to `key(state)`. */
  describeState?(state: S): string;
}

export interface CheckOptions {
  /** Give up with `ok: 'unknown'` after this much wall-clock time. */
  timeoutMs?: number;
  /** Give up with `ok: 'unknown'` after this many calls to `model.step` (all partitions together). */
  maxSteps?: number;
  /** How many operations of the longest prefix to print in an explanation (default 30). */
  explainLimit?: number;
}

/** Why one candidate operation could not extend the longest prefix. */
export interface CandidateFailure<I, O> {
  op: Operation<I, O>;
  pending: boolean;
  reason: string;
}

export type CheckResult<I, O> =
  | {
      ok: true;
      /** One witness linearization, including the pending operations taken as effective. */
      order: Operation<I, O>[];
      /** The pending operations the witness treats as having taken effect. */
      effectivePending: Operation<I, O>[];
    }
  | {
      ok: false;
      explanation: string;
      /** The longest linearizable prefix the search found (in the failing partition). */
      longestPrefix: Operation<I, O>[];
      /** Completed operations that could go next after that prefix but could not be ordered. */
      unorderable: Operation<I, O>[];
      /** Every candidate after the longest prefix (pending ones included) with the reason. */
      candidates: CandidateFailure<I, O>[];
    }
  | { ok: 'unknown'; reason: 'timeout' | 'budget'; explanation: string };
