import { describe, expect, it } from 'vitest';
import { createLocalCluster } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

describe('byzantine smoke', () => {
  it('orders, executes and votes', async () => {
    const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 7 });
    try {
      const client = cluster.createClient();
      const out = await client.send({ type: 'INC' });
      console.log(JSON.stringify(out));
      expect((out.snapshot.context as { count: number }).count).toBe(1);
      for (let i = 0; i < 20; i++) await client.send({ type: 'INC' });
      const snap = await client.read();
      expect((snap.context as { count: number }).count).toBe(21);
      console.log(cluster.replicaIds.map((id) => JSON.stringify(cluster.replica(id).status())).join('\n'));
      console.log(JSON.stringify(cluster.replica('r1').metrics));
    } finally {
      await cluster.stop();
    }
  });
});
