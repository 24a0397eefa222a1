import { assign, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createLocalCluster } from '../../src/index.ts';

/** A key-value store: LOAD many keys at once. */
const store = setup({
  types: { context: {} as { data: Record<string, string> }, events: {} as { type: 'LOAD'; kv: Record<string, string> } | { type: 'INC' } },
}).createMachine({
  context: { data: {} },
  on: { LOAD: { actions: assign({ data: ({ context, event }) => ({ ...context.data, ...event.kv }) }) }, INC: {} },
});

function keys(from: number, n: number): Record<string, string> {
  const kv: Record<string, string> = {};
  for (let i = from; i < from + n; i++) kv[`key-${String(i).padStart(6, '0')}`] = `value-${i}-`.padEnd(70, '.');
  return kv;
}

describe('crash: chunked snapshot transfer on a slow link', () => {
  it('a transfer far longer than the leader’s snapshot timeout completes (a repeated first chunk does not restart it)', async () => {
    const cluster = await createLocalCluster({ machine: store, faultModel: 'crash', seed: 21, tuning: { snapshotEvery: 4, keepEntries: 1, stateChunkBytes: 4 * 1024 } });
    try {
      const client = cluster.createClient();
      await client.send({ type: 'INC' });
      const leader = await cluster.waitForLeader();
      const behind = cluster.replicaIds.find((id) => id !== leader)!;
      cluster.crash(behind);
      for (let i = 0; i < 6; i++) await client.send({ type: 'LOAD', kv: keys(i * 1000, 1000) });
      // ~600 KB in 4 KiB chunks, one in flight, 40 ms round trip: ~6 s of virtual time.
      cluster.network({ latency: { min: 20, max: 20 } });
      const started = cluster.sim.clock.now();
      await cluster.restart(behind);
      await cluster.waitFor(() => cluster.replica(behind).metrics.snapshotsInstalled > 0, { timeoutMs: 60_000 });
      expect(cluster.sim.clock.now() - started).toBeGreaterThan(3000);
      const top = cluster.replica(leader).status().appliedIndex;
      await cluster.waitFor(() => cluster.replica(behind).status().appliedIndex >= top, { timeoutMs: 10_000 });
      expect(cluster.replica(behind).status().digest).toBe(cluster.replica(leader).status().digest);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});

describe('crash: snapshot size limit', () => {
  const big = (i: number) => ({ type: 'LOAD' as const, kv: { [`k${i}`]: 'x'.repeat(15_000) } });

  it('a state larger than 64 messages (the old cap) still reaches a lagging replica; only tuning.maxSnapshotBytes bounds it, counted', async () => {
    for (const [maxSnapshotBytes, installs] of [[undefined, true], [1024 * 1024, false]] as const) {
      const tuning = { maxMessageBytes: 64 * 1024, maxEventBytes: 16 * 1024, snapshotEvery: 64, keepEntries: 1, ...(maxSnapshotBytes ? { maxSnapshotBytes } : {}) };
      const cluster = await createLocalCluster({ machine: store, faultModel: 'crash', seed: 22, tuning });
      try {
        const client = cluster.createClient();
        await client.send({ type: 'INC' });
        const leader = await cluster.waitForLeader();
        const behind = cluster.replicaIds.find((id) => id !== leader)!;
        cluster.crash(behind);
        // ~4.6 MB: more than 64 × 64 KiB.
        for (let i = 0; i < 300; i++) await client.send(big(i));
        await cluster.restart(behind);
        if (installs) {
          await cluster.waitFor(() => cluster.replica(behind).metrics.snapshotsInstalled > 0, { timeoutMs: 60_000 });
          expect(cluster.replica(behind).metrics.dropped['snapshot-too-large'] ?? 0).toBe(0);
        } else {
          await cluster.waitFor(() => (cluster.replica(behind).metrics.dropped['snapshot-too-large'] ?? 0) > 0, { timeoutMs: 10_000 });
          expect(cluster.replica(behind).metrics.snapshotsInstalled).toBe(0);
        }
      } finally {
        await cluster.stop();
      }
    }
  }, 180_000);
});
