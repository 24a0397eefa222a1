import { canonicalEqual } from '../../src/codec/index.ts';
import type { BftCore } from './core.ts';
import { weakQuorum } from './quorum.ts';
import type { Batch, BatchItem, Config } from './types.ts';

/**
 * Which client requests a backup may prepare.
 *
 * Requests are authenticated by the link from their client, not signed, so a replica knows
 * only what it received itself: nothing it holds proves to another replica what a client
 * sent. A correct replica therefore prepares a request only if
 *
 * - it received that very request (same client, seq and event) from the client, or
 * - the request is vouched for: the primary's pre-prepare and the prepares of f other backups
 *   for the same batch. Of those f+1 replicas at least one is correct, and a correct primary
 *   orders only requests it received, a correct backup prepares only requests it received or
 *   saw vouched for; so some correct replica received it from the client.
 *
 * The second rule covers a request this backup never received (lost, or a client that does not
 * know a newly added replica yet) and one it holds in another version: a client that sent
 * event A to some replicas and event B to others for the same seq (it equivocated). Either
 * version is the client's own; the primary orders the one it received, and the group follows
 * it as soon as f other backups hold the same version, with no view change. Only when fewer
 * than f+1 replicas (the primary among them) hold the primary's version does its batch wait
 * until its pre-prepare times out (requestTimeout) and changes the view; the next primary orders
 * its own version. A faulty primary that makes up versions of honest requests is voted out so. Once a
 * (client, seq) is executed, every other version still held is dropped (it is the same
 * request for exactly-once purposes), and held versions are forgotten `forgetRequestTicks`
 * after they were first received, however many view changes come in between.
 */
export function vouched(otherBackupPrepares: number, config: Config): boolean {
  return 1 + otherBackupPrepares >= weakQuorum(config.members.length);
}

const MAX_BARRED = 4096;

/**
 * Requests a replica dropped at a view change, with the tick until which a new receipt of the
 * same (client, seq) is ignored (when it would have been forgotten anyway).
 *
 * Dropped are the versions whose ordering stalled in the last view in a way an equivocating
 * client causes: one this replica held while the primary ordered another version (contended),
 * and, at the old primary, the requests it ordered that did not commit. When no version of a
 * (client, seq) reaches f+1 replicas (every replica got its own), the old view's batch could
 * not be vouched for; carried over, each new primary would order its own version and stall in
 * turn. Dropped, the next primary orders only the rest and the group goes on after one view
 * change; an equivocating client that retries the same seq is ignored until it would have been
 * forgotten. An honest client loses nothing: its request is still held by the replicas that
 * saw no conflict (a replica that dropped it prepares it vouched for), and a faulty primary
 * that made one up to frame it delays it by at most the forget time.
 */
export class RequestBar {
  readonly #until = new Map<string, number>();
  readonly #suspects = new Map<string, number>();
  /** Per client, the replicas that ordered a version contrary to ours, until when that counts. */
  readonly #contradictions = new Map<string, Map<string, number>>();

