/**
 * The app state's hash as a tree, so a request pays for what it changed, not for the whole
 * state (DESIGN §4: the cost of applying one request must not grow with the size of the state).
 *
 * The tree hash of an array or plain object is SHA-256 of its node encoding (codec
 * `encodeNode`: its canonical encoding with every child array or object written as TAG_REF and
 * the child's tree hash). A node is hashed once: its hash is kept by identity, and the node is
 * frozen, so it cannot change under its kept hash. XState never changes a context in place
 * (`assign` makes a new one), so only the objects a request created are hashed again, plus
 * the path above them. A machine that changes its context in place now fails on every replica
 * at the same event (strict mode: a TypeError), instead of changing state that another
 * replica, restored from a snapshot, would hold differently.
 *
 * A node holding a Uint8Array is not kept (its bytes can change in place even when frozen):
 * it and the nodes above it are hashed again each time.
 *
 * Actor refs in a context are hashed and persisted as XState persists them
 * (`{ xstate$$type: 1, id }`), so hashing the live context gives the hash of the persisted one;
 * `out` is that persisted form (the node itself when nothing under it is a ref).
 *
 * Size and depth are those of the canonical encoding of the whole value, checked as `encode`
 * would (CodecError naming the path), from the sizes and depths kept per node.
 */
import { CodecError, encodeNode, formatPath, type CodecLimits } from '../codec/index.ts';
import { sha256Sync } from '../crypto/index.ts';

/** What a node's hash is kept with. */
interface NodeInfo {
  hash: Uint8Array;
  /** Bytes of the node's canonical encoding (children included). */
  size: number;
  /** Nesting depth of the node (1: no container below it). */
  depth: number;
  /** The persisted form: the node itself, or a copy with actor refs in XState's persisted shape. */
  out: object;
  /** False when a Uint8Array is under it: not kept, hashed again each time. */
  kept: boolean;
}

/** XState's marker for a persisted actor ref (`$$ACTOR_TYPE`). */
const ACTOR_TYPE = 1;

/** An actor ref, recognised as XState's persistContext recognises it. */
function isActorRef(v: object): v is { id: string } {
  return 'sessionId' in v && 'send' in v && 'ref' in v;
}

/** Errors that already carry their full path (thrown from a child, passing through its parents). */
const located = new WeakSet<CodecError>();

export class StateTree {
  readonly #cache = new WeakMap<object, NodeInfo>();
  /** The nodes being hashed, outermost first (for the depth and cycle checks). */
  readonly #stack: object[] = [];
  /** The key of each node on the stack below the root (the error path). */
  readonly #keys: Array<string | number> = [];
  readonly #maxSize: number;
  readonly #maxDepth: number;
  readonly #rootName: string;

  constructor(limits: Required<CodecLimits>) {
    this.#maxSize = limits.maxSize;
    this.#maxDepth = limits.maxDepth;
    this.#rootName = limits.rootName;
  }

  /** Tree hash, encoded size and persisted form of `root` (an array or plain object). Throws CodecError. */
  hash(root: object): { hash: Uint8Array; size: number; out: object } {
    this.#stack.length = 0;
    this.#keys.length = 0;
    const info = this.#node(root);
    return { hash: info.hash, size: info.size, out: info.out };
  }

  #node(v: object): NodeInfo {
    const above = this.#stack.length;
    const cached = this.#cache.get(v);
    if (cached !== undefined) {
      if (above + cached.depth > this.#maxDepth) throw this.#fail('too-deep', `nesting deeper than maxDepth (${this.#maxDepth})`);
      return cached;
    }
    if (isActorRef(v)) {
      const persisted = { xstate$$type: ACTOR_TYPE, id: v.id };
      return { ...this.#node(persisted), out: persisted, kept: false };
    }
    if (above >= this.#maxDepth) throw this.#tooDeep(v);
    this.#stack.push(v);
    let size = 0;
    let depth = 0;
    let kept = true;
    let outs: Array<[string | number, object]> | undefined;
    const ref = (child: object, key: string | number): Uint8Array => {
      this.#keys.push(key);
      const c = this.#node(child);
      this.#keys.pop();
      size += c.size - 33;
      if (c.depth > depth) depth = c.depth;
      if (!c.kept) kept = false;
      if (c.out !== child) (outs ??= []).push([key, c.out]);
      return c.hash;
    };
    let hash: Uint8Array;
    try {
      hash = encodeNode(v, this.#maxSize, ref, (bytes, sawBytes) => {
        size += bytes.length;
        if (sawBytes) kept = false;
        return sha256Sync(bytes);
      });
    } catch (err) {
      throw this.#locate(err);
    }
    this.#stack.pop();
    if (size > this.#maxSize) throw this.#fail('too-large', `encoding exceeds maxSize (${this.#maxSize} bytes)`);
    let out: object = v;
    if (outs !== undefined) {
      const copy = (Array.isArray(v) ? v.slice() : { ...v }) as Record<string | number, unknown>;
      for (const [key, o] of outs) copy[key] = o;
      out = Object.freeze(copy);
    }
    const info: NodeInfo = { hash, size, depth: depth + 1, out, kept };
    if (kept) {
      Object.freeze(v);
      this.#cache.set(v, info);
    }
    return info;
  }

  /** At the depth limit: a cycle if some node repeats on the way down (the first to repeat is named, as encode does). */
  #tooDeep(v: object): CodecError {
    const chain = [...this.#stack, v];
    for (let j = 1; j < chain.length; j++) {
      const i = chain.indexOf(chain[j]!);
      if (i < j) {
        const err = new CodecError('cycle', formatPath(this.#rootName, this.#keys, j), `cyclic reference (back to ${formatPath(this.#rootName, this.#keys, i)})`);
        located.add(err);
        return err;
      }
    }
    return this.#fail('too-deep', `nesting deeper than maxDepth (${this.#maxDepth})`);
  }

  #fail(code: 'too-deep' | 'cycle' | 'too-large', detail: string): CodecError {
    const err = new CodecError(code, formatPath(this.#rootName, this.#keys, this.#keys.length), detail);
    located.add(err);
    return err;
  }

  /** A CodecError from encodeNode has a path relative to the node: prefix the node's own. */
  #locate(err: unknown): unknown {
    if (!(err instanceof CodecError) || located.has(err)) return err;
    const detail = err.path === '' ? err.message : err.message.slice(err.path.length + 2);
    const out = new CodecError(err.code, formatPath(this.#rootName, this.#keys, this.#keys.length) + err.path, detail);
    located.add(out);
    return out;
  }
}
