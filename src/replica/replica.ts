import { crashProtocolMachine, termProblem, validateRaftMessage, type MembershipChange, type Entry, type RaftEffect, type RaftMessage } from '../../actors/crash/index.ts';
import type { RaftCore } from '../../actors/crash/core.ts';
import { createAppExecutor, type AppRequest } from '../app/index.ts';
import { decode, encode } from '../codec/index.ts';
import { RECORD_LIMITS, seal, type WireKind, type WireMessage } from '../wire/index.ts';
import { sealForClient, sealProtocol } from './egress.ts';
import { chunkBytes } from './chunks.ts';
import { persistOps, RaftRecords } from './crash/records.ts';
import { isTransferMessage, SnapshotTransfer, validateTransferMessage, type TransferMessage } from './crash/snapshot-transfer.ts';
import { ReplicaRuntime, type ProtocolHooks } from './host.ts';
import { admitRequest, answerOf, parseRead, PendingReads } from './requests.ts';
import { DivergenceWatch } from './divergence.ts';
import { drainEffects, type EffectModel } from './pipeline.ts';
import { openReconfiguration, parseReconfigureRequest, type ReconfigureAnswer } from './reconfiguration.ts';
import { bytesEqual } from '../crypto/bytes.ts';
import type { ReplicaOptions, ReplicaStatus } from './types.ts';

/**
 * A replica: drives the protocol statechart with a transport, storage and clock, and runs
 * the application statechart on committed entries. Everything it receives goes through
 * ingress (size, decode, sender, signature) and is dropped and counted when bad; the
 * protocol's effects are carried out in order: persist, then send, then apply.
 */
export class Replica extends ReplicaRuntime<typeof crashProtocolMachine> {
  /** Client requests waiting to be proposed as one batch at the end of this instant. */
  #proposalBuffer: Array<{ id: string; data: unknown }> = [];
  #flushScheduled = false;
  /** Who asked: reply when the entry is applied. */
  readonly #waitingRequests = new Map<string, { client: string; session: number; seq: number }>();
  readonly #reads = new PendingReads();
  #wasLeader = false;
  /** Snapshots travel in chunks (a state larger than one message). */
  readonly #transfer: SnapshotTransfer;
  /** Hard state, log, snapshot: what this replica keeps in storage. */
  readonly #records: RaftRecords;
  /** Digests compared with the leader's at equal applied index (see divergence.ts). */
  readonly #divergence = new DivergenceWatch();
  readonly #digestsOut: Array<{ to: string; bytes: Promise<Uint8Array | undefined> }> = [];

  constructor(options: ReplicaOptions) {
    super(options);
    this.#records = new RaftRecords(this.host);
    const t = this.host.tuning;
    this.#transfer = new SnapshotTransfer(chunkBytes(t), t.maxSnapshotBytes, t.tickMs * t.electionTicks);
  }