  /**
   * A client proven to send conflicting versions (a version contrary to ours was vouched for or
   * committed, or f+1 distinct primaries ordered one; never one primary's word): until `until`, its requests are not ordered by this replica as primary,
   * and not held against a primary that does not order them. Each client then costs the group
   * at most one view change per forget interval, not one per seq. A faulty primary cannot
   * frame an honest client: f faulty primaries are not f+1.
   */
  suspect(client: string, until: number): void {
    if (this.#suspects.size >= MAX_BARRED) this.#suspects.delete(this.#suspects.keys().next().value!);
    this.#suspects.set(client, Math.max(until, this.#suspects.get(client) ?? 0));
  }

  /**
   * `by` (a primary) ordered a version of `client`'s request other than the one we hold. One
   * primary's word proves nothing (it may have made the version up); once `weak` (f+1) distinct
   * replicas have, one of them is correct and received it: the client equivocated. Returns
   * whether the client is now proven so (the caller suspects it).
   */
  contradicted(client: string, by: string, until: number, now: number, weak: number): boolean {
    let seen = this.#contradictions.get(client);
    if (!seen) {
      if (this.#contradictions.size >= MAX_BARRED) this.#contradictions.delete(this.#contradictions.keys().next().value!);
      this.#contradictions.set(client, (seen = new Map()));
    }
    seen.set(by, until);
    let n = 0;
    for (const u of seen.values()) if (now <= u) n++;
    return n >= weak;
  }

  suspected(client: string, now: number): boolean {
    const until = this.#suspects.get(client);
    return until !== undefined && now <= until;
  }

  bar(key: string, until: number): void {
    if (this.#until.size >= MAX_BARRED) this.#until.delete(this.#until.keys().next().value!);
    this.#until.set(key, until);
  }

  has(key: string, now: number): boolean {
    const until = this.#until.get(key);
    return until !== undefined && now <= until;
  }

  prune(now: number): void {
    for (const [key, until] of this.#until) if (now > until) this.#until.delete(key);
    for (const [client, until] of this.#suspects) if (now > until) this.#suspects.delete(client);
    for (const [client, seen] of this.#contradictions) {
      for (const [by, until] of seen) if (now > until) seen.delete(by);
      if (seen.size === 0) this.#contradictions.delete(client);
    }
  }
}

/** A client request (or ordered read, or reconfiguration) this replica holds. */
export interface Known {
  item: BatchItem;
  /** Tick the request timer (blaming the primary) counts from: reset when a new view starts. */
  since: number;
  /** Tick it was first received: forgetting counts from here, so view changes cannot keep it forever. */
  born: number;
  proposed: boolean;
  /** This replica holds another version than one a pre-prepare ordered (the client equivocated, or the primary lies). */
  contended?: boolean;
  /** Ordered by this replica as primary. */
  ownProposal?: boolean;
}

/** The requests a replica holds, received from their clients, and the ones it bars. */
export class RequestPool {
  readonly known = new Map<string, Known>();
  /** Requests dropped at a view change: receipts ignored until they would have been forgotten. */
  readonly barred = new RequestBar();

  constructor(private readonly core: BftCore) {}

  /** A request received from its client; returns whether it is new (pre-prepares waiting for it may go on). */
  add(item: BatchItem): boolean {
    const c = this.core;
    const key = itemKey(item);
    if (key === undefined || this.known.has(key) || this.barred.has(key, c.tickCount)) return false;
    if (item.k === 'req' && c.alreadyApplied(item.client, item.session, item.seq)) return false;
    this.known.set(key, { item, since: c.tickCount, born: c.tickCount, proposed: false });
    return true;
  }

  /** Clients whose request in this vouched-for (or committed) batch differs from the version we hold: they equivocated. */
  suspectContended(batch: Batch): void {
    const c = this.core;
    for (const item of batch.items) {
      if (item.k !== 'req') continue;
      const k = this.known.get(itemKey(item)!);
      if (k && !canonicalEqual((k.item as typeof item).event as never, item.event as never)) this.barred.suspect(item.client, c.tickCount + c.cfg.forgetRequestTicks);
    }
  }

  /**
   * A new view is installed: requests whose ordering stalled in the last view in a way an
   * equivocating client causes are dropped and barred (`unvouched`: clients of our own batches
   * as primary that no backup prepared); the rest get a fresh request timer.
   */
  carryIntoView(unvouched: Set<string>): void {
    const c = this.core;
    for (const [key, k] of this.known) {
      if ((k.contended && k.item.k === 'req' && this.barred.suspected(k.item.client, c.tickCount)) || k.ownProposal) {
        if (k.ownProposal && k.item.k === 'req' && unvouched.has(k.item.client)) this.barred.suspect(k.item.client, c.tickCount + c.cfg.forgetRequestTicks);
        this.known.delete(key);
        this.barred.bar(key, k.born + c.cfg.forgetRequestTicks);
        continue;
      }
      k.since = c.tickCount;
      k.proposed = false;
    }
  }
}

/** A client item's identity (two copies of one request are the same item). */
export function itemKey(item: BatchItem): string | undefined {
  if (item.k === 'req') return `req:${item.client}:${item.session}:${item.seq}`;
  if (item.k === 'read') return `read:${item.client}:${item.nonce}`;
  if (item.k === 'cfg') {
    const m = item.cmd.messages?.[0];
    return m && m.type === 'reconfigure' ? `cfg:${m.nonce}` : undefined;
  }
  return undefined;
}
