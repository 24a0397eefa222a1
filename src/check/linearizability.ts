/**
 * Linearizability checking: the Wing & Gong search as refined by Lowe and by Porcupine.
 *
 * The completed operations' call and return events sit in one time-ordered doubly linked
 * list. The search walks it from the head: a call event is a candidate to linearize next
 * (apply it to the model; if the model accepts the output, "lift" the call and its return out
 * of the list and start again from the head); reaching a return event means the operation
 * that returned there should already have been linearized, so the last choice is undone
 * ("unlift") and the next candidate after it is tried. Visited configurations — the set of
 * linearized operations plus the model state — are memoised, which is what makes the search
 * practical on long histories. Everything is iterative: histories run to thousands of ops.
 *
 * Operations that never returned (pending) are optional: each may take effect at any point
 * after its call, or never. They live in a separate list and are tried only after every
 * completed candidate at a configuration, and the search succeeds as soon as every completed
 * operation is linearized. Three sound prunings keep them affordable:
 *  - a pending step that leaves the state unchanged is never taken (dropping it from any
 *    linearization leaves a linearization, and its output is unconstrained);
 *  - a configuration is skipped when an explored-and-failed one had the same completed set
 *    and state but used a subset of its pending operations (anything the larger one can
 *    still do, the smaller one could do too);
 *  - a pending op q is not tried right after a pending op p when q gives the same state with
 *    or without p (q overwrites p): the sibling configuration that skips p covers it. Without
 *    this, k available pending writes cost 2^k configurations at every dead end. Because of
 *    this restriction, only configurations entered through a completed operation (whose
 *    exploration was unrestricted) are memoised as failed;
 *  - pending ops with equal inputs are interchangeable: only the earliest-called one not yet
 *    taken is tried (a linearization taking a later one can take the earlier one there
 *    instead, and the later one where the earlier one was). Without this, k retried-and-lost
 *    copies of the same write cost every subset of them, none dominating another.
 *
 * Queries (inputs the model declares `readOnly`) are committed to eagerly: when one fits the
 * current state it is linearized at once and no alternative is tried there, because moving a
 * state-preserving operation to the front of any completion keeps it valid. Without this a
 * read-heavy history makes the search revisit every subset of concurrent reads.
 *
 * Ties: a call and a return at the same instant count as concurrent (calls sort first), so
 * equal timestamps never produce a false failure (but a client's next call stamped with the
 * same instant as its previous return is then treated as concurrent with it).
 *
 * Partitions (`model.partition`, e.g. one per key) are searched independently but not one
 * after another: they take turns in slices of SLICE_STEPS model steps, round-robin in the
 * order the model returned them, each search resuming exactly where its last slice stopped.
 * The first partition that fails decides the history (Porcupine runs partitions in parallel
 * and cancels the rest on the first failure; this is the single-threaded equivalent). So a
 * hard linearizable partition seen first can no longer spend the whole budget before a
 * refutable one is looked at: `ok: 'unknown'` means no partition failed and some partition
 * was still undecided when the (shared) step or time budget ran out. A partition that
 * finishes releases its memo; the unfinished ones keep theirs between turns.
 *
 * Cost: a pending operation stays a candidate for the rest of the history, so every dead end
 * after its call tries it (and pairs of them). Time grows roughly with (configurations
 * explored) x (pending ops outstanding); keep histories short or partitioned when many
 * operations never return, and pass `timeoutMs` to get `ok: 'unknown'` instead of a hang.
 */
import { FrontierBitset, SmallBitset } from './bitset.ts';
import { FailedConfigs } from './cache.ts';
import { explainFailure, explainUndecided } from './explain.ts';
import { describeOperation, isPending } from './format.ts';
import { mergeOrders, partitionHistory } from './partitions.ts';
import type { CheckOptions, CheckResult, Model, Operation } from './types.ts';

/** Shared by every partition's search: the step and time limits apply to the whole check. */
interface Budget {
  steps: number;
  maxSteps: number;
  deadline: number;
  started: number;
}

type SearchOutcome<S> =
  | { kind: 'ok'; order: number[] }
  | { kind: 'fail'; prefix: number[]; state: S }
  | { kind: 'unknown'; reason: 'timeout' | 'budget' }
  | { kind: 'paused' };

