/**
 * Helpers for the safety-review regression tests: a Byzantine core driven by hand (proofs are
 * made up, the runtime's part is played by `settle`), a "disk" that keeps what the core asked
 * to persist so a test can restart the core from it, and a single replica runtime on a virtual
 * clock whose peers are played by the test (signed bundles injected, sends recorded).
 */
import { BftCore } from '../../actors/byzantine/core.ts';
import type { Batch, BftEffect, BftMessage, Config, HardState, SentNewView, SlotRecord, StableCheckpoint, VerifiedProof } from '../../actors/byzantine/types.ts';
import { decode, encode } from '../../src/codec/index.ts';
import { generateIdentity, sha256Sync, toHex, type Identity } from '../../src/crypto/index.ts';
import { ByzantineReplica, type ReplicaTuning } from '../../src/replica/index.ts';
import { VirtualClock } from '../../src/sim/clock.ts';
import { memoryStorage, type Storage } from '../../src/storage/index.ts';
import { sealWithProof } from '../../src/wire/index.ts';
import { counter } from '../fixtures/machines.ts';

// ---- the core by hand -----------------------------------------------------------------

export const ids = ['r1', 'r2', 'r3', 'r4'];
export const group: Config = { epoch: 0, members: ids.map((id) => ({ id, key: new Uint8Array(32) })), pending: [] };
export const GENESIS: StableCheckpoint = { seq: 0, digest: 'genesis', cert: [] };

let proofCounter = 0;
/** A made-up signed bundle from `from` holding `messages` (the core never checks signatures). */
export function vp(from: string, ...messages: BftMessage[]): VerifiedProof {
  const n = proofCounter++;
  const proof = { p: new Uint8Array([n & 255, (n >> 8) & 255, (n >> 16) & 255]), s: new Uint8Array(64) } as VerifiedProof;
  Object.defineProperty(proof, 'from', { value: from, enumerable: false });
  Object.defineProperty(proof, 'messages', { value: messages, enumerable: false });
  return proof;
}

export const hashBatch = (b: Batch): string => toHex(sha256Sync(encode(b as never)));

/** What a core made durable: applied from its `persist` effects, in order, like the runtime does. */
export class Disk {
  hard: HardState = { view: 0, changing: false };
  stable: StableCheckpoint = GENESIS;
  readonly slots = new Map<number, SlotRecord>();
  newView: SentNewView | undefined;

  constructor(init: { slots?: SlotRecord[]; hard?: HardState } = {}) {
    for (const s of init.slots ?? []) this.slots.set(s.seq, s);
    if (init.hard) this.hard = init.hard;
  }

  apply(effects: BftEffect[]): void {
    for (const e of effects) {
      if (e.type !== 'persist') continue;
      for (const r of e.slots ?? []) this.slots.set(r.seq, r);
      if (e.dropSlotsUpTo !== undefined) for (const s of [...this.slots.keys()]) if (s <= e.dropSlotsUpTo) this.slots.delete(s);
      if (e.hard) this.hard = e.hard;
      if (e.stable) this.stable = e.stable;
      if (e.newView) this.newView = e.newView;
    }
  }

  /** A core (re)started from what is on this disk. */
  boot(id: string): BftCore {
    return makeCore(id, { hard: this.hard, stable: this.stable, slots: [...this.slots.values()], ...(this.newView ? { newView: this.newView } : {}) });
  }
}

export function makeCore(id: string, opts: { slots?: SlotRecord[]; hard?: HardState; stable?: StableCheckpoint; newView?: SentNewView } = {}): BftCore {
  return new BftCore({
    config: {
      id, checkpointEvery: 8, windowSize: 32, maxBatch: 64, requestTimeoutTicks: 50, viewChangeTimeoutTicks: 50, statusTicks: 5, forgetRequestTicks: 500, maxClockSkewMs: 30_000,
      hashBatch, hashCheckpoint: (c) => toHex(sha256Sync(encode({ seq: c.seq, app: c.appDigest, config: c.config, before: c.before } as never))),
    },
    group, hard: opts.hard ?? { view: 0, changing: false }, stable: opts.stable ?? GENESIS, slots: opts.slots ?? [],
    ...(opts.newView ? { newView: opts.newView } : {}),
    alreadyApplied: () => false,
  });
}

/** Feeds a message as if it came in its own signed bundle; returns the proof. */
export function deliver(core: BftCore, from: string, m: BftMessage): VerifiedProof {
  const p = vp(from, m);
  core.receive(from, m, p);
  return p;
}

/**
 * Plays the runtime's part for the core's effects: every send gets its signed proof back, and
 * persist effects go to `disk` if given. Returns every effect.
 */
