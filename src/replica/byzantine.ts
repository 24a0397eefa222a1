import {
  byzantineProtocolMachine,
  batchProofs,
  bundleAbuse,
  GENESIS_DIGEST,
  nestedProofs,
  validateBatch,
  validateBundle,
  VOTE_TYPES,
  type Batch,
  type BatchItem,
  type BftCore,
  type BftEffect,
  type BftMessage,
  type Config,
  type HardState,
  type Proof,
  type ProofContent,
  type SentNewView,
  type SlotRecord,
  type StableCheckpoint,
  type VerifiedProof,
} from '../../actors/byzantine/index.ts';
import type { ApplyResult } from '../app/index.ts';
import { decode, encode } from '../codec/index.ts';
import { sha256Sync, toHex, verify } from '../crypto/index.ts';
import { indexKey, type StorageOp } from '../storage/index.ts';
import { BROADCAST, RECORD_LIMITS, rewrap, sealWithProof, wireLimits, type WireKind, type WireMessage } from '../wire/index.ts';
import { decodeTrusted, plainResult } from './common.ts';
import { ReplicaRuntime, type ProtocolHooks } from './host.ts';
import { implausible, othersFirst, peekProof, ServeBudget } from './peer-budget.ts';
import { count, tooLarge } from './egress.ts';
import { batchBytesBudget, itemSize, packAttachments } from './batch-size.ts';
import { admitRequest, answerOf, parseRead, PendingReads } from './requests.ts';
import { parseReconfigureRequest, type ReconfigureAnswer } from './reconfiguration.ts';
import { drainEffects, type EffectModel } from './pipeline.ts';
import { ChunkAssembly, chunkAt, chunkBytes } from './chunks.ts';
import type { OutgoingBundle, ReplicaOptions, ReplicaStatus, Sending } from './types.ts';

const HARD_KEY = 'bft/hard';
const STABLE_KEY = 'bft/stable';
const SLOT_PREFIX = 'bft/slot/';
const SNAPSHOT_PREFIX = 'bft/snapshot/';
const NEW_VIEW_KEY = 'bft/newview';
const ADMIN = 'admin';
const VERIFIED_CACHE = 8192;

/** What a checkpoint's snapshot holds: the app state and the configurations in force for `seq` and right after it. */
interface CheckpointRecord {
  seq: number;
  app: Uint8Array;
  config: Config;
  before: Config;
}

