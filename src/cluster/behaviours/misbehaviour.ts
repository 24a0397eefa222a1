/**
 * What a misbehaving replica sends (DESIGN.md §5): each behaviour rewrites, multiplies, delays
 * or withholds the signed bundles and client messages an honest replica hands its egress
 * (ReplicaOptions.egress). `wrong-result` acts on execution instead (wrong-result.ts); `twin` is
 * arranged by the local cluster (a second node with the same keys); here both are just names.
 * The protocol core stays correct, so a replica switched back to 'correct' behaves again.
 */
import type { Batch, BftMessage, Proof } from '../../../actors/byzantine/index.ts';
import type { Identity } from '../../crypto/index.ts';
import { decode, encode } from '../../codec/index.ts';
import { sha256Sync, toHex } from '../../crypto/index.ts';
import type { OutgoingBundle, OutgoingToClient, Sending } from '../../replica/types.ts';
// Seeded like the simulation, so a scenario with a misbehaving replica replays exactly.
import { Prng } from '../../sim/prng.ts';
import { BROADCAST, RECORD_LIMITS, rewrap, seal, sealWithProof } from '../../wire/index.ts';

/** Simulated faults may build messages over the limit: receivers drop them as too large. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export const BEHAVIOURS = ['correct', 'silent', 'equivocate', 'forge', 'corrupt-signatures', 'wrong-result', 'replay', 'slow', 'twin', 'flood', 'substitute'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

/**
 * `substitute`: as primary, pre-prepares to every backup a made-up version of each client
 * request it orders (the same seq, another event): no backup holds it, nobody can vouch for it.
 *
 * `flood`: besides its correct traffic, with each status it sends a peer, the member sends
 * that peer validly signed abuse: statuses claiming it executed nothing (many in one bundle
 * and some alone), view changes quoting many signed proofs, stale view changes, and
 * fetchState demands for its latest checkpoint.
 */
export type FloodKind = 'status' | 'proofs' | 'fetch';
export interface FloodOptions {
  kinds: FloodKind[];
  /** Statuses in the one big bundle. */
  statuses: number;
  /** Bundles of one status (and of one stale view change) each. */
  bundles: number;
  /** Distinct signed proofs quoted by the view change. */
  proofs: number;
  /** fetchState bundles. */
  fetches: number;
}
export const DEFAULT_FLOOD: FloodOptions = { kinds: ['status', 'proofs', 'fetch'], statuses: 256, bundles: 4, proofs: 64, fetches: 8 };

export class Misbehaviour {
  behaviour: Behaviour = 'correct';
  #slowMs = 0;
  readonly #random: Prng;
  /** Recently sent envelopes, for `replay`. */
  readonly #history: Array<{ to: string; bytes: Uint8Array }> = [];
  #flood: FloodOptions = DEFAULT_FLOOD;
  /** `flood`: our latest checkpoint (what we ask peers' state of), and pre-signed proofs to quote. */
  #checkpoint: { seq: number; digest: string } | undefined;
  #pool: Proof[] = [];
  #poolNext = 0;

  constructor(
    readonly id: string,
    seed: number,
  ) {
    this.#random = new Prng(seed ^ 0x5eed);
  }

  /** Settles once the behaviour is ready (`flood`: the proofs it quotes are signed). */
  ready: Promise<void> = Promise.resolve();

