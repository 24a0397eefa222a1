/**
 * The client request path shared by both runtimes: the wire shape of a request
 * `{ session, seq, event }` and of the answer to it (a `reply` with the result, or an
 * `error` with a code when the session table refused it).
 */
import { inspectEvent, sessionProblem, type AppEvent, type ApplyResult, type EventOversize } from '../app/index.ts';
import type { WireKind } from '../wire/index.ts';
import { eventBudget } from '../wire/index.ts';
import { plainResult } from './common.ts';
import type { AnyStateMachine } from 'xstate';
import type { ReplicaHost } from './host.ts';

export interface ClientRequest {
  /** The session id, or 0 to open (or resume) one. */
  session: number;
  /** Seq within the session; for session 0, the client's attempt number. */
  seq: number;
  event: AppEvent;
  /** false: the reply carries no state (see AppRequest.snapshot). */
  snapshot?: false;
}

/** A request refused at ingress: a bad event, or one over the size budget (`oversize`). */
export interface RefusedRequest {
  session: number;
  seq: number;
  problem: string;
  oversize?: EventOversize;
}

/**
 * A request body from the wire: the request, a refusal for a bad or oversized event (answered),
 * or undefined when malformed (dropped). `maxEventBytes` is the group's event budget: refusing
 * larger events here keeps every message a replica builds from them within the message limit.
 */
export function parseRequest(body: unknown, maxEventBytes: number): ClientRequest | RefusedRequest | undefined {
  const b = body as { session?: unknown; seq?: unknown; event?: unknown; snapshot?: unknown } | null;
  if (!b || typeof b !== 'object' || !Number.isSafeInteger(b.seq) || (b.seq as number) < 1) return undefined;
  if (b.snapshot !== undefined && b.snapshot !== false) return undefined;
  const seq = b.seq as number;
  // The event is judged first: a bad event is answered even when the rest is malformed too.
  const { problem: bad, oversize } = inspectEvent(b.event, maxEventBytes);
  const session = Number.isSafeInteger(b.session) && (b.session as number) >= 0 ? (b.session as number) : undefined;
  if (bad) return { session: session ?? 0, seq, problem: bad, ...(oversize ? { oversize } : {}) };
  if (session === undefined) return undefined;
  const problem = sessionProblem(session, b.event as AppEvent);
  if (problem) return { session, seq, problem };
  return { session, seq, event: b.event as AppEvent, ...(b.snapshot === false ? { snapshot: false as const } : {}) };
}

/**
 * How a replica refuses a request at ingress: the drop reason it counts and the error body the
 * client gets (with the size and limit for an oversized event, which the client turns into
 * EventTooLargeError). Refusing oversized events here keeps every message built from them
 * within the message limit.
 */
export function refusal(req: RefusedRequest): { drop: string; body: Record<string, unknown> } {
  const { session, seq, problem, oversize } = req;
  if (!oversize) return { drop: 'bad-event', body: { session, seq, message: problem } };
  return { drop: 'event-too-large', body: { session, seq, message: problem, code: 'event-too-large', size: oversize.size, limit: oversize.limit } };
}

/** The answer to a request from its result: a reply, or an error naming why the table refused it. */
export function answerOf(session: number, seq: number, result: ApplyResult): { kind: WireKind; body: Record<string, unknown> } {
  if (result.refused) return { kind: 'error', body: { session, seq, code: result.refused.code, message: result.refused.message } };
  const r = plainResult(result) as Record<string, unknown>;
  if (result.session) r.session = result.session;
  return { kind: 'reply', body: { session, seq, result: r } };
}

/**
 * A status request (`statechorus status`, any peer): the nonce to answer with, or undefined for a
 * malformed body. The answer is the replica's own `status()`, as it would print it.
 */
export function statusNonce(body: unknown): number | undefined {
  const b = body as { nonce?: unknown } | null;
  return b && typeof b === 'object' && Number.isSafeInteger(b.nonce) ? (b.nonce as number) : undefined;
}

/** What ingress makes of a client request: answer it (refused, or already applied), or order it. */
export type Admission =
  | { answer: { kind: WireKind; body: Record<string, unknown> } }
  | { cached: ApplyResult; session: number; seq: number }
  | { request: ClientRequest };

/**
 * Client request ingress, the same in both runtimes: parse within the group's event budget,
 * refuse a bad or oversized event (counted), and answer a request the session table already
 * decided from that table (never applied twice). Undefined: malformed, dropped and counted.
 */
export function admitRequest(host: ReplicaHost<AnyStateMachine>, client: string, body: unknown): Admission | undefined {
  const t = host.tuning;
  const req = parseRequest(body, eventBudget(t.maxEventBytes, t.maxMessageBytes));
  if (!req) return host.drop('malformed'), undefined;
  if ('problem' in req) {
    const { drop, body: answer } = refusal(req);
    host.drop(drop);
    return { answer: { kind: 'error', body: answer } };
  }
  host.metrics.requests++;
  const cached = host.executor.answerFromCache({ client, ...req });
  if (!cached) return { request: req };
  host.metrics.duplicateRequests++;
  return { cached, session: req.session, seq: req.seq };
}

/** A read from the wire: its nonce, and whether it asks to be ordered (Byzantine); undefined when malformed. */
export function parseRead(body: unknown): { nonce: number; ordered: boolean } | undefined {
  const b = body as { nonce?: unknown; ordered?: unknown } | null;
  if (!b || typeof b !== 'object' || !Number.isSafeInteger(b.nonce) || (b.nonce as number) < 0) return undefined;
  return { nonce: b.nonce as number, ordered: b.ordered === true };
}

/** Unordered reads waiting until the protocol says the local state may answer them. */
export class PendingReads {
  readonly #waiting = new Map<string, { client: string; nonce: number }>();
  #counter = 0;

  /** The id the protocol core tracks this read by. */
  add(client: string, nonce: number): string {
    const id = `r${++this.#counter}`;
    this.#waiting.set(id, { client, nonce });
    return id;
  }

  /** The read with this id, forgotten (undefined if already answered). */
  take(id: string): { client: string; nonce: number } | undefined {
    const w = this.#waiting.get(id);
    this.#waiting.delete(id);
    return w;
  }
}
