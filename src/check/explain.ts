/**
 * The checker's verdict texts: why a history is not linearizable (the longest prefix found,
 * the state after it, each next candidate's fate) and why it is undecided (which budget ran
 * out, and where each unfinished partition stood).
 */
import { describeOperation, isPending } from './format.ts';
import type { CandidateFailure, CheckResult, Model, Operation } from './types.ts';

/** Builds the failure result: the longest prefix, the state after it, and each candidate's fate. */
export function explainFailure<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  prefix: number[],
  state: S,
  where: string,
  limit: number,
): CheckResult<I, O> {
  const inPrefix = new Uint8Array(ops.length);
  for (const i of prefix) inPrefix[i] = 1;
  let blocker = -1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (inPrefix[i] || isPending(op)) continue;
    if (blocker === -1 || op.return! < ops[blocker]!.return!) blocker = i;
  }
  const bound = blocker === -1 ? Infinity : ops[blocker]!.return!;
  const showState = (s: S) => {
    try {
      return model.describeState ? model.describeState(s) : model.key(s);
    } catch {
      return model.key(s);
    }
  };
  const stateKey = model.key(state);
  const candidates: CandidateFailure<I, O>[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (inPrefix[i] || op.call > bound) continue;
    const pending = isPending(op);
    const r = model.step(state, op.input, pending ? undefined : op.output, pending);
    let reason: string;
    if (!r || !r.ok) {
      reason =
        r?.expected !== undefined
          ? `rejected by the model: expected ${r.expected}`
          : 'rejected by the model for this output';
    } else if (pending && model.key(r.state) === stateKey) {
      reason = 'never returned and would have no effect here';
    } else {
      reason =
        `accepted (state would become ${showState(r.state)}), but no way to order the ` +
        'remaining operations after it was found';
    }
    candidates.push({ op, pending, reason });
  }
  const unorderable = candidates.filter((c) => !c.pending).map((c) => c.op);
  const completed = ops.filter((op) => !isPending(op)).length;

  const lines: string[] = [];
  lines.push(`History is not linearizable${where}.`);
  const shownFrom = Math.max(0, prefix.length - limit);
  lines.push(
    `Longest linearizable prefix found: ${prefix.length} operations ` +
      `(${ops.length} in history, ${completed} completed)` +
      (shownFrom > 0 ? `; showing the last ${prefix.length - shownFrom}:` : ':'),
  );
  if (prefix.length === 0) lines.push('  (empty: no operation can go first)');
  if (shownFrom > 0) lines.push(`  ... ${shownFrom} earlier operations`);
  for (let k = shownFrom; k < prefix.length; k++) {
    const op = ops[prefix[k]!]!;
    const note = isPending(op) ? '   (never returned; taken as effective)' : '';
    lines.push(`  ${String(k + 1).padStart(4)}. ${describeOperation(model, op)}${note}`);
  }
  lines.push(`State after the prefix: ${showState(state)}`);
  if (blocker !== -1) {
    lines.push(
      `Stuck: ${describeOperation(model, ops[blocker]!)} returned at ${bound}, ` +
        'but it cannot be linearized after this prefix, and nothing else that could go first lets it.',
    );
  }
  lines.push('Operations that could go next, and why each failed:');
  for (const c of candidates) lines.push(`  - ${describeOperation(model, c.op)}\n      ${c.reason}`);
  lines.push(`Unorderable operations (${unorderable.length}):`);
  for (const op of unorderable) lines.push(`  * ${describeOperation(model, op)}`);
  return {
    ok: false,
    explanation: lines.join('\n'),
    longestPrefix: prefix.map((i) => ops[i]!),
    unorderable,
    candidates,
  };
}

/** Where one partition without a verdict stood when the budget ran out. */
export interface Undecided {
  /** Index into the partitions. */
  part: number;
  /** Deepest linearized prefix found; undefined if its search never started. */
  deepest: number | undefined;
}

/**
 * Builds the undecided result. No partition failed (the check stops at the first that does),
 * so the history is linearizable exactly when every undecided partition is.
 */
export function explainUndecided<I, O>(
  reason: 'timeout' | 'budget',
  figures: { steps: number; maxSteps: number; elapsedMs: number },
  parts: Operation<I, O>[][],
  undecided: Undecided[],
): CheckResult<I, O> {
  const why =
    reason === 'timeout'
      ? `timed out after ${figures.elapsedMs} ms`
      : `step budget of ${figures.maxSteps} model steps exhausted`;
  const spent = `${figures.steps} model steps, ${figures.elapsedMs} ms`;
  const stood = (u: Undecided) =>
    u.deepest === undefined
      ? 'not started'
      : `deepest linearized prefix ${u.deepest} of ${parts[u.part]!.length} operations`;
  if (parts.length === 1) {
    return { ok: 'unknown', reason, explanation: `Linearizability undecided: ${why} (${spent}; ${stood(undecided[0]!)}).` };
  }
  const shown = undecided.slice(0, 10).map((u) => `partition ${u.part + 1} (${stood(u)})`);
  if (undecided.length > shown.length) shown.push(`${undecided.length - shown.length} more`);
  const explanation =
    `Linearizability undecided: ${why} (${spent}). No partition failed; ` +
    `${parts.length - undecided.length} of ${parts.length} partitions are linearizable, ` +
    `${undecided.length} undecided: ${shown.join(', ')}.`;
  return { ok: 'unknown', reason, explanation };
}
