// Errors of file storage.

/** The log is damaged somewhere other than its tail (or is not a storage log at all). */
export class StorageCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageCorruptionError';
  }
}

/** What is wrong with a store that refuses to open (see StorageDamagedError). */
export type StorageDamage =
  /** The log is shorter than what was synced and acknowledged (cut, even at a record boundary). */
  | 'shortened'
  /** A record, or the header, is damaged where no crash can have left it. */
  | 'damaged'
  /** The log is gone while storage.meta says one was written here. */
  | 'missing'
  /** The log is an older copy than the one storage.meta recorded (a rollback). */
  | 'replaced'
  /** Not a storage log (or a version this code cannot read). */
  | 'unreadable';

const ADVICE =
  'Refusing to open rather than serve without acknowledged writes. Do not edit or delete files to make it open: ' +
  'move the directory away (keep it for inspection) and restart the replica with an empty directory, so that it ' +
  'recovers its state from its peers (a store used alone: restore a backup).';

/**
 * The store's files show damage that a crash cannot produce (a crash only tears the last,
 * unacknowledged write, which is cut silently): a log shorter than what was acknowledged,
 * a damaged record or header before the tail, a deleted or rolled-back log. `expected` and
 * `found` are byte offsets or lengths for 'shortened' and 'damaged', generations for 'replaced'.
 */
export class StorageDamagedError extends StorageCorruptionError {
  readonly path: string;
  readonly damage: StorageDamage;
  readonly expected: number | undefined;
  readonly found: number | undefined;

  constructor(path: string, damage: StorageDamage, detail: string, expected?: number, found?: number) {
    super(`${detail}. ${ADVICE}`);
    this.name = 'StorageDamagedError';
    this.path = path;
    this.damage = damage;
    this.expected = expected;
    this.found = found;
  }
}

/** Another process (or another open instance in this process) holds the directory. */
export class StorageLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageLockedError';
  }
}

/** A write or fsync failed; the store refuses every later call (its memory may be ahead of the disk). */
export class StorageIOError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageIOError';
  }
}