interface Search<S> {
  run(stepLimit: number): SearchOutcome<S>;
  /** The deepest linearized prefix found so far. */
  deepest(): number;
}

/**
 * Model steps one partition's search takes before the next partition gets its turn. Small
 * enough that a partition refutable in a few thousand steps is reached early behind hard
 * ones; switching costs almost nothing (each search resumes where it stopped).
 */
const SLICE_STEPS = 2048;

const now: () => number =
  typeof performance !== 'undefined' && typeof performance.now === 'function'
    ? () => performance.now()
    : () => Date.now();

/**
 * Checks that `history` is linearizable with respect to `model`. Returns a witness order on
 * success, an explanation on failure (of the first partition found to fail), and
 * `ok: 'unknown'` if the time or step budget ran out before any partition failed.
 * Throws on a malformed model or history.
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  validateModel(model);
  validateHistory(history);
  const timeoutMs = options.timeoutMs ?? Infinity;
  const maxSteps = options.maxSteps ?? Infinity;
  if (!(timeoutMs > 0)) throw new Error(`checkLinearizable: timeoutMs must be > 0, got ${timeoutMs}`);
  if (!(maxSteps > 0)) throw new Error(`checkLinearizable: maxSteps must be > 0, got ${maxSteps}`);
  const started = now();
  const budget: Budget = { steps: 0, maxSteps, deadline: started + timeoutMs, started };

  const parts = partitionHistory(model, history);
  const elapsed = () => Math.round(now() - started);
  const searches: (Search<S> | undefined)[] = new Array(parts.length);
  const orders: Operation<I, O>[][] = new Array(parts.length);
  const undecided = (reason: 'timeout' | 'budget'): CheckResult<I, O> => {
    const open = [];
    for (let p = 0; p < parts.length; p++) {
      if (orders[p] === undefined) open.push({ part: p, deepest: searches[p]?.deepest() });
    }
    return explainUndecided(reason, { steps: budget.steps, maxSteps, elapsedMs: elapsed() }, parts, open);
  };
  // Partitions take turns in slices of SLICE_STEPS model steps (round-robin in first-seen
  // order), so one hard partition cannot spend the whole budget before an easy failing one
  // is looked at. The first failure decides the history (as in Porcupine's parallel check).
  let live = parts.map((_, p) => p);
  while (live.length > 0) {
    const still: number[] = [];
    for (const p of live) {
      const ops = parts[p]!;
      const search = (searches[p] ??= startSearch(model, ops, budget));
      const outcome = search.run(live.length === 1 ? Infinity : budget.steps + SLICE_STEPS);
      if (outcome.kind === 'paused') {
        still.push(p);
        if (now() > budget.deadline) return undecided('timeout');
      } else if (outcome.kind === 'ok') {
        orders[p] = outcome.order.map((i) => ops[i]!);
        searches[p] = undefined; // its memo can go
      } else if (outcome.kind === 'fail') {
        const where = parts.length > 1 ? ` (partition ${p + 1} of ${parts.length}, ${ops.length} operations)` : '';
        return explainFailure(model, ops, outcome.prefix, outcome.state, where, options.explainLimit ?? 30);
      } else {
        // The budget is shared: no other partition can make progress either.
        return undecided(outcome.reason);
      }
    }
    live = still;
  }
  const order = mergeOrders(orders);
  return { ok: true, order, effectivePending: order.filter(isPending) };
}

/**
 * The search over one (sub-)history, whose operations are sorted by call time. `run` goes on
 * from where the previous call stopped until the search decides, the shared budget runs out,
 * or `budget.steps` reaches `stepLimit` (then it answers `paused` and can be run again).
 */
