/**
 * A sequential model of an app for the linearizability checker (`checkLinearizable`).
 */
import { createActor, type AnyActorRef, type AnyStateMachine, type Snapshot } from 'xstate';
import type { Model, StepResult } from '../check/index.ts';
import { encode } from '../codec/index.ts';
import { sha256Sync, toHex } from '../crypto/index.ts';
import type { Clock } from '../clock.ts';
import { checkEvent, clonePlain, persistState, STATE_LIMITS, viewOf } from './persist.ts';
import type { AppEvent, AppMeta, AppSnapshotView } from './types.ts';

/**
 * An operation's input: the event a client sent (it may carry the `$meta` the replicas gave
 * it, when the history knows it; otherwise `{ index: 0, time: 0, random: 0, client: '' }` is used), or
 * `null` for a read.
 */
export type AppModelInput = AppEvent | null;

/**
 * An operation's output: the app snapshot `{ value, context, status }` right after it, or
 * any object carrying that snapshot in `snapshot`, such as a `client.send()` or
 * `client.read()` result, or an `ApplyResult`. Only value, context and status are compared:
 * index and digests depend on the position in the log, replicated time and the client table,
 * which a sequential model cannot know.
 */
export type AppModelOutput = AppSnapshotView | { snapshot: AppSnapshotView };

/** A model state: the app's persisted snapshot (plain data), its view and canonical key. */
export interface AppModelState {
  readonly persisted: Record<string, unknown>;
  readonly view: AppSnapshotView;
  /** Hex SHA-256 of the canonical encoding of the persisted snapshot. */
  readonly key: string;
}

/** A clock that never fires: the model has no notion of time. */
const inertClock: Clock = { now: () => 0, setTimeout: () => undefined, clearTimeout: () => {} };
const NO_META: AppMeta = { index: 0, time: 0, random: 0, client: '' };
const CACHE_LIMIT = 100_000;

/**
 * The app as a sequential specification: each event runs the machine from the state before
 * it (restored from its persisted snapshot) and yields the state after it. Limits: delayed
 * events (`after`) never fire, as the model has no replicated time; an app that reads
 * `$meta` matches only when the inputs carry the `$meta` the replicas used. Steps are cached
 * by (state, event), as the checker tries the same step many times.
 */
export function appModel(
  machine: AnyStateMachine,
  options: { input?: unknown } = {},
): Model<AppModelState, AppModelInput, AppModelOutput> {
  const cache = new Map<string, AppModelState>();

  const stateOf = (actor: AnyActorRef): AppModelState => {
    const { persisted, bytes } = persistState(actor);
    return { persisted, view: viewOf(persisted), key: toHex(sha256Sync(bytes)) };
  };

  const apply = (state: AppModelState, event: AppEvent): AppModelState => {
    if (state.view.status !== 'active') return state;
    const { $meta, ...clientEvent } = event;
    const problem = checkEvent(clientEvent);
    if (problem !== null) throw new TypeError(`appModel: ${problem}`);
    const cacheKey = `${state.key}:${toHex(sha256Sync(encode(event)))}`;
    const hit = cache.get(cacheKey);
    if (hit !== undefined) return hit;
    // a copy: a machine that mutates its context in place must not change a cached state
    const actor = createActor(machine, { clock: inertClock, snapshot: clonePlain(state.persisted) as unknown as Snapshot<unknown> });
    actor.subscribe({ error: () => {} });
    actor.start();
    actor.send({ ...clientEvent, $meta: $meta ?? NO_META });
    const next = stateOf(actor);
    actor.stop();
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(cacheKey, next);
    return next;
  };

  return {
    init() {
      const actor = createActor(machine, { clock: inertClock, input: options.input });
      actor.subscribe({ error: () => {} });
      actor.start();
      const state = stateOf(actor);
      actor.stop();
      return state;
    },
    step(state, input, output, pending): StepResult<AppModelState> {
      const next = input === null ? state : apply(state, input);
      if (pending || output === undefined) return { ok: true, state: next };
      const seen = viewFromOutput(output);
      // a reply without the state (the client asked for none, or it did not fit): applied here, result unseen
      if (seen?.status === 'omitted') return { ok: true, state: next };
      const expected = { value: next.view.value, context: next.view.context, status: next.view.status };
      if (seen !== undefined && sameView(seen, expected)) return { ok: true, state: next };
      return { ok: false, state: next, expected: JSON.stringify(expected) };
    },
    key: (state) => state.key,
    readOnly: (input) => input === null,
    describe(op) {
      const what = op.input === null ? 'read()' : `send(${JSON.stringify(op.input)})`;
      if (op.output === undefined) return `${what} -> (no response)`;
      const view = viewFromOutput(op.output);
      return `${what} -> ${view === undefined ? '(unrecognized output)' : JSON.stringify({ value: view.value, context: view.context, status: view.status })}`;
    },
    describeState: (state) => JSON.stringify({ value: state.view.value, context: state.view.context, status: state.view.status }),
  };
}

function viewFromOutput(output: AppModelOutput): AppSnapshotView | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  if ('snapshot' in output && typeof output.snapshot === 'object' && output.snapshot !== null) return output.snapshot;
  return 'status' in output ? (output as AppSnapshotView) : undefined;
}

function sameView(a: AppSnapshotView, b: { value: unknown; context: unknown; status: string }): boolean {
  try {
    const x = encode({ value: a.value, context: a.context, status: a.status }, STATE_LIMITS);
    const y = encode(b, STATE_LIMITS);
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  } catch {
    return false; // an output that is not plain data matches nothing
  }
}
