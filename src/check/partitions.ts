/**
 * Partitioned checking (P-compositionality): splitting a history with `model.partition`,
 * and merging the partitions' witnesses into one.
 */
import type { Model, Operation } from './types.ts';

/**
 * Interleaves per-partition witnesses into one global witness. Giving each operation the
 * point max(call of it and of everything before it in its partition's order) respects both
 * each order (points are non-decreasing) and real time (a point never exceeds the return).
 */
export function mergeOrders<I, O>(orders: Operation<I, O>[][]): Operation<I, O>[] {
  if (orders.length === 1) return orders[0]!;
  const items: { op: Operation<I, O>; point: number; part: number; pos: number }[] = [];
  orders.forEach((order, part) => {
    let point = -Infinity;
    order.forEach((op, pos) => {
      point = Math.max(point, op.call);
      items.push({ op, point, part, pos });
    });
  });
  items.sort((a, b) => a.point - b.point || a.part - b.part || a.pos - b.pos);
  return items.map((x) => x.op);
}

export function partitionHistory<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
): Operation<I, O>[][] {
  const index = new Map<Operation<I, O>, number>();
  history.forEach((op, i) => index.set(op, i));
  const byCall = (ops: Operation<I, O>[]) =>
    ops.sort((a, b) => a.call - b.call || index.get(a)! - index.get(b)!);
  if (!model.partition) return [byCall([...history])];
  const fail = (why: string) => new Error(`checkLinearizable: model.partition ${why}`);
  const parts = model.partition(history);
  if (!Array.isArray(parts)) throw fail('must return an array of arrays');
  const seen = new Set<Operation<I, O>>();
  const out: Operation<I, O>[][] = [];
  for (const part of parts) {
    if (!Array.isArray(part)) throw fail('must return an array of arrays');
    for (const op of part) {
      if (!index.has(op)) {
        throw fail('returned an operation that is not in the history (return the original objects)');
      }
      if (seen.has(op)) throw fail('put an operation in more than one part');
      seen.add(op);
    }
    if (part.length > 0) out.push(byCall([...part]));
  }
  if (seen.size !== history.length) throw fail(`dropped ${history.length - seen.size} operation(s)`);
  return out;
}
