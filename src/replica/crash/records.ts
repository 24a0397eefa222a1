// What a crash replica keeps in storage (hard state, log, snapshot, recovery record), and how
// it reads it back at start.
import type { crashProtocolMachine, Entry, HardState, RaftEffect, RaftInit, RecoveryRecord, SnapshotMeta } from '../../../actors/crash/index.ts';
import { encode } from '../../codec/index.ts';
import { indexKey, prefixEnd, type StorageOp } from '../../storage/index.ts';
import { RECORD_LIMITS } from '../../wire/index.ts';
import { decodeTrusted } from '../common.ts';
import type { ReplicaHost } from '../host.ts';

const HARD_KEY = 'raft/hard';
const SNAPSHOT_KEY = 'raft/snapshot';
/** Present while this replica catches up after losing its state (actors/crash/recovery.ts). */
const RECOVERY_KEY = 'raft/recovery';
const LOG_PREFIX = 'raft/log/';
const LOG_END = prefixEnd(LOG_PREFIX)!;

export interface StoredSnapshot {
  meta: SnapshotMeta;
  time: number;
  data: Uint8Array;
}

export class RaftRecords {
  /** The stored snapshot (null: none; undefined: not read yet). */
  #snapshot: StoredSnapshot | null | undefined;
  /** Index of the latest snapshot taken, installed or loaded. */
  snapshotIndex = 0;

  constructor(private readonly host: ReplicaHost<typeof crashProtocolMachine>) {}

  async load(): Promise<RaftInit> {
    const hardBytes = await this.host.storage.get(HARD_KEY);
    const recoveryBytes = await this.host.storage.get(RECOVERY_KEY);
    const hard = hardBytes ? (decodeTrusted(hardBytes, 'hard state') as unknown as HardState) : { term: 0, vote: null, commit: 0 };
    const stored = await this.snapshot();
    if (stored) {
      const record = decodeTrusted(stored.data, 'snapshot') as { time: number; app: Uint8Array };
      this.host.executor.restore(record.app);
      this.snapshotIndex = stored.meta.index;
    }
    const entries = (await this.host.storage.scan({ prefix: LOG_PREFIX }))
      .map(([, v]) => decodeTrusted(v, 'log entry') as unknown as Entry)
      .filter((e) => !stored || e.index > stored.meta.index);
    const t = this.host.tuning;
    const initialMembers = this.host.options.group.members.map((m) => m.id);
    return {
      config: {
        id: this.host.id,
        electionTicks: t.electionTicks,
        heartbeatTicks: t.heartbeatTicks,
        idleHeartbeatTicks: t.idleHeartbeatTicks,
        maxEntriesPerAppend: t.maxBatch,
        // Half the message limit leaves room for the envelope; larger appends would be dropped at ingress forever.
        maxAppendBytes: Math.floor(t.maxMessageBytes / 2),
        entrySize,
        maxInflight: 32,
        preVote: true,
        checkQuorum: true,
        removeSilentAfterTicks: t.removeSilentAfterMs > 0 ? Math.ceil(t.removeSilentAfterMs / t.tickMs) : 0,
        catchUpMargin: 16,
      },
      hardState: hard,
      membership: { voters: initialMembers, learners: [] },
      snapshot: stored ? { ...stored.meta, time: stored.time } : null,
      entries,
      seed: this.host.options.seed ?? (globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! | 1),
      incarnation: this.host.clock.now(),
      // Nothing stored: a lost disk or a new group (or a replica being added); recovery tells which before it votes.
      ...(recoveryBytes
        ? { recovery: { stage: 'catchUp' as const, target: decodeTrusted(recoveryBytes, 'recovery record') as unknown as RecoveryRecord } }
        : !hardBytes && !stored && entries.length === 0
          ? { recovery: { stage: 'query' as const, peers: [...this.host.memberKeys.keys()], initialMembers } }
          : {}),
    };
  }

  /** The stored snapshot, decoded once (not for every chunk served) and kept as it is replaced. */
  async snapshot(): Promise<StoredSnapshot | undefined> {
    if (this.#snapshot !== undefined) return this.#snapshot ?? undefined;
    const bytes = await this.host.storage.get(SNAPSHOT_KEY);
    this.#snapshot = bytes ? (decodeTrusted(bytes, 'snapshot record') as unknown as StoredSnapshot) : null;
    return this.#snapshot ?? undefined;
  }

  /** Keeps a snapshot this replica took. */
  async save(snapshot: StoredSnapshot): Promise<void> {
    await this.host.storage.set(SNAPSHOT_KEY, encodeSnapshot(snapshot));
    this.#snapshot = snapshot;
    this.snapshotIndex = snapshot.meta.index;
  }

  /** Keeps a snapshot the leader sent, in place of the whole log. */
  async install(snapshot: StoredSnapshot): Promise<void> {
    await this.host.storage.batch([
      { type: 'set', key: SNAPSHOT_KEY, value: encodeSnapshot(snapshot) },
      { type: 'deleteRange', start: LOG_PREFIX, end: LOG_END },
    ]);
    this.#snapshot = snapshot;
    this.snapshotIndex = snapshot.meta.index;
  }

  /** Drops log entries up to `upTo` (a snapshot holds them). */
  compact(upTo: number): Promise<void> {
    return this.host.storage.batch([{ type: 'deleteRange', start: LOG_PREFIX, end: indexKey(LOG_PREFIX, upTo + 1) }]);
  }
}

export function persistOps(effect: Extract<RaftEffect, { type: 'persist' }>): StorageOp[] {
  const ops: StorageOp[] = [];
  if (effect.truncateAfter !== undefined) ops.push({ type: 'deleteRange', start: indexKey(LOG_PREFIX, effect.truncateAfter + 1), end: LOG_END });
  for (const e of effect.entries ?? []) ops.push({ type: 'set', key: indexKey(LOG_PREFIX, e.index), value: encode(e as never, RECORD_LIMITS) });
  if (effect.hardState) ops.push({ type: 'set', key: HARD_KEY, value: encode(effect.hardState as never, RECORD_LIMITS) });
  if (effect.recovery) ops.push({ type: 'set', key: RECOVERY_KEY, value: encode(effect.recovery as never, RECORD_LIMITS) });
  else if (effect.recovery === null) ops.push({ type: 'delete', key: RECOVERY_KEY });
  return ops;
}

function encodeSnapshot(s: StoredSnapshot): Uint8Array {
  return encode({ meta: s.meta as never, time: s.time, data: s.data }, RECORD_LIMITS);
}

/** Encoded size of a log entry, cached (entries are immutable once appended). */
const entrySizes = new WeakMap<Entry, number>();
function entrySize(e: Entry): number {
  let n = entrySizes.get(e);
  if (n === undefined) {
    n = encode(e as never, RECORD_LIMITS).length;
    entrySizes.set(e, n);
  }
  return n;
}
