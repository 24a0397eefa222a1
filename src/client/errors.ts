import { EventTooLargeError } from '../wire/index.ts';
import type { DisagreeGroup } from './disagreement.ts';

export { EventTooLargeError };

/** The client gave up; the request may or may not have taken effect. */
export class ClientTimeoutError extends Error {
  override name = 'ClientTimeoutError';
}

/** Byzantine: replies disagree so that no result gathers its quorum (a timeout too: the outcome is unknown). */
export class ReplicasDisagreeError extends ClientTimeoutError {
  override name = 'ReplicasDisagreeError';
  constructor(message: string, readonly groups: DisagreeGroup[]) {
    super(message);
  }
}

/** A replica refused the request (a bad event, or a request older than this client's last); it was not applied. */
export class RequestRejectedError extends Error {
  override name = 'RequestRejectedError';
}

/**
 * The request under this number was not applied: another request was applied under the same
 * (session, seq) (a resumed or misconfigured client reused a number). Never a cached outcome.
 */
export class RequestMismatchError extends RequestRejectedError {
  override name = 'RequestMismatchError';
}

/**
 * The client's session is no longer in the group's session table (idle past the lease, or
 * evicted as the least recently active when the table was full): the request was not applied
 * now and never will be, but an earlier copy of it may have been (like a timeout, its outcome
 * is unknown). The client opens a new session on its next send.
 */
export class SessionExpiredError extends Error {
  override name = 'SessionExpiredError';
}

/** A replica's refusal: EventTooLargeError when it names the size budget, else RequestRejectedError. */
export function rejection(replica: string, body: Record<string, unknown>): Error {
  const message = `${replica}: ${String(body.message)}`;
  if (body.code === 'event-too-large' && typeof body.limit === 'number') return new EventTooLargeError(typeof body.size === 'number' ? body.size : Infinity, body.limit, message);
  if (body.code === 'session-expired') return new SessionExpiredError(message);
  if (body.code === 'request-mismatch') return new RequestMismatchError(message);
  return new RequestRejectedError(message);
}
