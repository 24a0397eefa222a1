// The Byzantine quorum counts (n >= 3f+1), pure arithmetic: the protocol (byzantine/quorum.ts
// re-exports them) and the clients' vote counting share them. Outside actors/byzantine/ on
// purpose: a crash-only app's client can vote on a Byzantine group's replies, and must not
// bundle the Byzantine protocol for it.

/** Faults tolerated by n replicas: n >= 3f + 1. */
export function faultsTolerated(n: number): number {
  return Math.max(0, Math.floor((n - 1) / 3));
}

/**
 * Size of a quorum of n replicas: any two quorums share a correct replica, even when n is not
 * 3f+1 (n = 4: 3; n = 5: 4; n = 3: 2).
 */
export function quorumSize(n: number): number {
  return Math.ceil((n + faultsTolerated(n) + 1) / 2);
}

/** f+1: at least one of them is correct. */
export function weakQuorum(n: number): number {
  return faultsTolerated(n) + 1;
}
