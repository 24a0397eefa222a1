// The crash model's vote policy: a request goes to the leader (or, none known, the next replica
// in turn), a redirect names the leader, a timeout moves on to another replica, and one reply
// decides (a crashed replica is silent, never wrong).

import { open } from '../wire/index.ts';
import { ClientTimeoutError, rejection } from './errors.ts';
import { REPLY_LIMIT, toSession, type ClientCore, type Operation, type VotePolicy } from './policy.ts';
import { networkNote, noLink, sentToReplicas } from './reachability.ts';
import type { AppSnapshot, DissentRecord } from './types.ts';

interface Pending extends Operation {
  kind: 'request' | 'read';
  target: string;
}

export class CrashVotes implements VotePolicy {
  readonly #core: ClientCore;
  #leader: string | undefined;
  #rotation = 0;
  #current: Pending | undefined;
  /** Nothing dissents under this model: one reply decides. */
  readonly dissentLog: readonly DissentRecord[] = [];

  constructor(core: ClientCore) {
    this.#core = core;
  }

  get replicas(): readonly string[] {
    return this.#core.replicas;
  }

  start(kind: 'request' | 'read', number: number, body: Record<string, unknown>, session: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const sentBefore = sentToReplicas(this.#core.transport, this.replicas);
      this.#current = { kind, number, session, body, startedAt: this.#core.clock.now(), sentBefore, attempt: 0, target: '', timer: undefined, resolve, reject };
      this.#transmit(this.#leader ?? this.#nextReplica());
    });
  }

  close(): void {
    const p = this.#current;
    if (!p) return;
    this.#core.clock.clearTimeout(p.timer);
    this.#current = undefined;
    p.reject(new ClientTimeoutError('client closed'));
  }

  #transmit(target: string): void {
    const p = this.#current;
    if (!p) return;
    p.attempt++;
    p.target = target;
    this.#core.clock.clearTimeout(p.timer);
    p.timer = this.#core.clock.setTimeout(() => this.#onTimeout(p), this.#core.retryAfterMs);
    void this.#core.send(target, p.kind, p.body, () => this.#current === p);
  }

  #onTimeout(p: Pending): void {
    if (this.#current !== p) return;
    const core = this.#core;
    const unreachable = noLink(core.transport, this.replicas, core.clock.now() - p.startedAt, core.noLinkAfterMs, p.sentBefore);
    if (unreachable) {
      this.#current = undefined;
      return p.reject(unreachable);
    }
    if (core.clock.now() - p.startedAt >= core.giveUpAfterMs) {
      this.#current = undefined;
      const what = p.kind === 'request' ? 'the request may or may not have been applied' : 'no read result';
      p.reject(new ClientTimeoutError(`no answer after ${core.giveUpAfterMs} ms (${p.attempt} attempts); ${what}${networkNote(core.transport, this.replicas)}`));
      return;
    }
    this.#leader = undefined;
    this.#transmit(this.#nextReplica());
  }

  #nextReplica(): string {
    const r = this.#core.replicas;
    return r[this.#rotation++ % r.length]!;
  }

  async receive(from: string, bytes: Uint8Array): Promise<void> {
    const core = this.#core;
    if (!core.replicas.includes(from)) return;
    const r = await open(bytes, from, { self: core.id, memberKey: () => undefined, maxBytes: REPLY_LIMIT });
    if (!r.ok) return;
    const p = this.#current;
    const body = r.message.body as Record<string, unknown> | null;
    if (!p || !body || typeof body !== 'object') return;
    const number = p.kind === 'request' ? body.seq : body.nonce;
    // An answer to an earlier attempt or request (of this run, or of an earlier run of this identity).
    if (number !== p.number || (p.kind === 'request' && body.session !== p.session)) return;
    switch (r.message.kind) {
      case 'reply':
      case 'readReply': {
        if ((r.message.kind === 'reply') !== (p.kind === 'request')) return;
        const result = (r.message.kind === 'reply' ? body.result : body) as { index: number; snapshot: AppSnapshot; digest: string; session?: unknown };
        const session = p.session === 0 && p.kind === 'request' ? toSession(result.session) : undefined;
        this.#leader = from;
        this.#finish(p);
        // A session opening is not the user's: its state is not news to observers.
        if (!session) core.publish(result.snapshot, result.index);
        p.resolve({ index: result.index, snapshot: result.snapshot, digest: result.digest, agreed: [from], dissent: [], ...(session ? { session } : {}) });
        return;
      }
      case 'redirect': {
        const leader = typeof body.leader === 'string' && core.replicas.includes(body.leader) ? body.leader : undefined;
        if (leader && leader !== from) {
          this.#leader = leader;
          this.#transmit(leader);
        } else {
          // No leader known there (an election is on): try another replica after a pause.
          this.#leader = undefined;
          core.clock.clearTimeout(p.timer);
          p.timer = core.clock.setTimeout(() => this.#onTimeout(p), Math.min(50, core.retryAfterMs));
        }
        return;
      }
      case 'error':
        this.#finish(p);
        p.reject(rejection(from, body));
        return;
    }
  }

  #finish(p: Pending): void {
    this.#core.clock.clearTimeout(p.timer);
    this.#current = undefined;
  }
}
