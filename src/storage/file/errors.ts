// Errors of file storage.

/** The log is damaged somewhere other than its tail (or is not a storage log at all). */
export class StorageCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageCorruptionError';
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