function startSearch<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  budget: Budget,
): Search<S> {
  const n = ops.length;
  const pending = new Uint8Array(n);
  const calls = new Float64Array(n);
  const rets = new Float64Array(n);
  const pIndex = new Int32Array(n).fill(-1);
  const readOnly = new Uint8Array(n);
  let pCount = 0;
  let completedRemaining = 0;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    calls[i] = op.call;
    if (model.readOnly?.(op.input) === true) readOnly[i] = 1;
    if (isPending(op)) {
      pending[i] = 1;
      rets[i] = Infinity;
      pIndex[i] = pCount++;
    } else {
      rets[i] = op.return!;
      completedRemaining++;
    }
  }

  // Main list: completed operations only. Entry i is op i's call, entry n + i its return.
  const entries: number[] = [];
  for (let i = 0; i < n; i++) if (!pending[i]) entries.push(i, n + i);
  const time = (e: number) => (e < n ? calls[e]! : rets[e - n]!);
  entries.sort((a, b) => time(a) - time(b) || (a < n ? 0 : 1) - (b < n ? 0 : 1) || (a % n) - (b % n));
  const H = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = H;
  for (const e of entries) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = -1;

  // Pending list, in call order (ops are already sorted by call).
  const PH = n;
  const pnext = new Int32Array(n + 1).fill(-1);
  const pprev = new Int32Array(n + 1).fill(-1);
  last = PH;
  for (let i = 0; i < n; i++) {
    // A pending read-only operation can never matter: it changes nothing and has no output.
    if (!pending[i] || readOnly[i]) continue;
    pnext[last] = i;
    pprev[i] = last;
    last = i;
  }
  pnext[last] = -1;
  // For each pending op, the nearest earlier-called pending op with an equal input (-1: none).
  const sameBefore = new Int32Array(n).fill(-1);
  const lastOfInput = new Map<string, number>();
  for (let i = pnext[PH]!; i !== -1; i = pnext[i]!) {
    let key: string;
    try {
      key = JSON.stringify(ops[i]!.input) ?? '';
    } catch {
      continue; // not plain data: never treated as equal to another
    }
    const before = lastOfInput.get(key);
    if (before !== undefined) sameBefore[i] = before;
    lastOfInput.set(key, i);
  }

  const lift = (i: number) => {
    const r = i + n;
    next[prev[i]!] = next[i]!;
    if (next[i] !== -1) prev[next[i]!] = prev[i]!;
    next[prev[r]!] = next[r]!;
    if (next[r] !== -1) prev[next[r]!] = prev[r]!;
  };
  // Reinsert in the reverse order of removal (dancing links).
  const unlift = (i: number) => {
    const r = i + n;
    next[prev[r]!] = r;
    if (next[r] !== -1) prev[next[r]!] = r;
    next[prev[i]!] = i;
    if (next[i] !== -1) prev[next[i]!] = i;
  };
  const pliftOut = (i: number) => {
    pnext[pprev[i]!] = pnext[i]!;
    if (pnext[i] !== -1) pprev[pnext[i]!] = pprev[i]!;
  };
  const punlift = (i: number) => {
    pnext[pprev[i]!] = i;
    if (pnext[i] !== -1) pprev[pnext[i]!] = i;
  };
  // Earliest return among completed operations not yet linearized.
  const firstReturn = () => {
    let e = next[H]!;
    while (e !== -1 && e < n) e = next[e]!;
    return e === -1 ? Infinity : rets[e - n]!;
  };

  // Pending operations are outside the completed set's identity: preset their bits so the
  // bitset's all-ones prefix can still advance past them.
  const bits = new FrontierBitset(n);
  for (let i = 0; i < n; i++) if (pending[i]) bits.preset(i);
  const pbits = new SmallBitset(pCount);
  // Only explored-and-failed configurations go in the cache (see the header comment).
  const failed = new FailedConfigs(bits, pbits);
  // State keys are interned to small ids: cheaper to compare, hash and store.
  const stateIds = new Map<string, number>();
  const stateById: S[] = [];
  const internState = (st: S): number => {
    const key = model.key(st);
    let id = stateIds.get(key);
    if (id === undefined) {
      stateIds.set(key, (id = stateIds.size));
      stateById.push(st);
    }
    return id;
  };
  const callStep = (from: S, i: number) => {
    const op = ops[i]!;
    const isP = pending[i] === 1;
    try {
      return model.step(from, op.input, isP ? undefined : op.output, isP);
    } catch (cause) {
      throw new Error(`checkLinearizable: model.step threw on ${describeOperation(model, op)}`, { cause });
    }
  };

  const stackOp = new Int32Array(n);
  const stackForced = new Uint8Array(n);
  const stackState: S[] = [];
  const stackStateId = new Int32Array(n);
  let depth = 0;
  let pendingDepth = 0; // pending operations on the stack
  let state = model.init();
  let stateId = internState(state);
  let bestDepth = -1;
  let bestPendingDepth = 0;
  let bestPrefix: number[] = [];
  let bestState = state;

  // A pending op's step depends only on (state, input), so its outcome is memoised per
  // (state id, op): the same states recur at many configurations, and the overwrite check
  // below asks about every pair of pending ops.
  const pendingMemo = new Map<number, number>();
  const pendingStep = (fromId: number, from: S, i: number): number => {
    const mk = fromId * pCount + pIndex[i]!;
    let id = pendingMemo.get(mk);
    if (id === undefined) {
      budget.steps++;
      const r = callStep(from, i);
      id = r && r.ok ? internState(r.state) : -1;
      pendingMemo.set(mk, id);
    }
    return id;
  };

  const PUSHED = 0;
  const REJECTED = 1;
  const DOMINATED = 2;
  const tryOp = (i: number, forced: boolean): number => {
    const isP = pending[i] === 1;
    let k: number;
    let next: S;
    if (isP) {
      // Taken in call order among equal inputs, so the taken ones are always the earliest.
      if (sameBefore[i] !== -1 && !pbits.has(pIndex[sameBefore[i]!]!)) return REJECTED;
      k = pendingStep(stateId, state, i);
      if (k === -1 || k === stateId) return REJECTED;
      // Right after another pending op p: if this op gives the same state without p, then p
      // is pointless here and the sibling configuration without p covers this one.
      if (depth > 0 && pending[stackOp[depth - 1]!]) {
        if (pendingStep(stackStateId[depth - 1]!, stackState[depth - 1]!, i) === k) return REJECTED;
      }
      next = stateById[k]!; // equal keys are interchangeable states
      pbits.set(pIndex[i]!);
    } else {
      budget.steps++;
      const r = callStep(state, i);
      if (!r || !r.ok) return REJECTED;
      k = internState(r.state);
      next = r.state;
      bits.set(i);
    }
    if (failed.dominates(k)) {
      if (isP) pbits.clear(pIndex[i]!);
      else bits.clear(i);
      return DOMINATED;
    }
    stackOp[depth] = i;
    stackForced[depth] = forced ? 1 : 0;
    stackState[depth] = state;
    stackStateId[depth] = stateId;
    depth++;
    state = next;
    stateId = k;
    if (isP) {
      pliftOut(i);
      pendingDepth++;
    } else {
      lift(i);
      completedRemaining--;
    }
    return PUSHED;
  };

  // Phases at each configuration: 0 = completed read-only candidates (the first that fits is
  // taken and no alternative is tried: if the history can be linearized from here, it can be
  // with that read first), 1 = other completed candidates, 2 = pending candidates.
  // The loop's own variables are saved here between slices (kept local while running).
  const saved = { phase: 0, entry: next[H]!, pcur: -1, bound: 0, iterations: 0 };
  const deepest = () => Math.max(bestDepth, depth);
  const run = (stepLimit: number): SearchOutcome<S> => {
    let { phase, entry, pcur, bound, iterations } = saved;
    const limit = Math.min(stepLimit, budget.maxSteps);
    for (;;) {
      if (completedRemaining === 0) return { kind: 'ok', order: Array.from(stackOp.subarray(0, depth)) };
      if ((++iterations & 1023) === 0 && now() > budget.deadline) {
        return { kind: 'unknown', reason: 'timeout' };
      }
      if (budget.steps >= limit) {
        if (budget.steps >= budget.maxSteps) return { kind: 'unknown', reason: 'budget' };
        // Out of this slice: resume from this very point (the top of the loop) next time.
        Object.assign(saved, { phase, entry, pcur, bound, iterations });
        return { kind: 'paused' };
      }
      if (phase === 0) {
        if (entry === -1 || entry >= n) {
          phase = 1;
          entry = next[H]!;
          continue;
        }
        if (!readOnly[entry]) {
          entry = next[entry]!;
          continue;
        }
        const r = tryOp(entry, true);
        if (r === PUSHED) {
          entry = next[H]!;
          continue;
        }
        if (r === REJECTED) {
          entry = next[entry]!;
          continue;
        }
        // DOMINATED: the forced successor already failed, so this configuration fails too.
      } else if (phase === 1) {
        if (entry !== -1 && entry < n) {
          if (!readOnly[entry] && tryOp(entry, false) === PUSHED) {
            phase = 0;
            entry = next[H]!;
          } else {
            entry = next[entry]!;
          }
          continue;
        }
        phase = 2;
        bound = entry === -1 ? Infinity : rets[entry - n]!;
        pcur = pnext[PH]!;
        continue;
      } else {
        if (pcur !== -1 && calls[pcur]! <= bound) {
          const i = pcur;
          if (tryOp(i, false) === PUSHED) {
            phase = 0;
            entry = next[H]!;
          } else {
            pcur = pnext[i]!;
          }
          continue;
        }
      }

      // Dead end: no candidate extends this configuration. The most informative prefix has the
      // most completed operations and, among those, the fewest pending ones taken as effective.
      const completedDepth = depth - pendingDepth;
      const bestCompleted = bestDepth - bestPendingDepth;
      if (
        bestDepth < 0 ||
        completedDepth > bestCompleted ||
        (completedDepth === bestCompleted && pendingDepth < bestPendingDepth)
      ) {
        bestDepth = depth;
        bestPendingDepth = pendingDepth;
        bestPrefix = Array.from(stackOp.subarray(0, depth));
        bestState = state;
      }
      // Backtrack; undoing a forced step means its parent configuration failed as well.
      let i: number;
      for (;;) {
        if (depth === 0) return { kind: 'fail', prefix: bestPrefix, state: bestState };
        // Only configurations entered by a completed operation are remembered: one entered by a
        // pending operation was explored under the restriction above, so its failure is not
        // absolute.
        if (!pending[stackOp[depth - 1]!]) failed.add(stateId);
        depth--;
        i = stackOp[depth]!;
        state = stackState[depth]!;
        stateId = stackStateId[depth]!;
        if (pending[i]) {
          pendingDepth--;
          pbits.clear(pIndex[i]!);
          punlift(i);
        } else {
          bits.clear(i);
          unlift(i);
          completedRemaining++;
        }
        if (!stackForced[depth]) break;
      }
      if (pending[i]) {
        phase = 2;
        pcur = pnext[i]!;
        bound = firstReturn();
      } else {
        phase = 1;
        entry = next[i]!;
      }
    }
  };
  return { run, deepest };
}

