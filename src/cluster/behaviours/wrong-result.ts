/**
 * The simulated 'wrong-result' behaviour: an executor that, while `lying()` holds, skips every
 * client event it is given (session openings excepted) and answers with the state it then has,
 * so its state, checkpoints and replies diverge from the correct replicas'. Everything else is
 * the wrapped executor's.
 */
import type { AppExecutor, AppRequest, ApplyResult } from '../../app/index.ts';

export function wrongResultExecutor(inner: AppExecutor, lying: () => boolean): AppExecutor {
  return {
    get actor() {
      return inner.actor;
    },
    get appliedIndex() {
      return inner.appliedIndex;
    },
    get time() {
      return inner.time;
    },
    get digest() {
      return inner.digest;
    },
    applyRequest(index: number, time: number, request: AppRequest): ApplyResult {
      if (!lying() || request.session === 0) return inner.applyRequest(index, time, request);
      inner.applyNoop(index, time);
      return { index, digest: inner.digest, snapshot: inner.view(), duplicate: false };
    },
    applyNoop: (index, time) => inner.applyNoop(index, time),
    nextTimerDue: () => inner.nextTimerDue(),
    snapshot: () => inner.snapshot(),
    restore: (bytes) => inner.restore(bytes),
    view: () => inner.view(),
    lastReply: (client, session) => inner.lastReply(client, session),
    answerFromCache: (request) => inner.answerFromCache(request),
    stop: () => inner.stop(),
  };
}
