// What a Byzantine replica keeps in storage, and how it reads it back at start.
import { batchProofs, GENESIS_DIGEST, type Batch, type BftEffect, type byzantineProtocolMachine, type Config, type HardState, type Proof, type SentNewView, type SlotRecord, type StableCheckpoint } from '../../../actors/byzantine/index.ts';
import { encode } from '../../codec/index.ts';
import { sha256Sync, toHex } from '../../crypto/index.ts';
import { indexKey, type StorageOp } from '../../storage/index.ts';
import { RECORD_LIMITS } from '../../wire/index.ts';
import { batchBytesBudget, itemSize } from '../batch-size.ts';
import { decodeTrusted } from '../common.ts';
import type { ReplicaHost } from '../host.ts';
import type { ProofCheck } from './proofs.ts';

const HARD_KEY = 'bft/hard';
const STABLE_KEY = 'bft/stable';
const SLOT_PREFIX = 'bft/slot/';
export const SNAPSHOT_PREFIX = 'bft/snapshot/';
const NEW_VIEW_KEY = 'bft/newview';

/** What a checkpoint's snapshot holds: the app state and the configurations in force for `seq` and right after it. */
export interface CheckpointRecord {
  seq: number;
  app: Uint8Array;
  config: Config;
  before: Config;
}

/** The protocol core's input: durable state as stored (proofs from storage are not verified again), the tuning as the core counts it (ticks). */
export async function loadProtocolInput(host: ReplicaHost<typeof byzantineProtocolMachine>, proofs: ProofCheck) {
  const t = host.tuning;
  const hardBytes = await host.storage.get(HARD_KEY);
  const hard = hardBytes ? (decodeTrusted(hardBytes, 'hard state') as unknown as HardState) : { view: 0, changing: false };
  const stableBytes = await host.storage.get(STABLE_KEY);
  let stable: StableCheckpoint = { seq: 0, digest: GENESIS_DIGEST, cert: [] };
  let group: Config = { epoch: 0, members: host.options.group.members.map((m) => ({ id: m.id, key: m.publicKey })), pending: [] };
  let groupBefore: Config | undefined;
  if (stableBytes) {
    const s = decodeTrusted(stableBytes, 'stable checkpoint') as unknown as { seq: number; digest: string; cert: Proof[] };
    const snap = await host.storage.get(indexKey(SNAPSHOT_PREFIX, s.seq));
    if (snap) {
      const record = decodeTrusted(snap, 'checkpoint') as unknown as CheckpointRecord;
      host.executor.restore(record.app);
      group = record.config;
      groupBefore = record.before;
      stable = { seq: s.seq, digest: s.digest, cert: s.cert.map((p) => proofs.trusted(p)) };
    }
  }
  const slots = (await host.storage.scan({ prefix: SLOT_PREFIX }))
    .map(([, v]) => decodeTrusted(v, 'slot') as unknown as SlotRecord)
    .filter((r) => r.seq > stable.seq)
    .map((r) => {
      for (const { proof } of batchProofs(r.batch)) proofs.trusted(proof);
      if (r.prePrepare) r.prePrepare = proofs.trusted(r.prePrepare);
      if (r.prepared) r.prepared = { ...r.prepared, prePrepare: proofs.trusted(r.prepared.prePrepare), prepares: r.prepared.prepares.map((p) => proofs.trusted(p)) };
      return r;
    });
  for (const m of group.members) if (!host.memberKeys.has(m.id)) host.learnMember(m.id, m.key);
  const newViewBytes = await host.storage.get(NEW_VIEW_KEY);
  const newView = newViewBytes ? (decodeTrusted(newViewBytes, 'new view') as unknown as SentNewView) : undefined;
  const executor = host.executor;
  return {
    config: {
      id: host.id,
      checkpointEvery: t.checkpointEvery,
      windowSize: t.windowSize,
      maxBatch: t.maxBatch,
      requestTimeoutTicks: Math.max(1, Math.ceil(t.requestTimeoutMs / t.tickMs)),
      viewChangeTimeoutTicks: Math.max(1, Math.ceil(t.viewChangeTimeoutMs / t.tickMs)),
      statusTicks: Math.max(1, Math.ceil(t.statusMs / t.tickMs)),
      forgetRequestTicks: Math.max(1, Math.ceil((t.requestTimeoutMs * 10) / t.tickMs)),
      maxClockSkewMs: 30_000,
      // Batches are split by bytes (batch-size.ts), so the batch a pre-prepare carries always fits one message.
      maxBatchBytes: batchBytesBudget(t.maxMessageBytes),
      itemSize,
      hashBatch: (b: Batch) => toHex(sha256Sync(encode(b as never, RECORD_LIMITS))),
      hashCheckpoint: (c: { seq: number; appDigest: string; config: Config; before: Config }) =>
        toHex(sha256Sync(encode({ seq: c.seq, app: c.appDigest, config: c.config, before: c.before } as never, RECORD_LIMITS))),
    },
    group,
    ...(groupBefore ? { groupBefore } : {}),
    hard,
    stable,
    slots,
    ...(newView ? { newView } : {}),
    alreadyApplied: (client: string, session: number, seq: number) => {
      const last = executor.lastReply(client, session);
      return last !== undefined && seq <= last.seq;
    },
  };
}

export function isConfig(c: unknown): c is Config {
  const x = c as Config | null;
  return (
    !!x && typeof x === 'object' && Number.isSafeInteger(x.epoch) && Array.isArray(x.members) && Array.isArray(x.pending) && (x.adminNonce === undefined || Number.isSafeInteger(x.adminNonce)) &&
    x.members.every((m) => !!m && typeof m.id === 'string' && m.key instanceof Uint8Array && m.key.length === 32)
  );
}

export function persistOps(effect: Extract<BftEffect, { type: 'persist' }>): StorageOp[] {
  const ops: StorageOp[] = [];
  if (effect.dropSlotsUpTo !== undefined) ops.push({ type: 'deleteRange', start: SLOT_PREFIX, end: indexKey(SLOT_PREFIX, effect.dropSlotsUpTo + 1) });
  for (const r of effect.slots ?? []) ops.push({ type: 'set', key: indexKey(SLOT_PREFIX, r.seq), value: encode(r as never, RECORD_LIMITS) });
  if (effect.hard) ops.push({ type: 'set', key: HARD_KEY, value: encode(effect.hard as never, RECORD_LIMITS) });
  if (effect.stable) ops.push({ type: 'set', key: STABLE_KEY, value: encode(effect.stable as never, RECORD_LIMITS) });
  if (effect.newView) ops.push({ type: 'set', key: NEW_VIEW_KEY, value: encode(effect.newView as never, RECORD_LIMITS) });
  return ops;
}
