/**
 * The part of vitest's API our runtime-neutral tests use, on top of Deno.test, so the same
 * test files run under Deno (deno.json maps "vitest" here). Keep tests that run under Deno
 * to these functions and matchers.
 */
declare const Deno: { test(def: { name: string; fn: () => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean }): void };

type Fn = () => unknown;
interface Scope {
  name: string;
  parent: Scope | undefined;
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  beforeAllDone: boolean;
  testsLeft: number;
}

const root: Scope = newScope('', undefined);
let current = root;

function newScope(name: string, parent: Scope | undefined): Scope {
  return { name, parent, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], beforeAllDone: false, testsLeft: 0 };
}

function chain(scope: Scope): Scope[] {
  const out: Scope[] = [];
  for (let s: Scope | undefined = scope; s; s = s.parent) out.unshift(s);
  return out;
}

export function describe(name: string, body: () => void): void {
  const scope = newScope(name, current);
  const saved = current;
  current = scope;
  try {
    body();
  } finally {
    current = saved;
  }
}

export function it(name: string, fn: () => unknown, _timeout?: number): void {
  const scopes = chain(current);
  for (const s of scopes) s.testsLeft++;
  const fullName = [...scopes.map((s) => s.name).filter(Boolean), name].join(' > ');
  Deno.test({
    name: fullName,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      try {
        for (const s of scopes) {
          if (!s.beforeAllDone) {
            s.beforeAllDone = true;
            for (const h of s.beforeAll) await h();
          }
        }
        for (const s of scopes) for (const h of s.beforeEach) await h();
        try {
          await fn();
        } finally {
          for (const s of [...scopes].reverse()) for (const h of s.afterEach) await h();
        }
      } finally {
        for (const s of [...scopes].reverse()) {
          if (--s.testsLeft === 0) for (const h of s.afterAll) await h();
        }
      }
    },
  });
}
export const test = it;

export const beforeAll = (fn: Fn) => void current.beforeAll.push(fn);
export const afterAll = (fn: Fn) => void current.afterAll.push(fn);
export const beforeEach = (fn: Fn) => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn) => void current.afterEach.push(fn);

class AssertionError extends Error {
  override name = 'AssertionError';
}

function show(x: unknown): string {
  if (x instanceof Uint8Array) return `Uint8Array[${Array.from(x.slice(0, 32)).join(',')}${x.length > 32 ? ',…' : ''}]`;
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'string') return JSON.stringify(x);
  try {
    return JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `Uint8Array(${v.length})` : v)) ?? String(x);
  } catch {
    return String(x);
  }
}

/** Deep equality in the manner of vitest's toEqual (strict=false ignores undefined properties and prototypes). */
function equals(a: unknown, b: unknown, strict: boolean): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !equals(v, b.get(k), strict)) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keys = (o: object) => Object.keys(o).filter((k) => strict || (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!equals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], strict)) return false;
  }
  return true;
}

type Expected = string | RegExp | (new (...args: never[]) => unknown) | undefined;

function errorMatches(err: unknown, expected: Expected): boolean {
  if (expected === undefined) return true;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof expected === 'string') return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  return err instanceof expected;
}

function matchers(actual: unknown, negate: boolean) {
  const check = (pass: boolean, what: string) => {
    if (pass === negate) throw new AssertionError(`expected ${show(actual)} ${negate ? 'not ' : ''}${what}`);
  };
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), `to be ${show(e)}`),
    toEqual: (e: unknown) => check(equals(actual, e, false), `to equal ${show(e)}`),
    toStrictEqual: (e: unknown) => check(equals(actual, e, true), `to strictly equal ${show(e)}`),
    toBeTruthy: () => check(Boolean(actual), 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeNull: () => check(actual === null, 'to be null'),
    toBeGreaterThan: (e: number | bigint) => check((actual as number) > e, `to be > ${show(e)}`),
    toBeGreaterThanOrEqual: (e: number | bigint) => check((actual as number) >= e, `to be >= ${show(e)}`),
    toBeLessThan: (e: number | bigint) => check((actual as number) < e, `to be < ${show(e)}`),
    toBeLessThanOrEqual: (e: number | bigint) => check((actual as number) <= e, `to be <= ${show(e)}`),
    toBeCloseTo: (e: number, digits = 2) => check(Math.abs((actual as number) - e) < 10 ** -digits / 2, `to be close to ${e}`),
    toBeInstanceOf: (c: new (...args: never[]) => unknown) => check(actual instanceof c, `to be an instance of ${c.name}`),
    toHaveLength: (n: number) => check((actual as { length?: number })?.length === n, `to have length ${n}`),
    toContain: (e: unknown) =>
      check(
        typeof actual === 'string' ? actual.includes(e as string) : Array.isArray(actual) && actual.some((x) => Object.is(x, e)),
        `to contain ${show(e)}`,
      ),
    toMatch: (e: string | RegExp) => check(typeof e === 'string' ? String(actual).includes(e) : e.test(String(actual)), `to match ${String(e)}`),
    toThrow: (e?: Expected) => {
      let threw = false;
      let error: unknown;
      try {
        (actual as () => unknown)();
      } catch (err) {
        threw = true;
        error = err;
      }
      check(threw && errorMatches(error, e), `to throw ${e === undefined ? '' : String(e)} (got ${threw ? show(error instanceof Error ? error.message : error) : 'no error'})`);
    },
  };
}

type Sync = ReturnType<typeof matchers>;
type Async = { [K in keyof Sync]: (...args: Parameters<Sync[K]>) => Promise<void> };

export function expect(actual: unknown) {
  const asyncMatchers = (settle: () => Promise<unknown>, negate: boolean): Async =>
    new Proxy({} as Async, {
      get: (_t, name: string) => async (...args: unknown[]) => {
        const value = await settle();
        const m = matchers(value, negate) as unknown as Record<string, (...a: unknown[]) => void>;
        // rejects.toThrow(x) checks the rejection reason itself
        if (name === 'toThrow') {
          const pass = errorMatches(value, args[0] as Expected);
          if (pass === negate) throw new AssertionError(`expected rejection ${show(value instanceof Error ? value.message : value)} ${negate ? 'not ' : ''}to match ${String(args[0])}`);
          return;
        }
        m[name]!(...args);
      },
    });
  const rejects = () =>
    (actual as Promise<unknown>).then(
      (v) => {
        throw new AssertionError(`expected a rejection, got ${show(v)}`);
      },
      (err) => err,
    );
  return Object.assign(matchers(actual, false), {
    not: matchers(actual, true),
    resolves: Object.assign(asyncMatchers(() => actual as Promise<unknown>, false), {
      not: asyncMatchers(() => actual as Promise<unknown>, true),
    }),
    rejects: Object.assign(asyncMatchers(rejects, false), { not: asyncMatchers(rejects, true) }),
  });
}
