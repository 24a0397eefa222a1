/**
 * What XState leaves to the process and the executor must make the same on every replica.
 *
 * Actor ids. An actor created without an id (`spawn('child')`, `spawnChild('child')`, the
 * root actor itself) is named by its system's `_bookId()`: `x:N` from a counter that is a
 * module-level variable of XState, shared by every actor of the process. Replicas in one
 * process (the local cluster), a replica that restarted or restored a snapshot, all count
 * differently, so `context.ref.id` and the children's keys, hence the state and its digest,
 * differ. The executor names the root actor by the machine's id and gives each app its own
 * counter, which is part of the replicated state (digest and snapshot).
 */
import type { AnyActorRef } from 'xstate';

/** The counter behind ids of actors spawned without one; replicated with the app. */
export interface ActorIds {
  next: number;
}

interface BookingSystem {
  _bookId: () => string;
}

/**
 * Makes the ids the system of `root` gives to actors spawned without an id come from `ids`
 * (`x:0`, `x:1`, …), as XState names them. Install after `createActor` and before `start`.
 * A local actor given the same hook (and id, see `rootActorId`) names its children as the
 * replicas do.
 */
export function deterministicIds(root: AnyActorRef, ids: ActorIds): void {
  const system = root.system as unknown as BookingSystem;
  if (typeof system?._bookId !== 'function') {
    throw new Error("deterministicIds: XState's actor system has no _bookId (an XState version this executor does not know?)");
  }
  system._bookId = () => `x:${ids.next++}`;
}

/** The id of the app's root actor (what a child's `input: ({ self }) => …` keeps): the machine's id. */
export function rootActorId(machine: { id: string }): string {
  return machine.id;
}

const ACTOR_REF_TYPE = 1; // XState's $$ACTOR_TYPE in persisted context

/**
 * XState revives an actor ref in a restored context only when it names one of that actor's
 * own children; a child that keeps its parent (`input: ({ self }) => ({ parent: self })`)
 * comes back with `undefined`. This puts back refs to an ancestor (nearest first, by id),
 * walking the persisted snapshot beside the restored actors. Install before `start`.
 */
export function reviveAncestorRefs(root: AnyActorRef, persisted: Record<string, unknown>): void {
  const walk = (ref: AnyActorRef, node: Record<string, unknown>, ancestors: AnyActorRef[]): void => {
    const live = (ref.getSnapshot() as { context?: unknown }).context;
    reviveIn(node.context, live, ancestors);
    const children = node.children as Record<string, { snapshot?: Record<string, unknown> }> | undefined;
    const liveChildren = (ref.getSnapshot() as { children?: Record<string, AnyActorRef> }).children ?? {};
    if (children === undefined || children === null) return;
    for (const id of Object.keys(children)) {
      const child = liveChildren[id];
      const snap = children[id]?.snapshot;
      if (child !== undefined && snap !== null && typeof snap === 'object') walk(child, snap, [ref, ...ancestors]);
    }
  };
  walk(root, persisted, []);
}

function reviveIn(saved: unknown, live: unknown, ancestors: AnyActorRef[]): void {
  if (saved === null || typeof saved !== 'object' || live === null || typeof live !== 'object') return;
  for (const key of Object.keys(saved)) {
    const s = (saved as Record<string, unknown>)[key];
    if (s === null || typeof s !== 'object') continue;
    const l = (live as Record<string, unknown>)[key];
    const marker = s as { xstate$$type?: unknown; id?: unknown };
    if (marker.xstate$$type === ACTOR_REF_TYPE && typeof marker.id === 'string') {
      if (l === undefined) {
        const found = ancestors.find((a) => a.id === marker.id);
        if (found !== undefined) (live as Record<string, unknown>)[key] = found;
      }
      continue;
    }
    reviveIn(s, l, ancestors);
  }
}

interface LogicLike {
  __xstatenode?: boolean;
  start?: unknown;
  transition?: unknown;
  implementations?: { actors?: Record<string, unknown> };
  root?: NodeLike;
  id?: string;
}
interface NodeLike {
  id: string;
  config: { invoke?: unknown };
  states?: Record<string, NodeLike>;
}

/**
 * Throws when `machine` can run logic that is not replicated: promise, callback, observable
 * and event-observable actors (anything with its own `start`, which is where such logic
 * begins its I/O or timers) run on each replica's own clock and would change the state
 * between log entries. Machines (scanned in turn) and `fromTransition` logic are fine.
 * Looks at `setup({ actors })` / `provide` implementations and inline `invoke.src`; logic
 * spawned inline from an action is refused when it is spawned (see persist.ts).
 */
export function refuseUnreplicatedLogic(machine: LogicLike, where: string): void {
  const seen = new Set<unknown>();
  const check = (logic: unknown, name: string, owner: string): void => {
    if (logic === null || typeof logic !== 'object' || seen.has(logic)) return;
    seen.add(logic);
    const l = logic as LogicLike;
    if (l.__xstatenode === true) {
      for (const [key, child] of Object.entries(l.implementations?.actors ?? {})) check(child, `"${key}"`, `machine "${l.id}"`);
      if (l.root !== undefined) walkNodes(l.root, (node, i, src) => check(src, `invoked at "#${node.id}" (invoke[${i}])`, `machine "${l.id}"`));
      return;
    }
    if (typeof l.start === 'function') {
      throw new TypeError(
        `${where}: actor ${name} of ${owner} is promise, callback or observable logic: it would run on each replica's own ` +
          'clock and change the state between log entries, so replicas would diverge. Replicate machines (and fromTransition ' +
          'logic) only: do I/O and timers outside the group (in a client) and send their outcome as an event; use `after` for delays.',
      );
    }
  };
  check(machine, `"${machine.id}"`, 'the group');
}

function walkNodes(node: NodeLike, visit: (node: NodeLike, i: number, src: unknown) => void): void {
  const invoke = node.config.invoke;
  const list = invoke === undefined ? [] : Array.isArray(invoke) ? invoke : [invoke];
  list.forEach((def: { src?: unknown }, i) => {
    if (typeof def?.src === 'object') visit(node, i, def.src);
  });
  for (const child of Object.values(node.states ?? {})) walkNodes(child, visit);
}