export function settle(core: BftCore, disk?: Disk): BftEffect[] {
  const all: BftEffect[] = [];
  for (let i = 0; i < 20; i++) {
    const effects = core.takeEffects();
    if (!effects.length) break;
    all.push(...effects);
    disk?.apply(effects);
    for (const e of effects) if (e.type === 'send') core.signed(vp(core.id, e.message));
  }
  return all;
}

export type SendEffect = Extract<BftEffect, { type: 'send' }>;
/** The messages of this type among the send effects. */
export function sent<T extends BftMessage['type']>(effects: BftEffect[], type: T): Array<Extract<BftMessage, { type: T }>> {
  return effects.filter((e): e is SendEffect => e.type === 'send' && e.message.type === type).map((e) => e.message as Extract<BftMessage, { type: T }>);
}

// ---- one replica runtime, its peers played by the test --------------------------------

export interface SentRecord {
  to: string;
  /** The decoded bundle's messages (undefined for what is not a protocol bundle). */
  messages: BftMessage[] | undefined;
}

export interface Harness {
  replica: ByzantineReplica;
  clock: VirtualClock;
  ids: Record<string, Identity>;
  storage: Storage;
  /** Everything the replica transmitted, decoded. */
  sent: SentRecord[];
  /** A signed protocol bundle from `from` (to `to`, default everyone). */
  proof(from: string, messages: unknown[], to?: string, attachments?: Uint8Array[]): Promise<{ bytes: Uint8Array; p: Uint8Array; s?: Uint8Array }>;
  /** Delivers a signed bundle from `from` to the replica, and waits until it was handled. */
  inject(from: string, messages: unknown[], attachments?: Uint8Array[]): Promise<void>;
  start(): Promise<void>;
}

export async function memberIdentities(): Promise<Record<string, Identity>> {
  const out: Record<string, Identity> = {};
  for (const id of ids) out[id] = await generateIdentity({ seed: new Uint8Array(32).fill(id.charCodeAt(1)) });
  return out;
}

export async function harness(self: string, opts: { storage?: Storage; tuning?: Partial<ReplicaTuning>; admin?: Identity; ids?: Record<string, Identity> } = {}): Promise<Harness> {
  const keys = opts.ids ?? (await memberIdentities());
  const storage = opts.storage ?? memoryStorage();
  const clock = new VirtualClock();
  let handler: ((from: string, bytes: Uint8Array) => unknown) | undefined;
  const sentLog: SentRecord[] = [];
  const transport = {
    send(to: string, bytes: Uint8Array) {
      const env = decode(bytes);
      const payload = env.ok ? decode((env.value as { p: Uint8Array }).p) : undefined;
      sentLog.push({ to, messages: payload && payload.ok ? ((payload.value as { m?: BftMessage[] }).m ?? undefined) : undefined });
    },
    onMessage(h: (from: string, bytes: Uint8Array) => unknown) {
      handler = h;
    },
  };
  const replica = new ByzantineReplica({
    machine: counter,
    identity: keys[self]!,
    group: { faultModel: 'byzantine', members: ids.map((id) => ({ id, publicKey: keys[id]!.publicKey })), ...(opts.admin ? { admin: opts.admin.publicKey } : {}) },
    transport,
    storage,
    clock,
    tuning: { checkpointEvery: 8, windowSize: 32, statusMs: 50, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, ...opts.tuning },
  });
  const proof = (from: string, messages: unknown[], to = '*', attachments?: Uint8Array[]) => sealWithProof({ from, to, kind: 'protocol', body: messages as never }, keys[from]!, attachments);
  const inject = async (from: string, messages: unknown[], attachments?: Uint8Array[]) => {
    const s = await proof(from, messages, self, attachments);
    await handler!(from, s.bytes);
  };
  return { replica, clock, ids: keys, storage, sent: sentLog, proof, inject, start: () => replica.start() };
}

/** The fetchState requests the replica sent (to whom, from which offset). */
export function fetches(h: Harness): Array<{ to: string; offset: number }> {
  const out: Array<{ to: string; offset: number }> = [];
  for (const s of h.sent) for (const m of s.messages ?? []) if (m.type === 'fetchState') out.push({ to: s.to, offset: m.offset });
  return out;
}

/** The distinct messages of this type the replica sent (a broadcast is transmitted once per peer). */
export function sentMessages<T extends BftMessage['type']>(h: Harness, type: T): Array<Extract<BftMessage, { type: T }>> {
  const seen = new Map<string, Extract<BftMessage, { type: T }>>();
  for (const s of h.sent) for (const m of s.messages ?? []) if (m.type === type) seen.set(JSON.stringify(m), m as Extract<BftMessage, { type: T }>);
  return [...seen.values()];
}
