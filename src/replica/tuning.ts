import { DEFAULT_TUNING, type ReplicaTuning } from './types.ts';

/**
 * What every tuning option (both fault models) and every client timing option accepts, checked
 * once where options enter: createReplica, createLocalCluster, startProcessGroup, createClient.
 * A value outside its range (`tickMs: 0` would spin, `checkpointEvery: 0` divides by zero,
 * `maxMessageBytes: -1` drops every message) is refused with a RangeError naming the option,
 * the value and what is allowed, instead of a group that silently never works.
 */
export interface OptionRule {
  readonly ok: (v: number) => boolean;
  /** What is allowed, for the error message. */
  readonly allowed: string;
}

/** Node's and the browsers' timers fire at once for longer delays. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const whole = (min: number): OptionRule => ({ ok: (v) => Number.isSafeInteger(v) && v >= min, allowed: `a whole number ≥ ${min}` });
const timerMs: OptionRule = { ok: (v) => Number.isFinite(v) && v >= 1 && v <= MAX_TIMER_MS, allowed: `a number of milliseconds from 1 to ${MAX_TIMER_MS}` };

/** One rule per option: the mapped type makes a new ReplicaTuning option without a rule a compile error. */
export const TUNING_RULES: { readonly [K in keyof ReplicaTuning]: OptionRule } = {
  tickMs: timerMs,
  electionTicks: whole(1),
  heartbeatTicks: whole(1),
  idleHeartbeatTicks: whole(0),
  maxBatch: whole(1),
  snapshotEvery: whole(1),
  keepEntries: whole(0),
  // Below this a signed envelope with a few requests no longer fits.
  maxMessageBytes: whole(64 * 1024),
  // At most MAX_EVENT_BYTES: the executor refuses larger events at apply time whatever a replica accepts.
  maxEventBytes: { ok: (v) => Number.isSafeInteger(v) && v >= 1 && v <= 1024 * 1024, allowed: 'a whole number of bytes from 1 to 1048576 (1 MiB)' },
  removeSilentAfterMs: { ok: (v) => Number.isFinite(v) && v >= 0, allowed: 'a number of milliseconds ≥ 0 (0 = off)' },
  checkpointEvery: whole(1),
  windowSize: whole(1),
  requestTimeoutMs: timerMs,
  viewChangeTimeoutMs: timerMs,
  statusMs: timerMs,
  stateChunkBytes: whole(1),
  maxSnapshotBytes: whole(1),
};

/** Options both replica runtimes read; each fault model's descriptor (src/fault-models) adds its own. */
export const SHARED_TUNING_KEYS = ['tickMs', 'maxBatch', 'maxMessageBytes', 'maxEventBytes', 'stateChunkBytes', 'maxSnapshotBytes'] as const satisfies ReadonlyArray<keyof ReplicaTuning>;

export interface ClientTiming {
  retryAfterMs?: number;
  giveUpAfterMs?: number;
  readFallbackMs?: number;
  noLinkAfterMs?: number;
}

export const CLIENT_RULES: { readonly [K in keyof Required<ClientTiming>]: OptionRule } = {
  retryAfterMs: timerMs,
  // Only compared with elapsed time (never a timer): Infinity means never give up.
  giveUpAfterMs: { ok: (v) => v >= 1, allowed: 'a number of milliseconds ≥ 1 (Infinity: never give up)' },
  readFallbackMs: timerMs,
  // Compared with elapsed time on each retry: Infinity turns the NoLinkError check off.
  noLinkAfterMs: { ok: (v) => v >= 1, allowed: 'a number of milliseconds ≥ 1 (Infinity: never)' },
};

/**
 * Checks a partial tuning and returns it over the defaults. `where` names the caller in the
 * error (e.g. 'createReplica'). Options left undefined keep their default.
 */
export function resolveTuning(tuning: unknown, where: string): ReplicaTuning {
  const given = checkOptions(tuning, TUNING_RULES, `${where}: tuning`);
  const t: ReplicaTuning = { ...DEFAULT_TUNING, ...(given as Partial<ReplicaTuning>) };
  // Followers must hear a heartbeat before their election timeout, or they depose a healthy leader.
  if (t.heartbeatTicks >= t.electionTicks) {
    throw new RangeError(`${where}: tuning.heartbeatTicks (${t.heartbeatTicks}) must be less than tuning.electionTicks (${t.electionTicks})`);
  }
  // The window must reach the next checkpoint, or the stable checkpoint never advances and ordering stops.
  if (t.windowSize < t.checkpointEvery) {
    throw new RangeError(`${where}: tuning.windowSize (${t.windowSize}) must be at least tuning.checkpointEvery (${t.checkpointEvery})`);
  }
  return t;
}

/** Checks a client's timing options (those present); `where` names the caller in the error. */
export function checkClientTiming(options: unknown, where: string): void {
  checkOptions(options, CLIENT_RULES, where, false);
}

/**
 * The given options without undefined ones. `strict`: a name without a rule is refused (a typo
 * would otherwise be ignored); client options objects carry other fields, so they are not strict.
 */
function checkOptions(options: unknown, rules: Record<string, OptionRule>, where: string, strict = true): Record<string, number> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`${where} must be an object`);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(options)) {
    const rule = Object.hasOwn(rules, name) ? rules[name] : undefined;
    if (!rule) {
      if (strict) throw new TypeError(`${where}.${name} is not an option (known: ${Object.keys(rules).join(', ')})`);
      continue;
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || !rule.ok(value)) {
      throw new RangeError(`${where}.${name} must be ${rule.allowed}, got ${describe(value)}`);
    }
    out[name] = value;
  }
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}
