/**
 * Turning the app actor's state into plain data that hashes the same on every replica, and
 * checking what clients send. Shared by the executor and the linearizability model.
 */
import type { AnyActorRef } from 'xstate';
import { checkPlain, CodecError, encode, type CodecLimits } from '../codec/index.ts';
import type { AppSnapshotView } from './types.ts';

/** Limits for the app state and the executor's state. Generous: the app's size is the user's call. */
export const STATE_LIMITS: CodecLimits = { maxSize: 64 * 1024 * 1024, maxDepth: 256, rootName: 'app' };
/** The whole executor snapshot nests the app a few levels deeper and carries cached results too. */
export const SNAPSHOT_LIMITS: CodecLimits = { maxSize: 512 * 1024 * 1024, maxDepth: 270, rootName: 'snapshot' };
const EVENT_LIMITS: CodecLimits = { rootName: 'event' };

/**
 * The size budget of one client event: its canonical encoding may take at most this many bytes
 * (1 MiB, the limit checkEvent always had). It is the one budget every other size derives from:
 * a request, an append, a batch and an envelope are all sized so that an accepted event always
 * fits (see README, "Sizes"). Groups and clients may lower it (`maxEventBytes`), never raise it:
 * the executor refuses larger events deterministically at apply time.
 */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** Only to measure an oversized event for the error message. */
const MEASURE_LIMITS: CodecLimits = { maxSize: 512 * 1024 * 1024, rootName: 'event' };

/** An event over the size budget: its encoded size and the limit. */
export interface EventOversize {
  size: number;
  limit: number;
}

/** The text that names an oversized event's size and the limit (replicas send it to clients). */
export function oversizeText(o: EventOversize): string {
  return `the event takes ${o.size > (MEASURE_LIMITS.maxSize as number) ? 'more than ' + String(MEASURE_LIMITS.maxSize) : String(o.size)} bytes encoded, over the limit of ${o.limit} bytes (maxEventBytes)`;
}

/**
 * checkEvent with the size spelt out: `oversize` when the event is plain data but over
 * `maxBytes` (capped at MAX_EVENT_BYTES), else `problem` as checkEvent says.
 */
export function inspectEvent(event: unknown, maxBytes = MAX_EVENT_BYTES): { problem: string | null; oversize?: EventOversize } {
  const limit = Math.min(maxBytes, MAX_EVENT_BYTES);
  const problem = checkEvent(event, limit);
  if (problem === null || typeof event !== 'object' || event === null) return { problem };
  const error = checkPlain(event, { ...EVENT_LIMITS, maxSize: limit });
  if (error === null || error.code !== 'too-large') return { problem };
  let size: number;
  try {
    size = encode(event, MEASURE_LIMITS).length;
  } catch {
    size = Infinity;
  }
  const oversize = { size, limit };
  return { problem: oversizeText(oversize), oversize };
}

/**
 * A state or event the replicas could not agree on byte for byte. Its own name keeps its
 * message in the replicated state (see `errorText`).
 */
export class AppDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppDataError';
  }
}

/**
 * Null when `event` can be ordered and replicated: an object of plain serializable data
 * (see the codec) with a string `type`, no `$meta` (the executor sets it) and no type
 * starting with `xstate.` (XState's internal events: a client could otherwise fire a
 * delayed transition early or fake a child's completion). Else a message saying why not.
 */
export function checkEvent(event: unknown, maxBytes = MAX_EVENT_BYTES): string | null {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return `an event must be an object with a string "type", got ${event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event}`;
  }
  const error = checkPlain(event, { ...EVENT_LIMITS, maxSize: Math.min(maxBytes, MAX_EVENT_BYTES) });
  if (error !== null) return `the event is not plain serializable data: ${error.message}`;
  const type = (event as { type?: unknown }).type;
  if (typeof type !== 'string') return `event.type must be a string, got ${type === null ? 'null' : typeof type}`;
  if (type.startsWith('xstate.')) return `event.type "${type}" is reserved: types starting with "xstate." are XState's internal events`;
  if (Object.prototype.hasOwnProperty.call(event, '$meta')) {
    return 'event.$meta is reserved: the executor sets it ({ index, time, random, client }) from the ordered entry';
  }
  return null;
}

