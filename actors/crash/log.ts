import type { Entry } from './types.ts';

/**
 * The in-memory tail of the replicated log: entries after the last snapshot. Index and term
 * of the snapshot stand in for the compacted prefix.
 */
export class RaftLog {
  snapshotIndex = 0;
  snapshotTerm = 0;
  entries: Entry[] = [];

  get lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  get lastTerm(): number {
    return this.entries.length ? this.entries[this.entries.length - 1]!.term : this.snapshotTerm;
  }

  get firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  /** Term of the entry at index; undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex || index > this.lastIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  /** Entries in [from, to] (inclusive), at most max of them. */
  slice(from: number, to: number, max = Infinity): Entry[] {
    const lo = Math.max(from, this.firstIndex) - this.snapshotIndex - 1;
    const hi = Math.min(to, this.lastIndex, from + max - 1) - this.snapshotIndex;
    return lo < hi ? this.entries.slice(lo, hi) : [];
  }

  append(entries: readonly Entry[]): void {
    for (const e of entries) this.entries.push(e);
  }

  /** Drops entries with index > index. */
  truncateAfter(index: number): void {
    this.entries.length = Math.max(0, index - this.snapshotIndex);
  }

  /** Forgets entries up to and including index, remembering its term. */
  compact(index: number, term: number): void {
    if (index <= this.snapshotIndex) return;
    this.entries = index >= this.lastIndex ? [] : this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** First index of the term of the entry at `index` (for fast backtracking hints). */
  firstIndexOfTerm(index: number): number {
    const term = this.term(index);
    let i = index;
    while (i - 1 > this.snapshotIndex && this.term(i - 1) === term) i--;
    return i;
  }

  /** Whether a candidate's log (lastIndex, lastTerm) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm || (lastTerm === this.lastTerm && lastIndex >= this.lastIndex);
  }
}