interface OutGroup {
  to: string[];
  messages: BftMessage[];
  batches: Map<string, Batch>;
}

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
  /** Signatures already checked (keyed by payload hash and signature), so a quoted bundle is verified once. */
  readonly #verified = new Map<string, boolean>();
  /** Signed bundles just taken (key → ms): the later envelopes of one bundle bring only attachments. */
  readonly #bundlesTaken = new Map<string, number>();
  readonly #reads = new PendingReads();
  /** State transfer in progress: the checkpoint wanted, who to ask, the bytes so far. */
  #transfer: { seq: number; digest: string; from: string[]; attempt: number; asked: string; parts: ChunkAssembly | undefined } | undefined;
  /** Boundaries executed in this drain whose checkpoint the core still has to sign. */
  #boundaries: Array<{ seq: number; appDigest: string }> = [];
  /** What goes out for a signed bundle (options.egress; by default the bytes as they are). */
  readonly #egressBundle: (out: OutgoingBundle) => Promise<Sending[]>;
  /** State chunks served per peer and status period (a flood of fetchState waits, coalesced). */
  #serveBudget!: ServeBudget<Extract<BftMessage, { type: 'fetchState' }>>;

  constructor(options: ReplicaOptions) {
    super(options, options?.group?.admin ? [[ADMIN, options.group.admin]] : []);
    if (this.id === ADMIN) throw new TypeError(`createReplica: '${ADMIN}' is reserved for the group's admin key`);
    const egress = options.egress;
    this.#egressBundle = egress?.bundle ? (out) => egress.bundle!(out) : asIs;
    this.#serveBudget = new ServeBudget(8, this.host.tuning.statusMs);
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
    return { machine: byzantineProtocolMachine, load: () => this.#load(), receive: (from, bytes) => this.#receive(from, bytes), drain: () => this.#drain(), tick: (now) => this.#tick(now) };
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
    if (!this.host.options.group.admin) return 'this group has no admin key (group.admin)';
    const cmd = await this.#verifyProof(command, 'admin');
    if (!cmd || cmd.from !== ADMIN) return 'the command is not signed by the group admin';
    const msg = cmd.messages[0]!;
    if (msg.type !== 'reconfigure') return 'not a reconfiguration';
    // Refused here at once when already applied; executing it again is refused by every replica alike (actors/byzantine/normal-case.ts).
    const last = this.#core()!.group.adminNonce;
    if (last !== undefined && msg.nonce <= last) return `a signed change with nonce ${msg.nonce} or later was applied already (last: ${last})`;
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
    const key = this.#cacheKey(outer);
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
      const problem = implausible(m, msg.from, { config: core.group, configFor: (seq) => core.configFor(seq), windowSize: this.host.tuning.windowSize, peek: (p) => this.#peek(p, 'votes') });
      if (problem) return this.#abuse(problem);
      for (const { proof, content } of othersFirst(nestedProofs(m), msg.from, (p) => this.#peek(p, 'votes'))) {
        if (!(await this.#verifyProof(proof, content))) return this.host.drop('bad-proof');
      }
      messages.push(m);
    }
    if (!repeat) {
      if (this.#bundlesTaken.size >= VERIFIED_CACHE) this.#bundlesTaken.delete(this.#bundlesTaken.keys().next().value!);
      this.#bundlesTaken.delete(key);
      this.#bundlesTaken.set(key, now);
    }
    const proof = asVerified(outer, msg.from, validated);
    this.#remember(outer, true);
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
      if (m.type === 'fetchState') await this.#demandState(msg.from, m);
      else if (m.type === 'stateChunk') await this.#onStateChunk(msg.from, m);
      else this.host.actor!.send({ type: 'message', from: msg.from, message: m, proof });
    }
    await this.#drain();
  }

  async #openBatch(bytes: Uint8Array): Promise<Batch | undefined> {
    const d = decode(bytes, wireLimits(this.host.tuning.maxMessageBytes));
    if (!d.ok) return undefined;
    const batch = validateBatch(d.value);
    if (typeof batch === 'string') return undefined;
    for (const { proof, content } of batchProofs(batch)) if (!(await this.#verifyProof(proof, content))) return undefined;
    return batch;
  }

  /**
   * Checks a proof quoted inside a message: its signature (cached), and that it decodes to a
   * signed protocol bundle holding what it may hold. Decorates it in place as a VerifiedProof.
   */
  async #verifyProof(proof: Proof, content: ProofContent): Promise<VerifiedProof | undefined> {
    const peeked = this.#peek(proof, content);
    if (!peeked) return undefined;
    const { from: signer, messages } = peeked;
    if ((content === 'admin') !== (signer === ADMIN)) return undefined;
    if (content === 'viewChange') {
      // A view change quoted by a new view: its shape and claims before any signature.
      const core = this.#core()!;
      const vc = messages[0]!;
      const problem =
        bundleAbuse(messages, { signers: this.host.memberKeys.size, windowSize: this.host.tuning.windowSize }) ??
        implausible(vc, signer, { config: core.group, configFor: (seq) => core.configFor(seq), windowSize: this.host.tuning.windowSize, peek: (p) => this.#peek(p, 'votes') });
      if (problem) return undefined;
    }
    const key = this.host.memberKeys.get(signer);
    if (!key) return undefined;
    const cacheKey = this.#cacheKey(proof);
    let ok = this.#verified.get(cacheKey);
    if (ok === undefined) {
      this.host.metrics.verifications++;
      ok = await verify(key, proof.p, proof.s);
      this.#remember(proof, ok, cacheKey);
    }
    if (!ok) return undefined;
    if (content === 'viewChange') {
      for (const m of messages) for (const inner of othersFirst(nestedProofs(m), signer, (p) => this.#peek(p, 'votes'))) if (!(await this.#verifyProof(inner.proof, inner.content))) return undefined;
    }
    return asVerified(proof, signer, messages);
  }

  /** A quoted proof's signer and messages, decoded but not verified (for checks before verifying). */
  #peek(proof: Proof, content: ProofContent): VerifiedProof | undefined {
    return peekProof(proof, content, this.host.tuning.maxMessageBytes);
  }

  /** Abuse by an authenticated member: dropped, and counted by reason (the text before ':'). */
  #abuse(what: string): void {
    this.host.drop('abusive');
    const key = what.split(':')[0]!;
    this.host.metrics.misbehaviour[key] = (this.host.metrics.misbehaviour[key] ?? 0) + 1;
  }

  #cacheKey(proof: Proof): string {
    return toHex(proof.s) + toHex(sha256Sync(proof.p)).slice(0, 16);
  }

  #remember(proof: Proof, ok: boolean, key = this.#cacheKey(proof)): void {
    if (this.#verified.size >= VERIFIED_CACHE) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(key, ok);
  }

  async #onRequest(client: string, body: unknown): Promise<void> {
    const a = admitRequest(this.host, client, body);
    if (!a) return;
    if ('answer' in a) return this.#sendToClient(client, a.answer.kind, a.answer.body);
    if ('cached' in a) return this.#answer(client, a.session, a.seq, a.cached);
    const { session, seq, event } = a.request;
    this.host.actor!.send({ type: 'request', item: { k: 'req', client, session, seq, event: event as Extract<BatchItem, { k: 'req' }>['event'] } });
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
    const sealed = await Promise.all(
      groups.map(async (g) => {
        const to = g.to.length === 1 ? g.to[0]! : BROADCAST;
        const digests = [...g.batches.keys()];
        const encoded = [...g.batches.values()].map((b) => encode(b as never, RECORD_LIMITS));
        this.host.metrics.signatures++;
        try {
          const s = await sealWithProof({ from: this.id, to, kind: 'protocol', body: g.messages }, this.host.options.identity, undefined, max);
          const { envelopes, left } = packAttachments(s.p.length, encoded, max);
          for (let i = 0; i < left; i++) count(this.host.metrics, 'unsendable');
          return { p: s.p, s: s.s!, envelopes: envelopes.map((e) => ({ attachments: e.map((j) => encoded[j]!), digests: e.map((j) => digests[j]!) })) };
        } catch (err) {
          if (!tooLarge(err)) throw err;
          count(this.host.metrics, 'unsendable');
          return undefined;
        }
      }),
    );
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      const s = sealed[i];
      if (!s) continue;
      this.#remember({ p: s.p, s: s.s }, true);
      this.host.actor!.send({ type: 'signed', proof: asVerified({ p: s.p, s: s.s }, this.id, g.messages) });
      for (const e of s.envelopes) {
        const bytes = rewrap(s.p, s.s, e.attachments, max);
        const batches = new Map(e.digests.map((d) => [d, g.batches.get(d)!]));
        for (const to of g.to) {
          const variants = await this.#egressBundle({ to, messages: g.messages, bytes, p: s.p, s: s.s, attachments: e.attachments, batches, others: this.#otherMembers() });
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
        // Asked again (a chunk or its answer was lost): go on from where we are, from the next replica.
        if (this.#transfer?.seq === effect.seq && this.#transfer.digest === effect.digest) this.#transfer.attempt++;
        else this.#transfer = { seq: effect.seq, digest: effect.digest, from: effect.from, attempt: 0, asked: '', parts: undefined };
        if (effect.from.length) this.#transfer.from = effect.from;
        return this.#askChunk();
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
        const result = this.host.executor.applyRequest(index, batch.time, { client: item.client, session: item.session, seq: item.seq, event: item.event });
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
    const record: CheckpointRecord = { seq, app: this.host.executor.snapshot(), config: core.configAfter(seq)!, before: core.configFor(seq) };
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


  // ---- state transfer -----------------------------------------------------------------

  async #askChunk(): Promise<void> {
    const t = this.#transfer;
    if (!t || t.from.length === 0) return;
    const to = t.from[t.attempt % t.from.length]!;
    // Another replica may cut the snapshot differently: start over with it.
    if (to !== t.asked) {
      t.asked = to;
      t.parts = undefined;
    }
    await this.#sendAlone([to], { type: 'fetchState', seq: t.seq, digest: t.digest, offset: t.parts?.received ?? 0 });
  }

  /** A peer's fetchState: served within its budget, else the latest waits for the next period. */
  async #demandState(from: string, m: Extract<BftMessage, { type: 'fetchState' }>): Promise<void> {
    const verdict = this.#serveBudget.take(from, m, this.host.clock.now());
    if (verdict === 'flood') this.#abuse('fetchState flood: a second demand while one waits');
    if (verdict === 'now') await this.#serveState(from, m);
  }

  async #serveState(to: string, m: Extract<BftMessage, { type: 'fetchState' }>): Promise<void> {
    const bytes = await this.host.storage.get(indexKey(SNAPSHOT_PREFIX, m.seq));
    if (!bytes || m.offset > bytes.length) return this.host.drop('state-unavailable');
    this.host.metrics.snapshotsSent++;
    const data = chunkAt(bytes, m.offset, chunkBytes(this.host.tuning))!;
    await this.#sendAlone([to], { type: 'stateChunk', seq: m.seq, digest: m.digest, offset: m.offset, total: bytes.length, data });
  }

  async #onStateChunk(from: string, m: Extract<BftMessage, { type: 'stateChunk' }>): Promise<void> {
    const t = this.#transfer;
    // Only the replica we asked, one consistent total, and no more than we are willing to hold.
    if (!t || from !== t.asked || m.seq !== t.seq || m.digest !== t.digest || m.offset !== (t.parts?.received ?? 0)) return;
    if (m.total > this.host.tuning.maxSnapshotBytes) return this.host.drop('state-too-large');
    if (t.parts && m.total !== t.parts.total) return this.host.drop('bad-state');
    t.parts ??= new ChunkAssembly(m.total);
    t.parts.append(m.data);
    if (!t.parts.complete) {
      if (m.data.length === 0) return;
      return this.#sendAlone([from], { type: 'fetchState', seq: t.seq, digest: t.digest, offset: t.parts.received });
    }
    const all = t.parts.bytes();
    const installed = this.#installCheckpoint(all, t.seq, t.digest);
    if (typeof installed === 'string') {
      // A replica sent a state that does not match the certificate: ask another.
      this.host.drop('bad-state');
      t.attempt++;
      return this.#askChunk();
    }
    await this.host.storage.set(indexKey(SNAPSHOT_PREFIX, t.seq), all);
    this.host.metrics.snapshotsInstalled++;
    this.#transfer = undefined;
    this.host.actor!.send({ type: 'stateInstalled', seq: t.seq, digest: t.digest, group: installed.config, before: installed.before });
  }

  /** Checks a checkpoint's bytes against the certified digest, then installs the app state. */
  #installCheckpoint(bytes: Uint8Array, seq: number, digest: string): CheckpointRecord | string {
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
      expected = this.#core()!.cfg.hashCheckpoint({ seq, appDigest: claimed, config: record.config, before: record.before });
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
    if (this.#transfer && this.#core()!.phase !== 'stateTransfer' && this.#core()!.executed >= this.#transfer.seq) this.#transfer = undefined;
    for (const { peer, demand } of this.#serveBudget.due(now)) await this.#serveState(peer, demand);
    await this.#drain();
  }


  #core(): BftCore | undefined {
    return this.host.actor?.getSnapshot().context.core;
  }

  // ---- recovery -----------------------------------------------------------------------

  async #load() {
    const t = this.host.tuning;
    const hardBytes = await this.host.storage.get(HARD_KEY);
    const hard = hardBytes ? (decodeTrusted(hardBytes, 'hard state') as unknown as HardState) : { view: 0, changing: false };
    const stableBytes = await this.host.storage.get(STABLE_KEY);
    let stable: StableCheckpoint = { seq: 0, digest: GENESIS_DIGEST, cert: [] };
    let group: Config = { epoch: 0, members: this.host.options.group.members.map((m) => ({ id: m.id, key: m.publicKey })), pending: [] };
    let groupBefore: Config | undefined;
    if (stableBytes) {
      const s = decodeTrusted(stableBytes, 'stable checkpoint') as unknown as { seq: number; digest: string; cert: Proof[] };
      const snap = await this.host.storage.get(indexKey(SNAPSHOT_PREFIX, s.seq));
      if (snap) {
        const record = decodeTrusted(snap, 'checkpoint') as unknown as CheckpointRecord;
        this.host.executor.restore(record.app);
        group = record.config;
        groupBefore = record.before;
        stable = { seq: s.seq, digest: s.digest, cert: s.cert.map((p) => this.#trustedProof(p)) };
      }
    }
    const slots = (await this.host.storage.scan({ prefix: SLOT_PREFIX }))
      .map(([, v]) => decodeTrusted(v, 'slot') as unknown as SlotRecord)
      .filter((r) => r.seq > stable.seq)
      .map((r) => {
        for (const { proof } of batchProofs(r.batch)) this.#trustedProof(proof);
        if (r.prePrepare) r.prePrepare = this.#trustedProof(r.prePrepare);
        if (r.prepared) r.prepared = { ...r.prepared, prePrepare: this.#trustedProof(r.prepared.prePrepare), prepares: r.prepared.prepares.map((p) => this.#trustedProof(p)) };
        return r;
      });
    for (const m of group.members) if (!this.host.memberKeys.has(m.id)) this.host.learnMember(m.id, m.key);
    const newViewBytes = await this.host.storage.get(NEW_VIEW_KEY);
    const newView = newViewBytes ? (decodeTrusted(newViewBytes, 'new view') as unknown as SentNewView) : undefined;
    const executor = this.host.executor;
    return {
      config: {
        id: this.id,
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

  /** A proof from our own storage: decoded without checking the signature again. */
  #trustedProof(p: Proof): VerifiedProof {
    const payload = decodeTrusted(p.p, 'proof') as { f: string; m: BftMessage[] };
    return asVerified(p, payload.f, payload.m);
  }
}

/** The default egress: the bytes as they are, at once. */
async function asIs(out: { bytes: Uint8Array }): Promise<Sending[]> {
  return [{ bytes: out.bytes, delayMs: 0 }];
}

function isConfig(c: unknown): c is Config {
  const x = c as Config | null;
  return (
    !!x && typeof x === 'object' && Number.isSafeInteger(x.epoch) && Array.isArray(x.members) && Array.isArray(x.pending) && (x.adminNonce === undefined || Number.isSafeInteger(x.adminNonce)) &&
    x.members.every((m) => !!m && typeof m.id === 'string' && m.key instanceof Uint8Array && m.key.length === 32)
  );
}

/** Marks a proof as verified: `from` and `messages` are not enumerable, so it still encodes as `{ p, s }`. */
function asVerified(proof: Proof, from: string, messages: BftMessage[]): VerifiedProof {
  const v = proof as VerifiedProof;
  if ((v as Partial<VerifiedProof>).messages === undefined) {
    Object.defineProperty(v, 'from', { value: from, enumerable: false });
    Object.defineProperty(v, 'messages', { value: messages, enumerable: false });
  }
  return v;
}

/** Digests of the batches a bundle's messages refer to. */
function referencedDigests(messages: BftMessage[]): Set<string> {
  const out = new Set<string>();
  for (const m of messages) {
    if (m.type === 'prePrepare') out.add(m.digest);
    else if (m.type === 'viewChange') for (const c of m.prepared) out.add(c.digest);
    else if (m.type === 'newView') for (const p of m.prePrepares) out.add(p.digest);
    else if (m.type === 'entries') for (const e of m.slots) out.add(e.digest);
  }
  return out;
}

/** Votes to the same recipients share one bundle; a message with nested proofs goes alone. */
function addToGroups(groups: OutGroup[], effect: Extract<BftEffect, { type: 'send' }>): void {
  const key = effect.to.join(',');
  let g = VOTE_TYPES.has(effect.message.type) ? groups.find((x) => x.to.join(',') === key && x.messages.every((m) => VOTE_TYPES.has(m.type))) : undefined;
  if (!g) {
    g = { to: effect.to, messages: [], batches: new Map() };
    groups.push(g);
  }
  // The latest status supersedes an earlier one (receivers refuse a bundle with two).
  const older = effect.message.type === 'status' ? g.messages.findIndex((m) => m.type === 'status') : -1;
  if (older >= 0) g.messages[older] = effect.message;
  else g.messages.push(effect.message);
  for (const b of effect.batches ?? []) g.batches.set(b.digest, b.batch);
}

function persistOps(effect: Extract<BftEffect, { type: 'persist' }>): StorageOp[] {
  const ops: StorageOp[] = [];
  if (effect.dropSlotsUpTo !== undefined) ops.push({ type: 'deleteRange', start: SLOT_PREFIX, end: indexKey(SLOT_PREFIX, effect.dropSlotsUpTo + 1) });
  for (const r of effect.slots ?? []) ops.push({ type: 'set', key: indexKey(SLOT_PREFIX, r.seq), value: encode(r as never, RECORD_LIMITS) });
  if (effect.hard) ops.push({ type: 'set', key: HARD_KEY, value: encode(effect.hard as never, RECORD_LIMITS) });
  if (effect.stable) ops.push({ type: 'set', key: STABLE_KEY, value: encode(effect.stable as never, RECORD_LIMITS) });
  if (effect.newView) ops.push({ type: 'set', key: NEW_VIEW_KEY, value: encode(effect.newView as never, RECORD_LIMITS) });
  return ops;
}

/** Signs a reconfiguration with the group's admin identity, for `submitReconfiguration` on every replica. */
export async function signReconfiguration(admin: { sign(data: Uint8Array): Promise<Uint8Array> }, change: { add: { id: string; key: Uint8Array } } | { remove: string }, nonce: number): Promise<Proof> {
  const s = await sealWithProof({ from: ADMIN, to: BROADCAST, kind: 'protocol', body: [{ type: 'reconfigure', change, nonce }] }, admin as never);
  return { p: s.p, s: s.s! };
}