// Engines word their own errors differently (V8 and SpiderMonkey disagree on almost every
// TypeError), so only the class name of these can be part of the replicated state.
const ENGINE_ERRORS = new Set<unknown>([
  TypeError.prototype,
  RangeError.prototype,
  ReferenceError.prototype,
  SyntaxError.prototype,
  EvalError.prototype,
  URIError.prototype,
]);

/**
 * The text that stands for a thrown value in the replicated state: `Name: message` for
 * errors the app throws itself (`Error` and its subclasses), only the class name for the
 * built-in TypeError, RangeError, ReferenceError, SyntaxError, EvalError and URIError (their
 * messages depend on the JS engine), the string itself for a string. Idempotent on its
 * output, so a restored app keeps the same text.
 */
export function errorText(err: unknown): string {
  if (typeof err === 'string') return err;
  try {
    if (err instanceof Error) {
      const proto: unknown = Object.getPrototypeOf(err);
      if (ENGINE_ERRORS.has(proto)) return `${String(err.name)} (message withheld: JS engines word it differently)`;
      if (err.name === 'InternalError') return 'RangeError (message withheld: JS engines word it differently)'; // SpiderMonkey's too-much-recursion
      return `${String(err.name)}: ${String(err.message)}`;
    }
    if (err === null || typeof err !== 'object') return `thrown ${typeof err}: ${String(err)}`;
  } catch {
    // a getter or proxy threw: fall through to the generic text
  }
  return 'thrown non-Error object';
}

type PersistedNode = Record<string, unknown> & { children?: Record<string, { snapshot?: unknown; src?: unknown }> };

/**
 * The actor's persisted snapshot as plain data: XState's `getPersistedSnapshot()` with every
 * `error` replaced by `errorText`. Throws AppDataError for a child created from inline logic
 * (XState cannot restore it; the development build throws on it, the production one would
 * put the logic object in the snapshot).
 */
export function persistActor(actor: AnyActorRef): Record<string, unknown> {
  checkChildren(actor, '');
  return fixErrors(actor.getPersistedSnapshot() as PersistedNode);
}

function checkChildren(ref: AnyActorRef, path: string): void {
  const children = (ref.getSnapshot() as { children?: Record<string, AnyActorRef> }).children;
  if (children === undefined || children === null) return;
  for (const id in children) {
    const child = children[id]!;
    const at = path === '' ? id : `${path}/${id}`;
    if (typeof child.src !== 'string') {
      throw new AppDataError(
        `child actor "${at}" was created from inline logic, which cannot be persisted: ` +
          'register it in setup({ actors }) and invoke or spawn it by name',
      );
    }
    checkChildren(child, at);
  }
}

// Copy on write: for some logic (promise, callback actors) the persisted snapshot is the
// live one, which must not be touched.
function fixErrors(node: PersistedNode): PersistedNode {
  let out = node;
  if (node.error !== undefined) {
    const text = errorText(node.error);
    if (text !== node.error) out = { ...node, error: text };
  }
  const children = node.children;
  if (children === undefined || children === null || typeof children !== 'object') return out;
  let fixedChildren: Record<string, { snapshot?: unknown; src?: unknown }> | undefined;
  for (const id in children) {
    const entry = children[id];
    const snapshot = entry?.snapshot;
    if (snapshot === null || typeof snapshot !== 'object') continue;
    const fixed = fixErrors(snapshot as PersistedNode);
    if (fixed === snapshot) continue;
    fixedChildren ??= { ...children };
    fixedChildren[id] = { ...entry, snapshot: fixed };
  }
  if (fixedChildren !== undefined) out = { ...out, children: fixedChildren };
  return out;
}

/**
 * The actor's persisted snapshot as `persistActor` gives it, except that the root's context is
 * the live one: XState's getPersistedSnapshot walks the whole context to find actor refs, which
 * a request must not pay for; StateTree persists them while it hashes (see state-tree.ts).
 */