function validateModel(model: unknown): void {
  if (typeof model !== 'object' || model === null) {
    throw new Error('checkLinearizable: model must be an object');
  }
  const m = model as Record<string, unknown>;
  for (const name of ['init', 'step', 'key'] as const) {
    if (typeof m[name] !== 'function') {
      throw new Error(`checkLinearizable: model.${name} must be a function`);
    }
  }
  for (const name of ['partition', 'describe', 'describeState', 'readOnly'] as const) {
    if (m[name] !== undefined && typeof m[name] !== 'function') {
      throw new Error(`checkLinearizable: model.${name} must be a function when present`);
    }
  }
}

function validateHistory(history: unknown): void {
  if (!Array.isArray(history)) throw new Error('checkLinearizable: history must be an array of operations');
  const seen = new Set<unknown>();
  history.forEach((op: unknown, i) => {
    const at = `checkLinearizable: history[${i}]`;
    if (typeof op !== 'object' || op === null) throw new Error(`${at} is not an operation object`);
    if (seen.has(op)) throw new Error(`${at} is the same object as an earlier entry`);
    seen.add(op);
    const o = op as Record<string, unknown>;
    if (typeof o.client !== 'string' && typeof o.client !== 'number') {
      throw new Error(`${at}: client must be a string or number, got ${typeof o.client}`);
    }
    if (typeof o.call !== 'number' || !Number.isFinite(o.call)) {
      throw new Error(`${at}: call time must be a finite number, got ${String(o.call)}`);
    }
    if (o.return !== undefined) {
      if (typeof o.return !== 'number' || Number.isNaN(o.return) || o.return === -Infinity) {
        throw new Error(`${at}: return time must be a number or absent, got ${String(o.return)}`);
      }
      if (o.return < o.call) {
        throw new Error(`${at}: returns before it is called (call ${o.call} > return ${o.return})`);
      }
    }
    if ((o.return === undefined || o.return === Infinity) && o.output !== undefined) {
      throw new Error(`${at}: has an output but no return time (a pending operation has no output)`);
    }
  });
}
