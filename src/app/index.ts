/**
 * The application executor: runs the user's XState v5 machine on every replica, fed
 * committed requests in log order, with replicated time, deterministic randomness,
 * exactly-once requests, state digests and snapshots that carry pending delayed events.
 */
export { createAppExecutor } from './executor.ts';
export { checkEvent, errorText, inspectEvent, oversizeText, MAX_EVENT_BYTES, OMITTED_VIEW, type EventOversize } from './persist.ts';
export { SESSION_EVENT, requestDigest, sessionProblem } from './clients.ts';
export { appModel } from './model.ts';
export type { AppModelInput, AppModelOutput, AppModelState } from './model.ts';
export type {
  AppActor,
  AppEvent,
  AppExecutor,
  AppExecutorOptions,
  AppMeta,
  AppRequest,
  AppSnapshotView,
  ApplyResult,
  RefusalCode,
} from './types.ts';