  set(behaviour: Behaviour, requestTimeoutMs: number, flood: Partial<FloodOptions> = {}, identity?: Identity): void {
    if (!BEHAVIOURS.includes(behaviour)) throw new RangeError(`unknown behaviour ${String(behaviour)}; one of ${BEHAVIOURS.join(', ')}`);
    this.behaviour = behaviour;
    this.#flood = { ...DEFAULT_FLOOD, ...flood };
    if (behaviour === 'flood' && this.#flood.kinds.includes('proofs')) this.ready = this.#fillPool(this.#flood.proofs * 2, identity);
    // Just under the backups' patience: requests complete, slowly, without a view change.
    this.#slowMs = Math.floor(requestTimeoutMs * 0.8);
  }

  /** What actually goes out for one signed bundle to one recipient. */
  async outgoing(out: OutgoingBundle, identity: Identity, others: string[]): Promise<Sending[]> {
    const plain = [{ bytes: out.bytes, delayMs: 0 }];
    // For `flood`, which may start any time: the latest checkpoint, whose state it then demands.
    for (const m of out.messages) if (m.type === 'checkpoint') this.#checkpoint = { seq: m.seq, digest: m.digest };
    switch (this.behaviour) {
      case 'silent':
        return [];
      case 'corrupt-signatures': {
        const s = out.s.slice();
        s[this.#random.int(64)]! ^= 1 << this.#random.int(8);
        return [{ bytes: rewrap(out.p, s, out.attachments), delayMs: 0 }];
      }
      case 'forge': {
        // The same votes in another member's name, signed with our own key: receivers must refuse them.
        const victim = others.length ? others[this.#random.int(others.length)]! : this.id;
        const forged = await seal({ from: victim, to: out.to, kind: 'protocol', body: out.messages }, identity, out.attachments, NO_LIMIT);
        return [...plain, { bytes: forged, delayMs: 0 }];
      }
      case 'replay': {
        const old = this.#history.filter((h) => h.to === out.to);
        this.#remember(out.to, out.bytes);
        if (old.length === 0) return plain;
        return [...plain, { bytes: old[this.#random.int(old.length)]!.bytes, delayMs: this.#random.int(50) }];
      }
      case 'slow':
        return out.messages.some((m) => m.type === 'prePrepare') ? [{ bytes: out.bytes, delayMs: this.#slowMs }] : plain;
      case 'flood': {
        const status = out.messages.find((m) => m.type === 'status');
        return status && status.type === 'status' ? [...plain, ...(await this.#storm(out.to, status.view, identity))] : plain;
      }
      case 'substitute':
        return out.messages.some((m) => m.type === 'prePrepare') ? [{ bytes: await this.#conflicting(out, identity, madeUp), delayMs: 0 }] : plain;
      case 'equivocate':
        return out.messages.some((m) => m.type === 'prePrepare') && this.#secondHalf(out.to, others) ? [{ bytes: await this.#conflicting(out, identity), delayMs: 0 }] : plain;
      default:
        return plain;
    }
  }

  /** What goes to a client (replies and read replies are link-authenticated, not signed). */
  async outgoingToClient({ to, kind, body, bytes, others }: OutgoingToClient): Promise<Sending[]> {
    if (this.behaviour === 'silent') return [];
    if (this.behaviour === 'forge' && others.length) {
      const victim = others[this.#random.int(others.length)]!;
      return [{ bytes, delayMs: 0 }, { bytes: await seal({ from: victim, to, kind, body }, undefined, undefined, NO_LIMIT), delayMs: 0 }];
    }
    return [{ bytes, delayMs: 0 }];
  }

  /** One round of `flood` abuse to one peer, every bundle validly signed by this member. */
  async #storm(to: string, view: number, identity: Identity): Promise<Sending[]> {
    const f = this.#flood;
    const out: Sending[] = [];
    const send = async (body: BftMessage[]) => out.push({ bytes: (await sealWithProof({ from: this.id, to, kind: 'protocol', body }, identity)).bytes, delayMs: 0 });
    if (f.kinds.includes('status')) {
      const status: BftMessage = { type: 'status', view, executed: 0, stable: 0, changing: false };
      if (f.statuses > 1) await send(Array.from({ length: f.statuses }, () => status));
      for (let i = 0; i < f.bundles; i++) await send([status]);
    }
    if (f.kinds.includes('proofs')) {
      // One prepared certificate quoting every proof (the sender signed them all): only a full check refuses it.
      const proofs = await this.#freshProofs(f.proofs, identity);
      const prepared = [{ seq: 1, view, digest: 'flood', prePrepare: 0, prepares: proofs.map((_, i) => i).slice(1) }];
      await send([{ type: 'viewChange', view: view + 1, stable: { seq: 0, digest: 'genesis', cert: [] }, prepared, proofs: proofs as never }]);
      // Stale view changes: a primary that sent the new view answers each with it.
      for (let i = 0; i < f.bundles; i++) await send([{ type: 'viewChange', view, stable: { seq: 0, digest: 'genesis', cert: [] }, prepared: [], proofs: [] }]);
    }
    const cp = this.#checkpoint;
    if (f.kinds.includes('fetch') && cp) for (let i = 0; i < f.fetches; i++) await send([{ type: 'fetchState', seq: cp.seq, digest: cp.digest, offset: 0 }]);
    return out;
  }

  /** Signs proofs to quote until the pool holds `size` (256 at a time, in parallel). */
  async #fillPool(size: number, identity: Identity | undefined): Promise<void> {
    if (!identity) return;
    while (this.#pool.length < size) {
      const from = this.#pool.length;
      const batch = Array.from({ length: Math.min(256, size - from) }, (_, i) =>
        sealWithProof({ from: this.id, to: BROADCAST, kind: 'protocol', body: [{ type: 'prepare', view: 0, seq: from + i + 1, digest: 'flood' }] }, identity),
      );
      for (const s of await Promise.all(batch)) this.#pool.push({ p: s.p, s: s.s! });
    }
  }

  /** `n` proofs signed by us, distinct from the last round's (a pool twice as big, signed once, cycled). */
  async #freshProofs(n: number, identity: Identity): Promise<Proof[]> {
    await this.ready;
    await this.#fillPool(n * 2, identity);
    const out: Proof[] = [];
    for (let i = 0; i < n; i++) out.push(this.#pool[this.#poolNext++ % this.#pool.length]!);
    return out;
  }

  #remember(to: string, bytes: Uint8Array): void {
    this.#history.push({ to, bytes });
    if (this.#history.length > 64) this.#history.shift();
  }

  /** Equivocation splits the backups: the later half (by id) gets other batches. */
  #secondHalf(to: string, others: string[]): boolean {
    const sorted = [...others].sort();
    return sorted.indexOf(to) >= Math.floor(sorted.length / 2);
  }

  /** The same pre-prepares for other batches (by default a different time stamp), validly signed. */
  async #conflicting(out: OutgoingBundle, identity: Identity, alter: (batch: Batch) => Batch = (b) => ({ ...b, time: b.time + 1 })): Promise<Uint8Array> {
    const attachments: Uint8Array[] = [];
    const digests = new Map<string, string>();
    for (const [digest, batch] of out.batches) {
      const altered = encode(alter(batch) as never, RECORD_LIMITS);
      digests.set(digest, toHex(sha256Sync(altered)));
      attachments.push(altered);
    }
    const messages = out.messages.map((m) => (m.type === 'prePrepare' && digests.has(m.digest) ? { ...m, digest: digests.get(m.digest)! } : m));
    const payload = decode(out.p);
    const to = payload.ok ? String((payload.value as { t: string }).t) : BROADCAST;
    return (await sealWithProof({ from: this.id, to, kind: 'protocol', body: messages }, identity, attachments, NO_LIMIT)).bytes;
  }
}

/** `substitute`: every client request in the batch with an event its client never sent (session openings, whose event is fixed, are kept). */
function madeUp(batch: Batch): Batch {
  return { ...batch, items: batch.items.map((item) => (item.k === 'req' && item.session !== 0 ? { ...item, event: { type: 'MADE_UP', original: item.event } } : item)) as Batch['items'] };
}
