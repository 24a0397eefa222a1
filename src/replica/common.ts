import type { ApplyResult } from '../app/index.ts';
import { decode } from '../codec/index.ts';
import { RECORD_LIMITS } from '../wire/limits.ts';
import { bytesEqual } from '../crypto/index.ts';
import type { ReplicaMetrics, ReplicaOptions } from './types.ts';

/** What both replica runtimes (crash and Byzantine) share: options checks, stored-record decoding, metrics. */

export function newMetrics(): ReplicaMetrics {
  return {
    messagesIn: 0, messagesOut: 0, dropped: {}, requests: 0, duplicateRequests: 0, redirects: 0, proposals: 0,
    entriesApplied: 0, reads: 0, snapshotsTaken: 0, snapshotsInstalled: 0, snapshotsSent: 0, signatures: 0,
    verifications: 0, storageWrites: 0, misbehaviour: {},
  };
}

/** Our own storage: a record that does not decode means the disk is corrupt, which we refuse to paper over. */
export function decodeTrusted(bytes: Uint8Array, what: string): Record<string, unknown> {
  const r = decode(bytes, RECORD_LIMITS);
  if (!r.ok) throw new Error(`stored ${what} is corrupt: ${r.error.message}`);
  return r.value as Record<string, unknown>;
}

export function plainResult(r: ApplyResult): unknown {
  return { index: r.index, digest: r.digest, snapshot: r.snapshot, duplicate: r.duplicate };
}

export function validateOptions(o: ReplicaOptions): void {
  if (!o || typeof o !== 'object') throw new TypeError('createReplica needs an options object');
  if (!o.machine || typeof (o.machine as { transition?: unknown }).transition !== 'function') throw new TypeError('createReplica: `machine` must be an XState machine');
  if (!o.identity || !(o.identity.publicKey instanceof Uint8Array)) throw new TypeError('createReplica: `identity` must come from generateIdentity()');
  if (!o.group || !Array.isArray(o.group.members) || o.group.members.length === 0) throw new TypeError('createReplica: `group.members` must list the replicas');
  if (o.group.faultModel !== 'crash' && o.group.faultModel !== 'byzantine') throw new TypeError(`createReplica: unknown faultModel ${String(o.group.faultModel)}`);
  const ids = new Set<string>();
  for (const m of o.group.members) {
    if (typeof m.id !== 'string' || m.id === '' || !(m.publicKey instanceof Uint8Array) || m.publicKey.length !== 32) {
      throw new TypeError('createReplica: each member needs a non-empty `id` and a 32-byte `publicKey`');
    }
    if (ids.has(m.id)) throw new TypeError(`createReplica: duplicate member id ${m.id}`);
    ids.add(m.id);
  }
  if (!o.transport || typeof o.transport.send !== 'function' || typeof o.transport.onMessage !== 'function') {
    throw new TypeError('createReplica: `transport` must have send() and onMessage()');
  }
}


/**
 * Runs a replica's work one piece at a time, in order: the protocol and the executor see one
 * event at a time. A piece that throws is a bug, not bad input (that is dropped and counted):
 * the queue remembers it and refuses further work, so the replica stops rather than diverge.
 */
export class SerialQueue {
  #chain: Promise<void> = Promise.resolve();
  #failure: unknown;

  constructor(private readonly onFailure: (err: unknown) => void) {}

  get failure(): unknown {
    return this.#failure;
  }

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#chain.then(async () => {
      if (this.#failure) throw this.#failure;
      return fn();
    });
    this.#chain = run.then(
      () => undefined,
      (err) => {
        this.#failure ??= err;
        this.onFailure(err);
      },
    );
    return run;
  }

  /** A failure found outside the queued work (the protocol actor errored): stop taking work. */
  fail(err: unknown): void {
    if (this.#failure) return;
    this.#failure = err;
    this.onFailure(err);
  }

  /** Resolves once the work queued so far is done (failed or not). */
  idle(): Promise<void> {
    return this.#chain.catch(() => {});
  }
}

/**
 * This replica's member id, checked against the group: the member whose key is the identity's,
 * or `options.id`: a member's id, or with `join: true` the id of a replica being added to a
 * running group (it learns the membership later). Any other id is refused (a typo).
 */
export function resolveMemberId(options: ReplicaOptions, memberKeys: Map<string, Uint8Array>): string {
  const byKey = options.group.members.find((m) => bytesEqual(m.publicKey, options.identity.publicKey))?.id;
  const mine = options.id ?? byKey;
  const ids = options.group.members.map((m) => m.id).join(', ');
  if (!mine) throw new TypeError(`createReplica: the identity is not one of the group members (${ids}); pass \`id\` and \`join: true\` for a replica being added to a running group`);
  if (!memberKeys.has(mine)) {
    // A typo'd id would otherwise run quietly as a non-member that nobody talks to.
    if (byKey !== undefined) throw new TypeError(`createReplica: id ${mine} is not a member of the group (${ids}); this identity is member ${byKey}'s`);
    if (!options.join) throw new TypeError(`createReplica: id ${mine} is not a member of the group (${ids}); pass \`join: true\` for a replica being added to a running group`);
  }
  const key = memberKeys.get(mine);
  if (key && !bytesEqual(key, options.identity.publicKey)) throw new TypeError(`createReplica: member ${mine}'s public key is not the identity's`);
  return mine;
}
