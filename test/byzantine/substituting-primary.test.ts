/**
 * A faulty primary that pre-prepares a made-up version of every honest request it orders
 * (src/cluster/behaviours/misbehaviour.ts, 'substitute'). Backups must not take its word that the clients equivocated:
 * the unvouched slots blame the primary, the view changes, and the next primary orders the
 * honest requests.
 */
import { describe, expect, it } from 'vitest';
import { createLocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

const tuning = { checkpointEvery: 8, windowSize: 32, requestTimeoutMs: 500, viewChangeTimeoutMs: 500, statusMs: 50 };

describe('Byzantine: a primary that substitutes honest clients\' requests', () => {
  it('is voted out within a bound (its unvouched slots time out), and every honest client commits with no suspicion of them', async () => {
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 3, tuning, client: { retryAfterMs: 150, giveUpAfterMs: 30_000 } });
    try {
      const primary = cluster.leader()!;
      await cluster.byzantine(primary, 'substitute');
      const clients = [cluster.createClient(), cluster.createClient(), cluster.createClient()];
      const t0 = cluster.sim.clock.now();
      let viewChangedAt: number | undefined;
      const watch = (async () => {
        while (viewChangedAt === undefined && cluster.sim.clock.now() - t0 < 30_000) {
          await cluster.sim.clock.sleep(20);
          if (cluster.replicaIds.some((id) => id !== primary && (cluster.replica(id).status().view ?? 0) > 0)) viewChangedAt = cluster.sim.clock.now();
        }
      })();
      await Promise.all(clients.map(async (c) => {
        for (let i = 0; i < 5; i++) await c.send({ type: 'ADD', amount: 1 });
      }));
      const took = cluster.sim.clock.now() - t0;
      await watch;
      // Request timeout (500 ms) plus a view change: well under the 10 s a suspected client waited.
      expect(viewChangedAt! - t0).toBeLessThan(2_000);
      expect(took).toBeLessThan(3_000);
      const correct = cluster.replicaIds.filter((id) => id !== primary);
      await cluster.sim.clock.sleep(500);
      for (const id of correct) expect((cluster.replica(id).app.getSnapshot().context as { count: number }).count).toBe(15);
    } finally {
      await cluster.stop();
    }
  });
});
