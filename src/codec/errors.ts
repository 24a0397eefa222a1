/** Why a value could not be encoded, or bytes could not be decoded. */
export type CodecErrorCode =
  | 'not-plain'
  | 'cycle'
  | 'too-deep'
  | 'too-large'
  | 'truncated'
  | 'bad-tag'
  | 'non-canonical'
  | 'trailing-bytes'
  | 'bad-utf8';

/**
 * The one error type of the codec. `path` locates the problem inside the value
 * (`value.items[2].name`); the message starts with it, so it reads well when logged as is.
 */
export class CodecError extends Error {
  readonly code: CodecErrorCode;
  readonly path: string;

  constructor(code: CodecErrorCode, path: string, detail: string) {
    super(path === '' ? detail : `${path}: ${detail}`);
    this.name = 'CodecError';
    this.code = code;
    this.path = path;
  }
}

/** Size and nesting limits, shared by encode and decode. */
export interface CodecLimits {
  /** Largest encoding accepted or produced, in bytes. Default 1 MiB. */
  maxSize?: number;
  /** Deepest nesting of arrays and objects. Default 64. */
  maxDepth?: number;
  /** Name of the root value in error paths (`event` gives `event.payload.when`). Default `value`. */
  rootName?: string;
}

export const DEFAULT_MAX_SIZE = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;
/** Encode and decode recurse once per level: this keeps them far from the engine's stack limit. */
const MAX_DEPTH_CAP = 1000;

export interface ResolvedLimits {
  maxSize: number;
  maxDepth: number;
  rootName: string;
}

const DEFAULTS: ResolvedLimits = { maxSize: DEFAULT_MAX_SIZE, maxDepth: DEFAULT_MAX_DEPTH, rootName: 'value' };

/** Limits are configuration, not input: a nonsensical one is a caller bug and throws. */
export function resolveLimits(limits: CodecLimits | undefined): ResolvedLimits {
  if (limits === undefined) return DEFAULTS;
  const maxSize = limits.maxSize ?? DEFAULT_MAX_SIZE;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const rootName = limits.rootName ?? 'value';
  if (typeof maxSize !== 'number' || !(maxSize >= 0)) throw new RangeError(`codec: maxSize must be a number >= 0, got ${String(maxSize)}`);
  if (typeof maxDepth !== 'number' || !Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_DEPTH_CAP) {
    throw new RangeError(`codec: maxDepth must be an integer in 0..${MAX_DEPTH_CAP}, got ${String(maxDepth)}`);
  }
  if (typeof rootName !== 'string') throw new RangeError('codec: rootName must be a string');
  return { maxSize, maxDepth, rootName };
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `root`, `root.a`, `root[3]`, `root["not an identifier"]`. */
export function formatPath(root: string, keys: ReadonlyArray<string | number>, length: number): string {
  let out = root;
  for (let i = 0; i < length; i++) {
    const k = keys[i];
    if (typeof k === 'number') out += `[${k}]`;
    else if (k !== undefined && k.length <= 40 && IDENTIFIER.test(k)) out += `.${k}`;
    else out += `[${quote(k ?? '')}]`;
  }
  return out;
}

/** A string as a JSON literal, cut short: keys from hostile input can be a megabyte long. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s);
}