  protected hooks(): ProtocolHooks<typeof crashProtocolMachine> {
    return { machine: crashProtocolMachine, load: () => this.#records.load(), receive: (from, bytes) => this.#receive(from, bytes), drain: () => this.#drain(), tick: (now) => this.#tick(now) };
  }

  status(): ReplicaStatus {
    const core = this.#core();
    return {
      id: this.id,
      faultModel: this.host.options.group.faultModel,
      phase: core ? String(this.host.actor!.getSnapshot().value) : 'stopped',
      term: core?.term ?? 0,
      leader: core?.leader ?? null,
      commitIndex: core?.commit ?? 0,
      appliedIndex: this.host.executor.appliedIndex,
      members: core ? [...core.membership.voters] : this.host.options.group.members.map((m) => m.id),
      learners: core ? [...core.membership.learners] : [],
      excluded: core && this.host.tuning.removeSilentAfterMs > 0 ? [...core.membership.learners] : [],
      snapshotIndex: this.#records.snapshotIndex,
      digest: this.host.executor.digest,
      running: this.host.running,
      ...(this.#divergence.diverged ? { diverged: { ...this.#divergence.diverged } } : {}),
      ...this.host.networkStatus(),
    };
  }

  /** Asks the leader to hand leadership to another voter. Resolves with an error text or null. */
  transferLeadership(to: string): Promise<string | null> {
    return this.host.enqueue(async () => {
      this.host.actor!.send({ type: 'transferLeadership', to });
      const err = this.host.actor!.getSnapshot().context.lastError;
      await this.#drain();
      return err;
    });
  }

  /**
   * Proposes adding (as a learner, promoted once caught up) or removing a replica. The new
   * member's key travels in the config entry: the other replicas learn it from the log.
   */
  changeMembership(change: { add: string; publicKey: Uint8Array } | { remove: string }): Promise<string | null> {
    return this.host.enqueue(() => this.#propose('add' in change ? { add: change.add, key: change.publicKey } : { remove: change.remove }));
  }

  /**
   * An admin-signed reconfiguration (`signReconfiguration`, the same command as the Byzantine
   * model's), proposed if this replica leads. Resolves with an error text or null; a command
   * that is malformed or not signed by `group.admin` is counted as a `bad-reconfiguration` drop.
   */
  submitReconfiguration(command: { p: Uint8Array; s: Uint8Array }): Promise<string | null> {
    return this.host.enqueue(() => this.#reconfigure(command));
  }

  async #reconfigure(command: unknown): Promise<string | null> {
    const change = await openReconfiguration(command, this.host.options.group.admin, this.host.tuning.maxMessageBytes, this.#core()?.membership.adminNonce);
    if (typeof change === 'string') {
      this.host.drop('bad-reconfiguration');
      return change;
    }
    return this.#propose(change);
  }

  /** A `reconfigure` message (any sender: the admin's signature authorizes it); a follower names the leader. */
  async #onReconfigure(from: string, body: unknown): Promise<void> {
    const req = parseReconfigureRequest(body);
    if (!req) return this.host.drop('malformed');
    const refused = await this.#reconfigure(req.command);
    const leader = this.#core()?.role === 'leader' ? undefined : (this.#core()?.leader ?? null);
    const answer: ReconfigureAnswer = refused === null ? { id: req.id, accepted: true } : { id: req.id, accepted: false, reason: refused, ...(leader !== undefined ? { leader } : {}) };
    return this.#send(from, 'reconfigureReply', answer);
  }

  async #propose(change: MembershipChange): Promise<string | null> {
    if ('add' in change && change.key) this.host.learnMember(change.add, change.key);
    this.host.actor!.send({ type: 'changeMembership', change, now: this.host.clock.now() });
    const err = this.host.actor!.getSnapshot().context.lastError;
    await this.#drain();
    return err;
  }

  /** Keys of members added through the log (config entries, snapshots): signatures from them verify. */
  #learnKeys(): void {
    for (const { id, key } of this.#core()?.membership.keys ?? []) {
      const known = this.host.memberKeys.get(id);
      if (id !== this.id && (!known || !bytesEqual(known, key))) this.host.learnMember(id, key);
    }
  }

  /** Lets this replica accept signed messages from a member added elsewhere. */
  knowMember(id: string, publicKey: Uint8Array): void {
    this.host.learnMember(id, publicKey);
  }

  // ---- ingress ------------------------------------------------------------------------

  #receive(from: string, bytes: Uint8Array): Promise<void> {
    return this.host.receive(from, bytes, (id) => this.host.memberKeys.get(id), (r) => this.#dispatch(r.message));
  }

  async #dispatch(msg: WireMessage): Promise<void> {
    switch (msg.kind) {
      case 'protocol': {
        if (isTransferMessage(msg.body)) return this.#onTransfer(msg.from, msg.body);
        const m = validateRaftMessage(msg.body);
        if (typeof m === 'string') return this.host.drop('malformed');
        return this.#deliver(msg.from, m);
      }
      case 'request':
        return this.#onRequest(msg.from, msg.body);
      case 'read':
        return this.#onRead(msg.from, msg.body);
      case 'status':
        return this.host.answerStatus(msg, () => this.status());
      case 'reconfigure':
        return this.#onReconfigure(msg.from, msg.body);
      case 'digest': {
        if (this.#core()?.leader !== msg.from) return; // only the leader's state is the reference
        const r = this.#divergence.claim(msg.from, msg.body);
        if (r === 'malformed') return this.host.drop('malformed');
        if (r === 'diverged') this.#countDivergence();
        return;
      }
      default:
        return this.host.drop('unexpected-kind');
    }
  }

  /** Hands a valid protocol message (or an assembled snapshot) to the core, unless it is what no correct replica sends. */
  #deliver(from: string, m: RaftMessage): Promise<void> | void {
    const problem = termProblem(this.#core()!.term, m) ?? (m.type === 'snapshot' && m.meta.index > this.#core()!.commit ? this.#snapshotProblem(m.data) : null);
    if (problem) return this.#misbehaved(problem === 'bad snapshot' ? 'bad-snapshot' : 'absurd-term');
    this.host.actor!.send({ type: 'message', from, message: m });
    return this.#drain();
  }

  #misbehaved(what: string): void {
    this.host.drop(what);
    this.host.metrics.misbehaviour[what] = (this.host.metrics.misbehaviour[what] ?? 0) + 1;
  }

