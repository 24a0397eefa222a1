// The seam between the client core (client.ts: sessions, serialising, transport, actor ref) and
// a fault model's vote policy (vote-crash.ts, vote-byzantine.ts): how one request or read is
// sent, retried and decided from the replicas' replies.

import type { Clock } from '../clock.ts';
import type { Transport } from '../transport/index.ts';
import type { WireKind } from '../wire/index.ts';
import type { AppSnapshot, DissentRecord, SessionInfo } from './types.ts';

/** The largest reply a client opens (a replica's maxMessageBytes may be at most this to reach clients). */
export const REPLY_LIMIT = 64 * 1024 * 1024;

/** What a vote policy uses of the client core. */
export interface ClientCore {
  /** This client's id on the network (see Client.id). */
  readonly id: string;
  readonly clock: Clock;
  readonly transport: Transport;
  /** The replicas the client was given. */
  readonly replicas: readonly string[];
  readonly retryAfterMs: number;
  readonly giveUpAfterMs: number;
  readonly readFallbackMs: number;
  readonly noLinkAfterMs: number;
  /** Seals and sends, unless `live()` says the operation was given up meanwhile. */
  send(to: string, kind: WireKind, body: unknown, live: () => boolean): Promise<void>;
  /** A decided state: shown to `client.actor`'s observers. */
  publish(snapshot: AppSnapshot, index: number): void;
  /** The next read nonce (shared with the core's reads: a fallback read takes a fresh one). */
  nextNonce(): number;
}

/**
 * One operation at a time (the core serialises them): `start` resolves with an Outcome (or a
 * ReadOutcome), carrying `session` when the request opened or resumed one.
 */
/** What every vote policy keeps of one request or read under way. */
export interface Operation {
  /** seq for requests, nonce for reads. */
  number: number;
  /** The request's session (0 when it opens one); unused for reads. */
  session: number;
  body: unknown;
  /** When the caller's operation began. */
  startedAt: number;
  /** Messages the transport had handed to links to replicas when it began (diagnostics). */
  sentBefore: number | undefined;
  attempt: number;
  timer: unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export interface VotePolicy {
  /** The replicas the client talks to now. */
  readonly replicas: readonly string[];
  /** Replies that differed from a decision (byzantine); always empty under the crash model. */
  readonly dissentLog: readonly DissentRecord[];
  /** `number`: seq for requests, nonce for reads; `session`: the request's (0 when it opens one, and for reads). */
  start(kind: 'request' | 'read', number: number, body: Record<string, unknown>, session: number): Promise<unknown>;
  /** A message from the network (any sender). */
  receive(from: string, bytes: Uint8Array): Promise<void>;
  /** The client closes: the operation under way fails with ClientTimeoutError. */
  close(): void;
}

/** A session opened or resumed, from untrusted reply bytes; undefined when not shaped like one. */
export function toSession(x: unknown): SessionInfo | undefined {
  const s = x as Partial<SessionInfo> | null;
  if (!s || typeof s !== 'object' || !Number.isSafeInteger(s.id) || (s.id as number) < 1 || !Number.isSafeInteger(s.seq) || (s.seq as number) < 0) return undefined;
  return { id: s.id as number, seq: s.seq as number };
}

/** The counts a voting client needs (a fault model's descriptor provides them). */
export interface Quorums {
  /** The most replicas that may be faulty among n. */
  maxFaulty(n: number): number;
  /** Matching replies that decide a result or a refusal in a group of n. */
  replyQuorum(n: number): number;
  /** Matching replies that decide an unordered read in a group of n. */
  readQuorum(n: number): number;
}
