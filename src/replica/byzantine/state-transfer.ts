import type { BftCore, BftMessage, byzantineProtocolMachine } from '../../../actors/byzantine/index.ts';
import { decode } from '../../codec/index.ts';
import { indexKey } from '../../storage/index.ts';
import { RECORD_LIMITS } from '../../wire/index.ts';
import { ChunkAssembly, chunkAt, chunkBytes } from '../chunks.ts';
import type { ReplicaHost } from '../host.ts';
import { ServeBudget } from '../peer-budget.ts';
import { isConfig, SNAPSHOT_PREFIX, type CheckpointRecord } from './records.ts';

type FetchState = Extract<BftMessage, { type: 'fetchState' }>;
type StateChunk = Extract<BftMessage, { type: 'stateChunk' }>;

/**
 * Byzantine state transfer, the runtime's side: a replica behind the group's stable checkpoint
 * fetches that checkpoint's state in chunks (chunks.ts) from the replicas the core names, one
 * at a time, checks it against the certified digest and installs it; and it serves its own
 * checkpoints to others, within a budget per peer (a flood of fetchState waits, coalesced).
 */
export class StateTransfer {
  /** The transfer in progress: the checkpoint wanted, who to ask, the bytes so far. */
  #transfer: { seq: number; digest: string; from: string[]; attempt: number; asked: string; parts: ChunkAssembly | undefined } | undefined;
  /** State chunks served per peer and status period. */
  readonly #serveBudget: ServeBudget<FetchState>;

  constructor(
    private readonly host: ReplicaHost<typeof byzantineProtocolMachine>,
    private readonly core: () => BftCore,
    /** Sends one protocol message alone in a signed bundle. */
    private readonly send: (to: string[], message: BftMessage) => Promise<void>,
    /** Counts abuse by an authenticated member. */
    private readonly abuse: (what: string) => void,
  ) {
    this.#serveBudget = new ServeBudget(8, host.tuning.statusMs);
  }

  /** The core wants checkpoint `seq` (again, if a chunk or its answer was lost: then from where we are, from the next replica). */
  fetch(seq: number, digest: string, from: string[]): Promise<void> {
    if (this.#transfer?.seq === seq && this.#transfer.digest === digest) this.#transfer.attempt++;
    else this.#transfer = { seq, digest, from, attempt: 0, asked: '', parts: undefined };
    if (from.length) this.#transfer.from = from;
    return this.#ask();
  }

  /** Once per tick: forget a transfer the core no longer needs; serve the demands whose turn came. */
  async tick(now: number): Promise<void> {
    const core = this.core();
    if (this.#transfer && core.phase !== 'stateTransfer' && core.executed >= this.#transfer.seq) this.#transfer = undefined;
    for (const { peer, demand } of this.#serveBudget.due(now)) await this.#serve(peer, demand);
  }

  async #ask(): Promise<void> {
    const t = this.#transfer;
    if (!t || t.from.length === 0) return;
    const to = t.from[t.attempt % t.from.length]!;
    // Another replica may cut the snapshot differently: start over with it.
    if (to !== t.asked) {
      t.asked = to;
      t.parts = undefined;
    }
    await this.send([to], { type: 'fetchState', seq: t.seq, digest: t.digest, offset: t.parts?.received ?? 0 });
  }

  /** A peer's fetchState: served within its budget, else the latest waits for the next period. */
  async demand(from: string, m: FetchState): Promise<void> {
    const verdict = this.#serveBudget.take(from, m, this.host.clock.now());
    if (verdict === 'flood') this.abuse('fetchState flood: a second demand while one waits');
    if (verdict === 'now') await this.#serve(from, m);
  }

  async #serve(to: string, m: FetchState): Promise<void> {
    const bytes = await this.host.storage.get(indexKey(SNAPSHOT_PREFIX, m.seq));
    if (!bytes || m.offset > bytes.length) return this.host.drop('state-unavailable');
    this.host.metrics.snapshotsSent++;
    const data = chunkAt(bytes, m.offset, chunkBytes(this.host.tuning))!;
    await this.send([to], { type: 'stateChunk', seq: m.seq, digest: m.digest, offset: m.offset, total: bytes.length, data });
  }

  async receive(from: string, m: StateChunk): Promise<void> {
    const t = this.#transfer;
    // Only the replica we asked, one consistent total, and no more than we are willing to hold.
    if (!t || from !== t.asked || m.seq !== t.seq || m.digest !== t.digest || m.offset !== (t.parts?.received ?? 0)) return;
    if (m.total > this.host.tuning.maxSnapshotBytes) return this.host.drop('state-too-large');
    if (t.parts && m.total !== t.parts.total) return this.host.drop('bad-state');
    t.parts ??= new ChunkAssembly(m.total);
    t.parts.append(m.data);
    if (!t.parts.complete) {
      if (m.data.length === 0) return;
      return this.send([from], { type: 'fetchState', seq: t.seq, digest: t.digest, offset: t.parts.received });
    }
    const all = t.parts.bytes();
    const installed = this.#install(all, t.seq, t.digest);
    if (typeof installed === 'string') {
      // A replica sent a state that does not match the certificate: ask another.
      this.host.drop('bad-state');
      t.attempt++;
      return this.#ask();
    }
    await this.host.storage.set(indexKey(SNAPSHOT_PREFIX, t.seq), all);
    this.host.metrics.snapshotsInstalled++;
    this.#transfer = undefined;
    this.host.actor!.send({ type: 'stateInstalled', seq: t.seq, digest: t.digest, group: installed.config, before: installed.before });
  }

  /** Checks a checkpoint's bytes against the certified digest, then installs the app state. */
  #install(bytes: Uint8Array, seq: number, digest: string): CheckpointRecord | string {
    const d = decode(bytes, RECORD_LIMITS);
    if (!d.ok) return 'undecodable';
    const record = d.value as unknown as CheckpointRecord;
    if (!record || typeof record !== 'object' || record.seq !== seq || !(record.app instanceof Uint8Array) || !isConfig(record.config) || !isConfig(record.before)) return 'malformed';
    const app = decode(record.app, RECORD_LIMITS);
    const value = app.ok ? app.value : undefined;
    const claimed = value && typeof value === 'object' && !Array.isArray(value) ? (value as { digest?: unknown }).digest : undefined;
    if (typeof claimed !== 'string') return 'no app digest';
    let expected: string;
    try {
      expected = this.core().cfg.hashCheckpoint({ seq, appDigest: claimed, config: record.config, before: record.before });
    } catch {
      return 'unencodable configuration';
    }
    if (expected !== digest) return 'digest mismatch';
    try {
      // restore() recomputes the digest from the state and refuses a snapshot that lies about it.
      this.host.executor.restore(record.app);
    } catch {
      return 'restore failed';
    }
    return record;
  }
}
