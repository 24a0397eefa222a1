/**
 * Linearizability checking of client histories against sequential models (Porcupine-style
 * search with memoisation), plus ready models and text formatting for failure reports.
 */
export { checkLinearizable } from './linearizability.ts';
export { describeOperation, formatHistory, isPending, show } from './format.ts';
export type { FormatHistoryOptions } from './format.ts';
export { counterModel, kvModel, registerModel } from './models.ts';
export type { CounterInput, KvInput, KvState, RegisterInput } from './models.ts';
export type {
  CandidateFailure,
  CheckOptions,
  CheckResult,
  Model,
  Operation,
  StepResult,
} from './types.ts';
