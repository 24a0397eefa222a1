/**
 * One sequence number's agreement state (a slot): the pre-prepare this replica accepted, the
 * votes it holds, its prepared certificate, and how it is written to storage.
 */
import type { Batch, SlotRecord, VerifiedProof } from './types.ts';

export interface Vote {
  view: number;
  digest: string;
  proof: VerifiedProof | undefined;
}

export interface Slot {
  seq: number;
  /** The accepted pre-prepare (view -1: none yet). */
  view: number;
  digest: string | null;
  batch: Batch | undefined;
  ppProof: VerifiedProof | undefined;
  /** A pre-prepare waiting for its batch or for requests this replica has not received yet. */
  waiting: { view: number; digest: string; proof: VerifiedProof | undefined; since: number } | undefined;
  /** Tick its pre-prepare was accepted (votes are repeated only for slots unfinished for a while). */
  since: number;
  prepares: Map<string, Vote>;
  commits: Map<string, Vote>;
  sentCommit: boolean;
  /** The highest-view prepared certificate this replica holds for this seq. */
  cert: { view: number; digest: string; prePrepare: VerifiedProof; prepares: VerifiedProof[]; batch: Batch } | undefined;
  committed: boolean;
  /** Loaded from storage after a restart (this replica voted in it, maybe executed it, before). */
  recovered: boolean;
  /** Other backups' prepare proofs that made it prepared (for its certificate). */
  preparedBy: VerifiedProof[];
  /** Replicas we told about the pre-prepare their prepare disagreed with. */
  relayed: Set<string>;
}

export function emptySlot(seq: number, since: number): Slot {
  return { seq, view: -1, digest: null, batch: undefined, ppProof: undefined, waiting: undefined, since, prepares: new Map(), commits: new Map(), sentCommit: false, cert: undefined, committed: false, recovered: false, preparedBy: [], relayed: new Set() };
}

/** What storage keeps of a slot: the accepted pre-prepare and the prepared certificate. */
export function slotRecord(slot: Slot): SlotRecord {
  const record: SlotRecord = { seq: slot.seq, view: slot.view, digest: slot.digest!, batch: slot.batch! };
  if (slot.ppProof) record.prePrepare = slot.ppProof;
  if (slot.cert) record.prepared = { view: slot.cert.view, digest: slot.cert.digest, prePrepare: slot.cert.prePrepare, prepares: slot.cert.prepares };
  return record;
}
