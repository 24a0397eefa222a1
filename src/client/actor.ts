/**
 * The client's view of the replicated machine as an XState-style actor ref: `getSnapshot()`,
 * `subscribe()` and `send()`, enough for `useSelector` from @xstate/react and other XState
 * tooling. Snapshots carry the agreed state (value, context, status, output, error) and,
 * when the client knows the machine, XState's `matches()`, `hasTag()` and `can()` evaluated
 * against the machine on that state. Before the first reply the snapshot is the machine's
 * initial state with `agreed: false`.
 */
import { createActor, type AnyStateMachine, type ContextFrom, type EventFromLogic, type Observer, type StateValueFrom, type Subscription } from 'xstate';
import { deterministicIds } from '../app/determinism.ts';

export interface ReplicatedSnapshot<TMachine extends AnyStateMachine = AnyStateMachine> {
  value: StateValueFrom<TMachine>;
  context: ContextFrom<TMachine>;
  status: string;
  output?: unknown;
  error?: string;
  /** True once the state came from the group (a voted reply); false for the initial state. */
  agreed: boolean;
  /** Log index of the state (0 before the first reply). */
  index: number;
  /** XState's `matches`, evaluated on this state (false without the machine). */
  matches(value: StateValueFrom<TMachine>): boolean;
  hasTag(tag: string): boolean;
  /** Whether the machine, in this state, would take a transition on `event` (guards evaluated). */
  can(event: EventFromLogic<TMachine>): boolean;
}

export interface AgreedView {
  value: unknown;
  context: unknown;
  status: string;
  output?: unknown;
  error?: string;
}

type Next<T> = ((value: T) => void) | Observer<T>;

export class ClientActor<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly id: string;
  #snapshot: ReplicatedSnapshot<TMachine>;
  readonly #observers = new Set<Observer<ReplicatedSnapshot<TMachine>>>();

  constructor(
    private readonly machine: TMachine | undefined,
    private readonly client: { submit(event: unknown): Promise<unknown>; refusal(event: unknown): Error | undefined },
    input?: unknown,
  ) {
    this.id = machine?.id ?? 'client';
    this.#snapshot = this.#make(initialView(machine, input), false, 0);
  }

  getSnapshot(): ReplicatedSnapshot<TMachine> {
    return this.#snapshot;
  }

  subscribe(next: Next<ReplicatedSnapshot<TMachine>>, error?: (err: unknown) => void, complete?: () => void): Subscription {
    const observer: Observer<ReplicatedSnapshot<TMachine>> = typeof next === 'function' ? { next, error, complete } : next;
    this.#observers.add(observer);
    return { unsubscribe: () => void this.#observers.delete(observer) };
  }

  /**
   * Sends through the client. An event the client refuses (not plain data, reserved type,
   * too large: TypeError or EventTooLargeError) throws here; a send that fails later (timeout,
   * disagreement, rejection) is reported to subscribers' `error` (the actor goes on: the next
   * agreed state is delivered as usual).
   */
  send(event: EventFromLogic<TMachine>): void {
    const refused = this.client.refusal(event);
    if (refused) throw refused;
    this.client.submit(event).catch((err: unknown) => {
      for (const o of [...this.#observers]) o.error?.(err);
    });
  }

  /** A voted state arrived (the client calls this). */
  update(view: AgreedView, index: number): void {
    this.#snapshot = this.#make(view, true, index);
    for (const o of [...this.#observers]) o.next?.(this.#snapshot);
  }

  #make(view: AgreedView, agreed: boolean, index: number): ReplicatedSnapshot<TMachine> {
    const machine = this.machine;
    let resolved: { matches(v: unknown): boolean; hasTag(t: string): boolean; can(e: unknown): boolean } | undefined;
    const resolve = () => (resolved ??= machine!.resolveState({ value: view.value as never, context: view.context as never }) as never);
    const snap: ReplicatedSnapshot<TMachine> = {
      value: view.value as StateValueFrom<TMachine>,
      context: view.context as ContextFrom<TMachine>,
      status: view.status,
      agreed,
      index,
      matches: (v) => (machine ? resolve().matches(v) : false),
      hasTag: (t) => (machine ? resolve().hasTag(t) : false),
      can: (e) => (machine ? resolve().can(e) : false),
    };
    if (view.output !== undefined) snap.output = view.output;
    if (view.error !== undefined) snap.error = view.error;
    return snap;
  }
}

/** The machine's initial state as the replicas will persist it (not started: no actions run beyond XState's initial microstep). */
function initialView(machine: AnyStateMachine | undefined, input: unknown): AgreedView {
  if (machine === undefined) return { value: undefined, context: undefined, status: 'active' };
  const actor = createActor(machine, { id: machine.id, input });
  deterministicIds(actor, { next: 0 });
  const p = actor.getPersistedSnapshot() as unknown as { value: unknown; context: unknown; status: string };
  return { value: p.value, context: p.context, status: p.status };
}