  /** Restores a snapshot on a scratch executor first: one that does not decode or restore is refused before the protocol installs it. */
  #snapshotProblem(data: Uint8Array): string | null {
    const decoded = decode(data, RECORD_LIMITS); // assembled from chunks: bounded by memory, not by one message
    const record = decoded.ok ? (decoded.value as { time?: unknown; app?: unknown }) : undefined;
    if (!record || typeof record !== 'object' || typeof record.time !== 'number' || !Number.isFinite(record.time) || !(record.app instanceof Uint8Array)) return 'bad snapshot';
    const scratch = createAppExecutor(this.host.options.machine, { ...this.host.options.sessions }); // the group's session bounds, or a full table would not restore
    try {
      scratch.restore(record.app);
      return null;
    } catch {
      return 'bad snapshot';
    } finally {
      scratch.stop();
    }
  }

  async #onRequest(client: string, body: unknown): Promise<void> {
    const a = admitRequest(this.host, client, body);
    if (!a) return;
    if ('answer' in a) return this.#send(client, a.answer.kind, a.answer.body);
    if ('cached' in a) {
      const answer = answerOf(a.session, a.seq, a.cached);
      return this.#send(client, answer.kind, answer.body);
    }
    const req = a.request;
    const { session, seq } = req;
    const core = this.#core()!;
    if (core.role !== 'leader') {
      this.host.metrics.redirects++;
      return this.#send(client, 'redirect', { session, seq, leader: core.leader });
    }
    const id = `${client}:${session}:${seq}`;
    // A retry is proposed again even if an earlier copy is on its way: that copy may have been
    // lost with a leadership change, and the session table applies a request only once.
    this.#waitingRequests.set(id, { client, session, seq });
    this.#proposalBuffer.push({ id, data: { client, session, seq, event: req.event, ...(req.snapshot === false ? { snapshot: false } : {}) } });
    if (this.#proposalBuffer.length >= this.host.tuning.maxBatch) return this.#flushProposals();
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Everything that arrives in this instant goes into one proposal (batching).
      this.host.clock.setTimeout(() => this.host.enqueue(() => this.#flushProposals()), 0);
    }
  }

  async #flushProposals(): Promise<void> {
    this.#flushScheduled = false;
    if (!this.host.running || this.#proposalBuffer.length === 0) return;
    const requests = this.#proposalBuffer;
    this.#proposalBuffer = [];
    this.host.metrics.proposals++;
    this.host.actor!.send({ type: 'propose', requests, now: this.host.clock.now() });
    await this.#drain();
  }

  async #onRead(client: string, body: unknown): Promise<void> {
    const read = parseRead(body);
    if (!read) return this.host.drop('malformed');
    this.host.metrics.reads++;
    if (this.#divergence.diverged) return this.host.drop('diverged'); // no reads from a state that differs from the leader's
    this.host.actor!.send({ type: 'read', ids: [this.#reads.add(client, read.nonce)] });
    await this.#drain();
  }

  // ---- effects ------------------------------------------------------------------------

  /** Carries out the protocol's effects in order until it has nothing more to say (pipeline.ts). */
  #drain(): Promise<void> {
    return drainEffects(this.#effects, this.host.storage, this.host.metrics);
  }

  /** The crash model's side of the effect loop. */
  readonly #effects: EffectModel<RaftEffect> = {
    take: () => {
      this.#learnKeys();
      return this.#core()!.takeEffects();
    },
    idle: async () => {
      await this.#afterRoleChange();
      return false;
    },
    persistOps: (effect) => persistOps(effect as Extract<RaftEffect, { type: 'persist' }>),
    overlap: (effect) => (effect.type === 'persist' && effect.overlap ? (effect.entries?.at(-1)?.index ?? 0) : undefined),
    persisted: (upTo) => this.host.actor!.send({ type: 'persisted', index: upTo }),
    send: async (effects) => {
      const out = effects as Array<Extract<RaftEffect, { type: 'send' }>>;
      // Sign in parallel, transmit in order: the order must not depend on which signature
      // finished first, or a seed would not replay the same run.
      const sealed = await Promise.all(out.map((s) => this.#seal(s.to, 'protocol', s.message)));
      for (let i = 0; i < out.length; i++) if (sealed[i]) this.host.transmit(out[i]!.to, sealed[i]!);
    },
    carryOut: (effect) => this.#carryOut(effect as Exclude<RaftEffect, { type: 'persist' } | { type: 'send' }>),
  };

  async #carryOut(effect: Exclude<RaftEffect, { type: 'persist' } | { type: 'send' }>): Promise<void> {
    switch (effect.type) {
      case 'apply': {
        const replies: Array<{ to: string; bytes: Promise<Uint8Array | undefined>; client?: { kind: WireKind; body: unknown } }> = [];
        for (const entry of effect.entries) {
          const reply = this.#apply(entry);
          if (reply) replies.push(reply);
        }
        replies.push(...this.#digestsOut.splice(0)); // sent in order with the replies (deterministic)
        const sealed = await Promise.all(replies.map((r) => r.bytes));
        for (let i = 0; i < replies.length; i++) {
          const r = replies[i]!;
          if (!sealed[i]) continue;
          if (!r.client) this.host.transmit(r.to, sealed[i]!);
          else {
            const rewritten = this.host.toClient(r.to, r.client.kind, r.client.body, sealed[i]!);
            if (rewritten) await rewritten;
          }
        }
        await this.#maybeSnapshot();
        return;
      }
      case 'readReady':
        for (const id of effect.ids) {
          const waiting = this.#reads.take(id);
          if (!waiting) continue;
          // Entries up to effect.index were applied by earlier effects, in order.
          await this.#send(waiting.client, 'readReply', {
            nonce: waiting.nonce,
            index: this.host.executor.appliedIndex,
            digest: this.host.executor.digest,
            snapshot: this.host.executor.view(),
          });
        }
        return;
      case 'notLeader':
        for (const id of effect.requestIds) {
          const waiting = this.#waitingRequests.get(id);
          if (!waiting) continue;
          this.#waitingRequests.delete(id);
          this.host.metrics.redirects++;
          await this.#send(waiting.client, 'redirect', { session: waiting.session, seq: waiting.seq, leader: effect.leader });
        }
        for (const id of effect.readIds) {
          const waiting = this.#reads.take(id);
          if (!waiting) continue;
          await this.#send(waiting.client, 'redirect', { nonce: waiting.nonce, leader: effect.leader });
        }
        return;
      case 'sendSnapshot': {
        const stored = await this.#records.snapshot();
        if (!stored) return;
        this.host.metrics.snapshotsSent++;
        // The first chunk; the follower asks for the rest (see snapshot-transfer.ts).
        await this.#send(effect.to, 'protocol', this.#transfer.offer(effect.term, stored, this.host.clock.now()));
        return;
      }
      case 'installSnapshot': {
        const decoded = decode(effect.data, RECORD_LIMITS);
        if (!decoded.ok) throw new Error(`snapshot from the leader does not decode: ${decoded.error.message}`);
        const record = decoded.value as { time: number; app: Uint8Array };
        this.host.executor.restore(record.app);
        await this.#records.install({ meta: effect.meta, time: record.time, data: effect.data });
        this.host.metrics.snapshotsInstalled++;
        return;
      }
      case 'compact':
        await this.#records.compact(effect.upTo);
        return;
    }
  }

  /** Applies one committed entry; returns the reply to send, if this replica owes one. */
  #apply(entry: Entry): { to: string; bytes: Promise<Uint8Array | undefined>; client: { kind: WireKind; body: unknown } } | undefined {
    this.host.metrics.entriesApplied++;
    if (entry.kind !== 'request') {
      this.host.executor.applyNoop(entry.index, entry.time);
      this.#watchDigest(entry.index);
      return undefined;
    }
    const req = entry.data as AppRequest;
    const result = this.host.executor.applyRequest(entry.index, entry.time, req);
    this.#watchDigest(entry.index);
    const id = `${req.client}:${req.session}:${req.seq}`;
    if (this.#waitingRequests.delete(id)) {
      const answer = answerOf(req.session, req.seq, result);
      return { to: req.client, bytes: this.#seal(req.client, answer.kind, answer.body), client: { kind: answer.kind, body: answer.body } };
    }
    return undefined;
  }

  /**
   * A replica that stopped leading cannot answer the requests it was waiting on (their entries
   * may be overwritten): it redirects those clients, who retry with the same sequence number.
   */
  async #afterRoleChange(): Promise<void> {
    const core = this.#core()!;
    const wasLeader = this.#wasLeader;
    this.#wasLeader = core.role === 'leader';
    if (!wasLeader || this.#wasLeader || this.#waitingRequests.size === 0) return;
    const waiting = [...this.#waitingRequests];
    this.#waitingRequests.clear();
    this.#proposalBuffer = [];
    for (const [, w] of waiting) {
      this.host.metrics.redirects++;
      await this.#send(w.client, 'redirect', { session: w.session, seq: w.seq, leader: core.leader });
    }
  }

  async #maybeSnapshot(): Promise<void> {
    const applied = this.host.executor.appliedIndex;
    if (applied - this.#records.snapshotIndex < this.host.tuning.snapshotEvery) return;
    const core = this.#core()!;
    const meta = core.snapshotMetaAt(applied);
    if (!meta) return;
    const time = this.host.executor.time;
    const data = encode({ time, app: this.host.executor.snapshot() }, RECORD_LIMITS);
    await this.#records.save({ meta, time, data });
    this.host.metrics.storageWrites++;
    this.host.metrics.snapshotsTaken++;
    this.host.actor!.send({ type: 'snapshotTaken', meta: { ...meta, time }, keepEntries: this.host.tuning.keepEntries });
    // The compaction effect this produces is carried out by the enclosing drain loop.
  }

  /** Records the digest at each applied index; the leader sends some to the members to compare (see divergence.ts). */
  #watchDigest(index: number): void {
    const digest = this.host.executor.digest;
    if (this.#divergence.record(index, digest)) this.#countDivergence();
    if (this.#core()?.role === 'leader' && this.#divergence.announceApplied(index, this.host.clock.now())) this.#digestsOut.push(...this.#digestMessages(index, digest));
  }

  /** The leader's digest at `index`, sealed for every other member. */
  #digestMessages(index: number, digest: string): Array<{ to: string; bytes: Promise<Uint8Array | undefined> }> {
    const core = this.#core()!;
    return [...core.membership.voters, ...core.membership.learners]
      .filter((id) => id !== this.id)
      .map((id) => ({ to: id, bytes: seal({ from: this.id, to: id, kind: 'digest', body: { index, digest } }, this.host.options.identity) }));
  }

  #countDivergence(): void {
    const m = this.host.metrics.misbehaviour;
    m.diverged = (m.diverged ?? 0) + 1;
  }

  async #send(to: string, kind: WireKind, body: unknown): Promise<void> {
    if (kind !== 'protocol') return this.host.sendToClient(to, kind, body);
    const bytes = await this.#seal(to, kind, body);
    if (bytes) this.host.transmit(to, bytes);
  }

  /** Within the message limit; undefined (counted) when even a degraded form does not fit. */
  #seal(to: string, kind: WireKind, body: unknown): Promise<Uint8Array | undefined> {
    const max = this.host.tuning.maxMessageBytes;
    if (kind !== 'protocol') return sealForClient(this.id, to, kind, body, max, this.host.metrics);
    this.host.metrics.signatures++;
    return sealProtocol(this.id, to, body, this.host.options.identity, max, this.host.metrics);
  }


  /** A snapshot chunk (follower) or a request for the next one (leader). */
  async #onTransfer(from: string, body: unknown): Promise<void> {
    const m: TransferMessage | string = validateTransferMessage(body);
    if (typeof m === 'string') return this.host.drop('malformed');
    if (m.type === 'snapshotFetch') {
      const core = this.#core()!;
      if (core.role !== 'leader' || m.term !== core.term) return;
      const chunk = this.#transfer.serve(m, this.host.clock.now());
      if (!chunk) return;
      // The follower is getting it: the core must not time it out and start it over.
      this.host.actor!.send({ type: 'snapshotProgress', from });
      await this.#send(from, 'protocol', chunk);
      return;
    }
    const r = this.#transfer.receive(from, m, this.host.clock.now());
    if (!r) return;
    if ('drop' in r) return this.host.drop(r.drop);
    if ('fetch' in r) return this.#send(from, 'protocol', r.fetch);
    const whole = validateRaftMessage({ type: 'snapshot', ...r.snapshot });
    if (typeof whole === 'string') return this.host.drop('malformed');
    return this.#deliver(from, whole);
  }

  // ---- time ---------------------------------------------------------------------------

  /** One protocol tick (the host calls it every tickMs, inside the work queue). */
  async #tick(now: number): Promise<void> {
    this.host.actor!.send({ type: 'tick', now });
    const due = this.host.executor.nextTimerDue();
    if (due !== undefined && due <= now) this.host.actor!.send({ type: 'advanceTime', now });
    const core = this.#core()!;
    this.#transfer.cancelUnlessFrom(core.term, core.leader);
    const stalled = this.#transfer.stalled(now);
    if (stalled) await this.#send(stalled.to, 'protocol', stalled.fetch);
    const applied = this.host.executor.appliedIndex;
    if (core.role === 'leader' && applied > 0 && this.#divergence.announceIdle(applied, now)) {
      for (const m of this.#digestMessages(applied, this.host.executor.digest)) {
        const bytes = await m.bytes;
        if (bytes) this.host.transmit(m.to, bytes);
      }
    }
    await this.#drain();
  }


  #core(): RaftCore | undefined {
    return this.host.actor?.getSnapshot().context.core;
  }

}

