/**
 * The replicated clock given to the app actor as XState's `clock` option. Time only moves
 * when the executor applies an entry, so delayed events (`after`, delayed `raise` and
 * `sendTo`) fire at the same log position on every replica.
 */
import type { AnyActorRef, EventObject } from 'xstate';
import type { Clock } from '../clock.ts';
import { checkPlain } from '../codec/index.ts';
import { AppDataError } from './persist.ts';

/** A pending delayed event. `(due, seq)` orders them; `seq` counts timers ever set. */
export interface PendingTimer {
  due: number;
  seq: number;
  fn: () => void;
  /** What XState scheduled, recorded by the scheduler hook: needed to carry it across a snapshot. */
  scheduled: ScheduledCall | undefined;
}

export interface ScheduledCall {
  source: AnyActorRef;
  target: AnyActorRef;
  event: EventObject;
  delay: number;
  id: string;
}

export class ReplicatedClock implements Clock {
  /** Replicated time: the entry's time, or a timer's due time while it fires. */
  current = 0;
  /** Seq of the next timer; part of the replicated state. */
  seq = 0;
  /** Pending timers in firing order. */
  readonly timers: PendingTimer[] = [];
  /** Set by the scheduler hook around XState's call to setTimeout. */
  scheduling: ScheduledCall | undefined = undefined;
  /** On restore: the due time and seq the next setTimeout must use instead of fresh ones. */
  forced: { due: number; seq: number } | undefined = undefined;

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): PendingTimer {
    let due: number;
    let seq: number;
    if (this.forced !== undefined) {
      ({ due, seq } = this.forced);
      this.forced = undefined;
    } else {
      // as setTimeout: a delay that is not a positive number means now (Infinity stays pending forever)
      due = this.current + (ms > 0 ? ms : 0);
      seq = this.seq++;
    }
    const timer: PendingTimer = { due, seq, fn, scheduled: this.scheduling };
    const timers = this.timers;
    // usually appended; otherwise one binary search
    let lo = 0;
    let hi = timers.length;
    if (hi === 0 || before(timers[hi - 1]!, timer)) lo = hi;
    else {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (before(timers[mid]!, timer)) lo = mid + 1;
        else hi = mid;
      }
    }
    timers.splice(lo, 0, timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    const i = this.timers.indexOf(handle as PendingTimer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Fires, in order, every timer due at or before `time`, each at its own due time; then sets now to `time`. */
  advance(time: number): boolean {
    let fired = false;
    const timers = this.timers;
    while (timers.length > 0 && timers[0]!.due <= time) {
      const timer = timers.shift()!;
      this.current = timer.due;
      fired = true;
      timer.fn();
    }
    this.current = time;
    return fired;
  }

  nextDue(): number | undefined {
    return this.timers[0]?.due;
  }

  /** Forgets every timer (the actor is gone). */
  clear(): void {
    this.timers.length = 0;
  }
}

function before(a: PendingTimer, b: PendingTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/**
 * Wraps the actor system's `scheduler.schedule` (public in XState's types; XState calls it as
 * `system.scheduler.schedule(…)` for delayed raise/sendTo/after) so the clock learns what
 * each timer carries, and gives events without an id a deterministic one (XState would use
 * Math.random). A delayed event that is not plain data is refused: it could not be put in a
 * snapshot, and throwing here makes the actor fail the same way on every replica.
 */
export function hookScheduler(actor: AnyActorRef, clock: ReplicatedClock): void {
  const scheduler = actor.system.scheduler;
  const schedule = scheduler.schedule;
  scheduler.schedule = (source, target, event, delay, id) => {
    if (clock.forced === undefined) {
      const error = checkPlain(event, { rootName: 'delayedEvent' });
      if (error !== null) throw new AppDataError(`a delayed event is not plain data and cannot be replicated: ${error.message}`);
    }
    const resolvedId = id ?? `statechorus.${clock.seq}`;
    clock.scheduling = { source, target, event, delay, id: resolvedId };
    try {
      schedule.call(scheduler, source, target, event, delay, resolvedId);
    } finally {
      clock.scheduling = undefined;
    }
  };
}