export function persistShell(actor: AnyActorRef): Record<string, unknown> {
  checkChildren(actor, '');
  const snapshot = actor.getSnapshot() as Record<string, unknown>;
  const logic = (actor as unknown as { logic: { getPersistedSnapshot(s: unknown): PersistedNode } }).logic;
  const shell = fixErrors(logic.getPersistedSnapshot({ ...snapshot, context: undefined }));
  return { ...shell, context: snapshot.context };
}

/**
 * The snapshot a result carries when it goes without the state: for a request that asked for
 * none (`snapshot: false`), or a reply whose state does not fit one message. The index and
 * digest still say which state it is.
 */
export const OMITTED_VIEW: AppSnapshotView = Object.freeze({ value: null, context: null, status: 'omitted' });

/**
 * What clients see of a persisted snapshot that StateTree has hashed (so frozen): value,
 * context, status (and error, or output when done), shared with the state, not copied.
 */
export function frozenView(persisted: Record<string, unknown>): AppSnapshotView {
  const view: AppSnapshotView = { value: persisted.value, context: persisted.context, status: String(persisted.status) };
  if (persisted.status === 'error' && typeof persisted.error === 'string') view.error = persisted.error;
  if (persisted.status === 'done' && persisted.output !== undefined) view.output = persisted.output;
  return Object.freeze(view);
}

/**
 * The persisted form of an app whose state could not be replicated (`message` says why):
 * an errored machine in its last state value, its context kept when it is plain data.
 * XState restores it like any errored snapshot, so a replica that restores it and one
 * that reached it live hold the same thing.
 */
export function faultSnapshot(actor: AnyActorRef, message: string): Record<string, unknown> {
  const snap = actor.getSnapshot() as { value?: unknown; context?: unknown };
  const context = snap.context !== undefined && checkPlain(snap.context, STATE_LIMITS) === null ? snap.context : null;
  const value = snap.value !== undefined && checkPlain(snap.value, STATE_LIMITS) === null ? snap.value : null;
  return { status: 'error', value, historyValue: {}, context, children: {}, error: message };
}

/**
 * The actor's persisted snapshot and its canonical bytes; when that state cannot be
 * replicated, the `faultSnapshot` standing for it instead (`faulted`).
 */
export function persistState(actor: AnyActorRef): { persisted: Record<string, unknown>; bytes: Uint8Array; faulted: boolean } {
  try {
    const persisted = persistActor(actor);
    return { persisted, bytes: encode(persisted, STATE_LIMITS), faulted: false };
  } catch (err) {
    if (!(err instanceof CodecError || err instanceof AppDataError)) throw err;
    const persisted = faultSnapshot(actor, faultText(err));
    return { persisted, bytes: encode(persisted, STATE_LIMITS), faulted: true };
  }
}

/** Why the app's state could not be encoded, as replicated text. */
export function faultText(err: unknown): string {
  if (err instanceof CodecError || err instanceof AppDataError) return `application state cannot be replicated: ${err.message}`;
  return `application state cannot be replicated: ${errorText(err)}`;
}

/** What clients see of a persisted snapshot: value, context, status (and error, or output when done), copied. */
export function viewOf(persisted: Record<string, unknown>): AppSnapshotView {
  const view: AppSnapshotView = {
    value: clonePlain(persisted.value),
    context: clonePlain(persisted.context),
    status: String(persisted.status),
  };
  if (persisted.status === 'error' && typeof persisted.error === 'string') view.error = persisted.error;
  if (persisted.status === 'done' && persisted.output !== undefined) view.output = clonePlain(persisted.output);
  return view;
}

/** Deep copy of data already known to be plain (it was just encoded). */
export function clonePlain<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = clonePlain(value[i]);
    return out as T;
  }
  if (value instanceof Uint8Array) return value.slice() as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (key === '__proto__') Object.defineProperty(out, key, { value: clonePlain(v), enumerable: true, writable: true, configurable: true });
    else out[key] = clonePlain(v);
  }
  return out as T;
}
