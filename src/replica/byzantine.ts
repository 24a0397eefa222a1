import {
  byzantineProtocolMachine,
  batchProofs,
  bundleAbuse,
  GENESIS_DIGEST,
  nestedProofs,
  validateBatch,
  validateBundle,
  type Batch,
  type BatchItem,
  type BftCore,
  type BftEffect,
  type BftMessage,
  type Proof,
} from '../../actors/byzantine/index.ts';
import type { ApplyResult } from '../app/index.ts';
import { decode, encode } from '../codec/index.ts';
import { sha256Sync, toHex, verify } from '../crypto/index.ts';
import { indexKey } from '../storage/index.ts';
import { BROADCAST, RECORD_LIMITS, rewrap, sealWithProof, wireLimits, type WireKind, type WireMessage } from '../wire/index.ts';
import { ReplicaRuntime, type ProtocolHooks } from './host.ts';
import { ADMIN, asVerified, ProofCheck, VERIFIED_CACHE } from './byzantine/proofs.ts';
import { loadProtocolInput, persistOps, SNAPSHOT_PREFIX, type CheckpointRecord } from './byzantine/records.ts';
import { StateTransfer } from './byzantine/state-transfer.ts';
import { addToGroups, referencedDigests, type OutGroup } from './byzantine/bundles.ts';
import { implausible, othersFirst } from './peer-budget.ts';
import { sealBundle } from './egress.ts';
import { admitRequest, answerOf, parseRead, PendingReads } from './requests.ts';
import { parseReconfigureRequest, readReconfiguration, type ReconfigureAnswer } from './reconfiguration.ts';
import { drainEffects, type EffectModel } from './pipeline.ts';
import type { ReplicaOptions, ReplicaStatus } from './types.ts';

/**
 * A replica of the Byzantine-fault (PBFT-style) protocol: drives the protocol statechart with
 * a transport, storage and clock, and runs the application statechart on committed batches.
 *
 * Ingress checks everything before the protocol sees it: size, decoding, the sender's
 * signature over the bundle, the shape of every message, the signature of every proof
 * nested in it, and each attached batch's digest. Egress signs one bundle per recipient set
 * and instant (votes travel together), so the crypto is paid per batch, not per request.
 * Clients send every request to every replica and every replica answers; the client votes.
 */
export class ByzantineReplica extends ReplicaRuntime<typeof byzantineProtocolMachine> {
  /** Messages waiting to be signed: sent together once the work queued before them is done. */
  #outbox: Array<Extract<BftEffect, { type: 'send' }>> = [];
  /** Everything that arrives in one instant goes into one batch. */
  readonly #scheduleFlush: () => void;
  /**
   * The outbox is signed after the work already queued (messages being verified, a burst of
   * requests): under load one bundle then carries the votes of many slots, so signatures and
   * verifications per request fall as the load grows.
   */
  readonly #scheduleOutbox: () => void;
  /** Quoted proofs, checked once each. */
  readonly #proofs: ProofCheck;
  /** Signed bundles just taken (key → ms): the later envelopes of one bundle bring only attachments. */
  readonly #bundlesTaken = new Map<string, number>();
  readonly #reads = new PendingReads();
  /** Fetching a checkpoint's state from the others, and serving ours. */
  readonly #stateTransfer: StateTransfer;
  /** Boundaries executed in this drain whose checkpoint the core still has to sign. */
  #boundaries: Array<{ seq: number; appDigest: string }> = [];

