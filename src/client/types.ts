// What a client's operations resolve with: plain data, the same under both fault models.

/** The application state as agreed: XState's snapshot shape, as plain data. */
export interface AppSnapshot {
  value: unknown;
  context: unknown;
  status: string;
  /** When `status` is 'error': what went wrong. */
  error?: string;
  /** When `status` is 'done': the machine's `output`. */
  output?: unknown;
}

export interface Outcome {
  /** The event's position in the total order. */
  index: number;
  /** The application state right after this event. */
  snapshot: AppSnapshot;
  digest: string;
  /** Replicas whose replies matched (one under the crash model), sorted. */
  agreed: string[];
  /** Replicas whose replies differed, with their digests. */
  dissent: Array<{ replica: string; digest: string }>;
}

export interface ReadOutcome {
  index: number;
  snapshot: AppSnapshot;
  digest: string;
  agreed: string[];
  dissent: Array<{ replica: string; digest: string }>;
}

/** Where this client's session stands (see `client.session()`). */
export interface SessionInfo {
  /** The session id: the log index of the entry that opened it. */
  id: number;
  /**
   * The number of this session's last request known to be applied (0: none). After a
   * resume: as the group found it, i.e. whether the earlier run's last request was applied.
   */
  seq: number;
}

/** A replica whose reply differed from the accepted one (byzantine model). */
export interface DissentRecord {
  /** The request's sequence number, for a dissenting `reply`. */
  seq?: number;
  /** The read's nonce, for a dissenting `readReply`. */
  nonce?: number;
  replica: string;
  digest: string;
}
