// The executor hashes the app state as a tree kept by identity (src/app/state-tree.ts): these
// tests guard what that must not change — equal states give equal digests however a replica
// got there (live, or restored from a snapshot), and state the app changes in place can
// neither go unnoticed nor make replicas differ.
import { describe, expect, it } from 'vitest';
import { assign, setup, spawnChild, createMachine, type AnyActorRef } from 'xstate';
import { createAppExecutor, SESSION_EVENT } from '../../src/app/index.ts';
import type { AppExecutor, AppRequest } from '../../src/app/index.ts';
import { StateTree } from '../../src/app/state-tree.ts';
import { encode } from '../../src/codec/index.ts';

const opening = (client: string): AppRequest => ({ client, session: 0, seq: 1, event: { type: SESSION_EVENT } });
const req = (seq: number, event: AppRequest['event']): AppRequest => ({ client: 'c', session: 1, seq, event });

/** A replica restored from `a`'s snapshot: restore itself checks that it gets `a`'s digest. */
function restoredFrom(a: AppExecutor, machine: Parameters<typeof createAppExecutor>[0]): AppExecutor {
  const b = createAppExecutor(machine);
  b.restore(a.snapshot());
  expect(b.digest).toBe(a.digest);
  return b;
}

const buckets = setup({
  types: { context: {} as { b: Record<string, Record<string, string>> }, events: {} as { type: 'SET'; bucket: string; key: string; value: string } },
}).createMachine({
  context: { b: { x: { k0: 'a' }, y: { k1: 'b' } } },
  on: {
    SET: { actions: assign({ b: ({ context, event }) => ({ ...context.b, [event.bucket]: { ...context.b[event.bucket], [event.key]: event.value } }) }) },
  },
});

describe('state tree hashing', () => {
  it('gives a live replica and one restored at any point the same digests for the same requests', () => {
    const a = createAppExecutor(buckets);
    a.applyRequest(1, 0, opening('c'));
    let b = restoredFrom(a, buckets);
    for (let i = 1; i <= 20; i++) {
      const event = { type: 'SET', bucket: i % 3 === 0 ? 'y' : i % 3 === 1 ? 'x' : 'z', key: `k${i % 4}`, value: `v${i}` };
      a.applyRequest(1 + i, i, req(i, event));
      b.applyRequest(1 + i, i, req(i, event));
      expect(b.digest).toBe(a.digest);
      if (i % 5 === 0) b = restoredFrom(a, buckets);
    }
  });

  it('hashes a tree to a different value than the same data with a child replaced by its hash', () => {
    const tree = new StateTree({ maxSize: 1 << 20, maxDepth: 64, rootName: 'app' });
    const child = { k: 'v' };
    const withChild = tree.hash({ a: child }).hash;
    const childHash = tree.hash(child).hash;
    expect(tree.hash({ a: childHash }).hash).not.toEqual(withChild);
  });

  it('reports the encoded size of the whole value, and refuses one over the limit naming the path', () => {
    const tree = new StateTree({ maxSize: 200, maxDepth: 64, rootName: 'app' });
    const value = { a: { b: [1, 2, 'three'] }, c: 'x'.repeat(50) };
    expect(tree.hash(value).size).toBe(encode(value).length);
    expect(() => tree.hash({ big: { inner: 'y'.repeat(300) } })).toThrow(/app\.big\.inner: encoding exceeds maxSize/);
    // no node is over the limit alone, the whole value is
    expect(() => tree.hash({ a: { s: 'x'.repeat(120) }, b: { s: 'y'.repeat(120) } })).toThrow(/^app: encoding exceeds maxSize \(200 bytes\)/);
  });

  it('names a cycle and the depth limit as encode does', () => {
    const tree = new StateTree({ maxSize: 1 << 20, maxDepth: 8, rootName: 'app' });
    const loop: Record<string, unknown> = { n: 1 };
    loop.self = { back: loop };
    expect(() => tree.hash({ loop })).toThrow(/^app\.loop\.self\.back: cyclic reference \(back to app\.loop\)/);
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 10; i++) deep = { d: deep };
    expect(() => tree.hash(deep)).toThrow(/nesting deeper than maxDepth \(8\)/);
  });

  it('turns a machine that changes its context in place into the same error state on a live and a restored replica', () => {
    const mutating = setup({ types: { context: {} as { items: string[] } } }).createMachine({
      context: { items: [] },
      on: {
        ADD: {
          actions: assign(({ context, event }) => {
            context.items.push((event as unknown as { item: string }).item);
            return { items: context.items };
          }),
        },
      },
    });
    const a = createAppExecutor(mutating);
    a.applyRequest(1, 0, opening('c'));
    const b = restoredFrom(a, mutating);
    for (const x of [a, b]) x.applyRequest(2, 1, req(1, { type: 'ADD', item: 'one' }));
    expect(a.digest).toBe(b.digest);
    const view = a.view();
    expect(view.status).toBe('error');
    expect(view.error).toMatch(/^TypeError/);
    expect(b.view()).toEqual(view);
  });

  it('hashes a byte array the app changes in place afresh each time', () => {
    const bytes = setup({ types: { context: {} as { box: { data: Uint8Array; n: number } } } }).createMachine({
      context: () => ({ box: { data: new Uint8Array(4), n: 0 } }),
      on: {
        BUMP: {
          actions: assign(({ context }) => {
            context.box.data[0]!++; // a Uint8Array cannot be frozen: its node is never kept
            return { box: { ...context.box, n: context.box.n } };
          }),
        },
      },
    });
    const a = createAppExecutor(bytes);
    a.applyRequest(1, 0, opening('c'));
    const seen = new Set<string>([a.digest]);
    for (let i = 1; i <= 3; i++) {
      a.applyRequest(1 + i, i, req(i, { type: 'BUMP' }));
      seen.add(a.digest);
      restoredFrom(a, bytes);
    }
    expect(seen.size).toBe(4);
  });

  it('hashes actor refs in the context as XState persists them, so a restored replica agrees', () => {
    const child = createMachine({ context: { n: 0 }, on: { PING: { actions: assign({ n: ({ context }) => context.n + 1 }) } } });
    const parent = setup({ actors: { child }, types: { context: {} as { refs: Record<string, AnyActorRef> } } }).createMachine({
      context: { refs: {} },
      on: {
        SPAWN: { actions: assign({ refs: ({ context, spawn, event }) => ({ ...context.refs, [(event as unknown as { id: string }).id]: spawn('child', { id: (event as unknown as { id: string }).id }) }) }) },
        PING: { actions: ({ context }) => Object.values(context.refs).forEach((r) => r.send({ type: 'PING' })) },
        NOTE: { actions: spawnChild('child', { id: 'plain' }) },
      },
    });
    const a = createAppExecutor(parent);
    a.applyRequest(1, 0, opening('c'));
    const events = [{ type: 'SPAWN', id: 'one' }, { type: 'PING' }, { type: 'SPAWN', id: 'two' }, { type: 'NOTE' }, { type: 'PING' }];
    events.forEach((event, i) => {
      a.applyRequest(2 + i, i, req(i + 1, event));
      restoredFrom(a, parent);
    });
    expect(a.view().context).toEqual({ refs: { one: { xstate$$type: 1, id: 'one' }, two: { xstate$$type: 1, id: 'two' } } });
  });
});