  constructor(options: ReplicaOptions) {
    super(options, options?.group?.admin ? [[ADMIN, options.group.admin]] : []);
    if (this.id === ADMIN) throw new TypeError(`createReplica: '${ADMIN}' is reserved for the group's admin key`);
    this.#proofs = new ProofCheck(this.host, () => this.#core()!);
    this.#stateTransfer = new StateTransfer(this.host, () => this.#core()!, (to, m) => this.#sendAlone(to, m), (what) => this.#abuse(what));
    this.#scheduleFlush = this.host.endOfInstant(async () => {
      this.host.actor!.send({ type: 'flush', now: this.host.clock.now() });
      await this.#drain();
    });
    this.#scheduleOutbox = this.host.endOfInstant(async () => {
      if (this.#outbox.length === 0) return;
      const groups: OutGroup[] = [];
      for (const effect of this.#outbox) addToGroups(groups, effect);
      this.#outbox = [];
      await this.#transmitGroups(groups);
      await this.#drain();
    });
  }

  protected hooks(): ProtocolHooks<typeof byzantineProtocolMachine> {
    return { machine: byzantineProtocolMachine, load: () => loadProtocolInput(this.host, this.#proofs), receive: (from, bytes) => this.#receive(from, bytes), drain: () => this.#drain(), tick: (now) => this.#tick(now) };
  }

  status(): ReplicaStatus {
    const core = this.#core();
    return {
      id: this.id,
      faultModel: 'byzantine',
      phase: core ? core.phase : 'stopped',
      term: core?.view ?? 0,
      view: core?.view ?? 0,
      leader: core ? core.primary : null,
      commitIndex: core?.committedSeq ?? 0,
      appliedIndex: this.host.executor.appliedIndex,
      executedSeq: core?.executed ?? 0,
      stableSeq: core?.stable.seq ?? 0,
      members: core ? core.group.members.map((m) => m.id) : this.host.options.group.members.map((m) => m.id),
      learners: [],
      excluded: core ? [...core.excluded] : [],
      snapshotIndex: core?.stable.seq ?? 0,
      digest: this.host.executor.digest,
      running: this.host.running,
      ...this.host.networkStatus(),
    };
  }

  /** Lets this replica accept signed messages from a replica the group is adding. */
  knowMember(id: string, publicKey: Uint8Array): void {
    if (id === ADMIN) return;
    this.host.learnMember(id, publicKey);
  }

  /** An admin-signed reconfiguration (see `signReconfiguration`): ordered like a request. */
  submitReconfiguration(command: Proof): Promise<string | null> {
    return this.host.enqueue(() => this.#reconfigure(command));
  }

  async #reconfigure(command: Proof): Promise<string | null> {
    // Shape and nonce first, as in the crash model; the signature through the proof cache.
    const change = readReconfiguration(command, this.host.options.group.admin, this.host.tuning.maxMessageBytes, this.#core()!.group.adminNonce);
    if (typeof change === 'string') return change;
    const cmd = await this.#proofs.verify(command, 'admin');
    if (!cmd || cmd.from !== ADMIN) return 'the command is not signed by the group admin';
    this.host.actor!.send({ type: 'request', item: { k: 'cfg', cmd } });
    this.#scheduleFlush();
    await this.#drain();
    return null;
  }

  /** A `reconfigure` message (any sender: the admin's signature authorizes it), answered taken or refused. */
  async #onReconfigure(from: string, body: unknown): Promise<void> {
    const req = parseReconfigureRequest(body);
    if (!req) return this.host.drop('malformed');
    const refused = await this.#reconfigure(req.command);
    if (refused !== null) this.host.drop('bad-reconfiguration');
    const answer: ReconfigureAnswer = refused === null ? { id: req.id, accepted: true } : { id: req.id, accepted: false, reason: refused };
    return this.#sendToClient(from, 'reconfigureReply', answer);
  }

  // ---- ingress ------------------------------------------------------------------------

  #receive(from: string, bytes: Uint8Array): Promise<void> {
    // The admin signs commands, never bundles: its key is checked only inside submitReconfiguration.
    const memberKey = (id: string) => (id === ADMIN ? undefined : this.host.memberKeys.get(id));
    return this.host.receive(from, bytes, memberKey, (r) => {
      const msg = r.message;
      switch (msg.kind) {
        case 'protocol':
          return this.#onBundle(msg, r.proof!, r.attachments);
        case 'request':
          return this.#onRequest(msg.from, msg.body);
        case 'read':
          return this.#onRead(msg.from, msg.body);
        case 'status':
          return this.host.answerStatus(msg, () => this.status(), () => this.#otherMembers());
        case 'reconfigure':
          return this.#onReconfigure(msg.from, msg.body);
        default:
          return this.host.drop('unexpected-kind');
      }
    });
  }

  async #onBundle(msg: WireMessage, outer: Proof, attachments: Uint8Array[]): Promise<void> {
    const validated = validateBundle(msg.body);
    if (typeof validated === 'string') return this.host.drop('malformed');
    // Cheap checks first: a signed bundle holding more than the protocol sends, or quoting
    // proofs that cannot hold, costs no verification and is counted against its sender.
    const core = this.#core()!;
    const abuse = bundleAbuse(validated, { signers: this.host.memberKeys.size, windowSize: this.host.tuning.windowSize });
    if (abuse) return this.#abuse(abuse);
    // A bundle whose batches need several envelopes repeats its signed messages in each: the core
    // takes them once (else a correct sender's statuses count as a flood). Only envelopes that carry
    // batches (a bare repeat is abuse, counted as such), and only within half a
    // status period, so a retransmission (the same bytes, signatures being deterministic) still counts.
    const key = this.#proofs.cacheKey(outer);
    const now = this.host.clock.now();
    const taken = this.#bundlesTaken.get(key);
    const repeat = attachments.length > 0 && taken !== undefined && now - taken < this.host.tuning.statusMs / 2;
    const messages: BftMessage[] = [];
    for (const m of repeat ? [] : validated) {
      // Only the view number of a view change or new view the core would not look at matters.
      if (m.type === 'viewChange' && !core.viewChangeWanted(msg.from, m.view)) {
        messages.push({ type: 'viewChange', view: m.view, stable: { seq: 0, digest: GENESIS_DIGEST, cert: [] }, prepared: [], proofs: [] });
        continue;
      }
      if (m.type === 'newView' && !core.newViewWanted(m.view)) continue;
      const problem = implausible(m, msg.from, { config: core.group, configFor: (seq) => core.configFor(seq), windowSize: this.host.tuning.windowSize, peek: (p) => this.#proofs.peek(p, 'votes') });
      if (problem) return this.#abuse(problem);
      for (const { proof, content } of othersFirst(nestedProofs(m), msg.from, (p) => this.#proofs.peek(p, 'votes'))) {
        if (!(await this.#proofs.verify(proof, content))) return this.host.drop('bad-proof');
      }
      messages.push(m);
    }
    if (!repeat) {
      if (this.#bundlesTaken.size >= VERIFIED_CACHE) this.#bundlesTaken.delete(this.#bundlesTaken.keys().next().value!);
      this.#bundlesTaken.delete(key);
      this.#bundlesTaken.set(key, now);
    }
    const proof = asVerified(outer, msg.from, validated);
    this.#proofs.remember(outer, true);
    // Only batches the messages refer to are kept (others would be memory for nothing).
    const wanted = referencedDigests(validated);
    for (const bytes of attachments) {
      const digest = toHex(sha256Sync(bytes));
      if (!wanted.has(digest)) {
        this.host.drop('unreferenced-batch');
        continue;
      }
      const batch = await this.#openBatch(bytes);
      if (!batch) return this.host.drop('bad-batch');
      this.host.actor!.send({ type: 'batch', digest, batch });
    }
    for (const m of repeat ? [] : messages) {
      if (m.type === 'fetchState') await this.#stateTransfer.demand(msg.from, m);
      else if (m.type === 'stateChunk') await this.#stateTransfer.receive(msg.from, m);
      else this.host.actor!.send({ type: 'message', from: msg.from, message: m, proof });
    }
    await this.#drain();
  }

  async #openBatch(bytes: Uint8Array): Promise<Batch | undefined> {
    const d = decode(bytes, wireLimits(this.host.tuning.maxMessageBytes));
    if (!d.ok) return undefined;
    const batch = validateBatch(d.value);
    if (typeof batch === 'string') return undefined;
    for (const { proof, content } of batchProofs(batch)) if (!(await this.#proofs.verify(proof, content))) return undefined;
    return batch;
  }

  /** Abuse by an authenticated member: dropped, and counted by reason (the text before ':'). */
  #abuse(what: string): void {
    this.host.drop('abusive');
    const key = what.split(':')[0]!;
    this.host.metrics.misbehaviour[key] = (this.host.metrics.misbehaviour[key] ?? 0) + 1;
  }

  async #onRequest(client: string, body: unknown): Promise<void> {
    const a = admitRequest(this.host, client, body);
    if (!a) return;
    if ('answer' in a) return this.#sendToClient(client, a.answer.kind, a.answer.body);
    if ('cached' in a) return this.#answer(client, a.session, a.seq, a.cached);
    const { session, seq, event, snapshot } = a.request;
    const item: BatchItem = { k: 'req', client, session, seq, event: event as Extract<BatchItem, { k: 'req' }>['event'], ...(snapshot === false ? { snapshot } : {}) };
    this.host.actor!.send({ type: 'request', item });
    this.#scheduleFlush();
  }

  async #onRead(client: string, body: unknown): Promise<void> {
    const read = parseRead(body);
    if (!read) return this.host.drop('malformed');
    this.host.metrics.reads++;
    if (read.ordered) {
      this.host.actor!.send({ type: 'request', item: { k: 'read', client, nonce: read.nonce } });
      this.#scheduleFlush();
      return;
    }
    this.host.actor!.send({ type: 'read', ids: [this.#reads.add(client, read.nonce)] });
    await this.#drain();
  }


  // ---- effects ------------------------------------------------------------------------

  /** Carries out the protocol's effects in order until it has nothing more to say (pipeline.ts). */
  #drain(): Promise<void> {
    return drainEffects(this.#effects, this.host.storage, this.host.metrics);
  }

  /** The Byzantine model's side of the effect loop. */
  readonly #effects: EffectModel<BftEffect> = {
    take: () => this.#core()!.takeEffects(),
    idle: () => {
      // A boundary executed in this drain: the core signs its checkpoint now.
      const b = this.#boundaries.shift();
      if (!b) return false;
      this.host.actor!.send({ type: 'boundaryExecuted', seq: b.seq, appDigest: b.appDigest });
      return true;
    },
    persistOps: (effect) => persistOps(effect as Extract<BftEffect, { type: 'persist' }>),
    // Sends wait in the outbox (after every write before them is durable) and go out together.
    send: async (effects) => {
      this.#outbox.push(...(effects as Array<Extract<BftEffect, { type: 'send' }>>));
      this.#scheduleOutbox();
    },
    carryOut: (effect) => this.#carryOut(effect as Exclude<BftEffect, { type: 'persist' } | { type: 'send' }>),
  };

  /**
   * Signs one bundle per group, transmits it in order, and tells the core its own proof. The
   * batches a bundle refers to go beside it; when they do not all fit in one message (a view
   * change or catch-up naming many large batches), the same signed bundle goes again with the
   * rest, in as many envelopes as needed (see batch-size.ts).
   */
  async #transmitGroups(groups: OutGroup[]): Promise<void> {
    const max = this.host.tuning.maxMessageBytes;
    const sealed = await Promise.all(groups.map((g) => sealBundle(this.id, g.to.length === 1 ? g.to[0]! : BROADCAST, g.messages, g.batches, this.host.options.identity, max, this.host.metrics)));
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      const s = sealed[i];
      if (!s) continue;
      this.#proofs.remember({ p: s.p, s: s.s }, true);
      this.host.actor!.send({ type: 'signed', proof: asVerified({ p: s.p, s: s.s }, this.id, g.messages) });
      const rewrite = this.host.options.egress?.bundle;
      for (const e of s.envelopes) {
        const bytes = rewrap(s.p, s.s, e.attachments, max);
        if (!rewrite) {
          for (const to of g.to) this.host.transmit(to, bytes);
          continue;
        }
        // An egress seam (tracing, simulated behaviours) sees each envelope as it would go out.
        const batches = new Map(e.digests.map((d) => [d, g.batches.get(d)!]));
        for (const to of g.to) {
          const variants = await rewrite({ to, messages: g.messages, bytes, p: s.p, s: s.s, attachments: e.attachments, batches, others: this.#otherMembers() });
          for (const v of variants) this.host.transmit(to, v.bytes, v.delayMs);
        }
      }
    }
  }

  #otherMembers(): string[] {
    return this.#core()?.group.members.map((m) => m.id).filter((id) => id !== this.id) ?? [];
  }

  async #carryOut(effect: Exclude<BftEffect, { type: 'persist' } | { type: 'send' }>): Promise<void> {
    switch (effect.type) {
      case 'execute':
        await this.#execute(effect.seq, effect.batch, effect.boundary);
        // The core's next commits carry this digest: wrong execution is exposed within a batch or two.
        this.host.actor!.send({ type: 'executed', seq: effect.seq, appDigest: this.host.executor.digest });
        return;
      case 'readsReady':
        for (const id of effect.ids) {
          const w = this.#reads.take(id);
          if (!w) continue;
          await this.#answerRead(w.client, w.nonce, false);
        }
        return;
      case 'fetchState':
        return this.#stateTransfer.fetch(effect.seq, effect.digest, effect.from);
      case 'dropSnapshotsBelow':
        if (effect.seq > 0) await this.host.storage.batch([{ type: 'deleteRange', start: SNAPSHOT_PREFIX, end: indexKey(SNAPSHOT_PREFIX, effect.seq) }]);
        return;
      case 'configChanged':
        for (const m of effect.config.members) if (!this.host.memberKeys.has(m.id)) this.host.learnMember(m.id, m.key);
        return;
      case 'misbehaviour':
        this.host.metrics.misbehaviour[effect.what.split(':')[0]!] = (this.host.metrics.misbehaviour[effect.what.split(':')[0]!] ?? 0) + 1;
        return;
    }
  }

  async #execute(seq: number, batch: Batch, boundary: boolean): Promise<void> {
    const replies: Array<Promise<void>> = [];
    for (const item of batch.items) {
      const index = this.host.executor.appliedIndex + 1;
      if (item.k === 'req') {
        this.host.metrics.entriesApplied++;
        const result = this.host.executor.applyRequest(index, batch.time, { client: item.client, session: item.session, seq: item.seq, event: item.event, ...(item.snapshot === false ? { snapshot: false } : {}) });
        replies.push(this.#answer(item.client, item.session, item.seq, result));
      } else if (item.k === 'noop') {
        this.host.metrics.entriesApplied++;
        this.host.executor.applyNoop(index, batch.time);
      } else if (item.k === 'read') {
        replies.push(this.#answerRead(item.client, item.nonce, true));
      }
    }
    await Promise.all(replies);
    if (!boundary) return;
    const appDigest = this.host.executor.digest;
    const core = this.#core()!;
    const record: CheckpointRecord = { seq, app: this.host.executor.snapshot(), config: core.configAfter(seq)!, before: core.configBefore(seq) };
    await this.host.storage.set(indexKey(SNAPSHOT_PREFIX, seq), encode(record as never, RECORD_LIMITS));
    this.host.metrics.storageWrites++;
    this.host.metrics.snapshotsTaken++;
    this.#boundaries.push({ seq, appDigest });
  }

  #members(): string[] {
    return this.#core()!.group.members.map((m) => m.id);
  }

  /** A reply (with the members, for the client's vote) or the session table's refusal. */
  #answer(client: string, session: number, seq: number, result: ApplyResult): Promise<void> {
    const answer = answerOf(session, seq, result);
    return this.#sendToClient(client, answer.kind, answer.kind === 'reply' ? { ...answer.body, members: this.#members() } : answer.body);
  }

  async #answerRead(client: string, nonce: number, ordered: boolean): Promise<void> {
    const body = { nonce, index: this.host.executor.appliedIndex, digest: this.host.executor.digest, snapshot: this.host.executor.view(), members: this.#members(), ordered };
    await this.#sendToClient(client, 'readReply', body);
  }

  #sendToClient(to: string, kind: WireKind, body: unknown): Promise<void> {
    return this.host.sendToClient(to, kind, body, () => this.#otherMembers());
  }


  async #sendAlone(to: string[], message: BftMessage): Promise<void> {
    await this.#transmitGroups([{ to, messages: [message], batches: new Map() }]);
  }

  // ---- time ---------------------------------------------------------------------------

  /** One protocol tick (the host calls it every tickMs, inside the work queue). */
  async #tick(now: number): Promise<void> {
    this.host.actor!.send({ type: 'tick', now });
    const due = this.host.executor.nextTimerDue();
    if (due !== undefined && due <= now) {
      this.host.actor!.send({ type: 'timersDue' });
      this.host.actor!.send({ type: 'flush', now });
    } else if (this.host.executor.appliedIndex === 0) {
      this.host.actor!.send({ type: 'flush', now }); // the primary orders the genesis noop (see core.flush)
    }
    await this.#stateTransfer.tick(now);
    await this.#drain();
  }


  #core(): BftCore | undefined {
    return this.host.actor?.getSnapshot().context.core;
  }

}

/** Signs a reconfiguration with the group's admin identity, for `submitReconfiguration` on every replica. */
export async function signReconfiguration(admin: { sign(data: Uint8Array): Promise<Uint8Array> }, change: { add: { id: string; key: Uint8Array } } | { remove: string }, nonce: number): Promise<Proof> {
  const s = await sealWithProof({ from: ADMIN, to: BROADCAST, kind: 'protocol', body: [{ type: 'reconfigure', change, nonce }] }, admin as never);
  return { p: s.p, s: s.s! };
}

