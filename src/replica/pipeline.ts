import type { Storage, StorageOp } from '../storage/index.ts';
import type { ReplicaMetrics } from './types.ts';

/**
 * What a fault model plugs into the effect loop: how to read its core's effects and how to
 * carry out each kind. Both cores speak the same three kinds the loop orders (`persist`,
 * `send`, everything else); the rest is the model's.
 */
export interface EffectModel<E extends { type: string }> {
  /** The core's pending effects; empty when it has nothing more to say. */
  take(): E[];
  /** The core is quiet: true if this gave it more to do (the loop goes round again). */
  idle(): Promise<boolean> | boolean;
  /** Storage writes of a `persist` effect. */
  persistOps(effect: E): StorageOp[];
  /**
   * Crash model: a leader's own new entries are written while their appends go out. Returns
   * the last index such a persist makes durable (reported through `persisted` once written),
   * or undefined for a persist that must be durable before the sends after it.
   */
  overlap?(effect: E): number | undefined;
  persisted?(upTo: number): void;
  /** Sends that came together, once every write before them is durable (the model signs and transmits). */
  send(effects: E[]): Promise<void>;
  /** Any other effect, in order, after the writes and sends before it. */
  carryOut(effect: E): Promise<void>;
}

/**
 * The replica's effect loop, the same for both fault models (etcd's `Ready` loop): writes are
 * batched and made durable before any send that follows them, sends are handed over together,
 * other effects run in order; repeated until the core is quiet.
 */
export async function drainEffects<E extends { type: string }>(model: EffectModel<E>, storage: Storage, metrics: ReplicaMetrics): Promise<void> {
  for (;;) {
    const effects = model.take();
    if (effects.length === 0) {
      if (await model.idle()) continue;
      return;
    }
    let writes: StorageOp[] = [];
    let sends: E[] = [];
    const overlapped: Array<Promise<void>> = [];
    let overlappedUpTo = 0;
    const flushWrites = async () => {
      if (writes.length === 0) return;
      const ops = writes;
      writes = [];
      metrics.storageWrites++;
      await storage.batch(ops);
    };
    const flushSends = async () => {
      if (sends.length === 0) return;
      const out = sends;
      sends = [];
      await model.send(out);
    };
    for (const effect of effects) {
      if (effect.type === 'persist') {
        // Writes never wait behind sends, but sends after a write wait for it (durability order)...
        await flushSends();
        const upTo = model.overlap?.(effect);
        if (upTo !== undefined) {
          // ...except a leader's own new entries: storage applies writes in call order, so later
          // writes still land after these, and the core counts them only once reported durable.
          await flushWrites();
          metrics.storageWrites++;
          overlapped.push(storage.batch(model.persistOps(effect)));
          overlappedUpTo = Math.max(overlappedUpTo, upTo);
          continue;
        }
        writes.push(...model.persistOps(effect));
        continue;
      }
      await flushWrites();
      if (effect.type === 'send') {
        sends.push(effect);
        continue;
      }
      await flushSends();
      await model.carryOut(effect);
    }
    await flushWrites();
    await flushSends();
    if (overlapped.length > 0) {
      await Promise.all(overlapped);
      model.persisted?.(overlappedUpTo);
    }
  }
}
