// Replica groups over real WebRTC, one process per replica, with file storage (or memory, to
// see what the disk costs), under the shared closed-loop load from one load process whose
// clients share a connection to each replica.
import { fileURLToPath } from 'node:url';
import type { ReplicaTuning } from '../src/replica/types.ts';
import { startProcessGroup, type ProcessGroup } from '../src/cluster/process-group.ts';
import type { Client } from '../src/client/index.ts';
import { storeEvent } from './apps.ts';
import { runLoad, type LoadResult } from './load.ts';

const APPS = fileURLToPath(new URL('./apps.js', import.meta.url));

/**
 * Two cores carry every replica and the load: generous timeouts keep CPU contention from
 * looking like a dead leader or a faulty primary (we measure the normal case).
 */
export const NETWORK_TUNING: Record<'crash' | 'byzantine', Partial<ReplicaTuning>> = {
  crash: { electionTicks: 100 },
  byzantine: { requestTimeoutMs: 10_000, viewChangeTimeoutMs: 10_000, statusMs: 500 },
};

export interface NetworkRunOptions {
  faultModel: 'crash' | 'byzantine';
  clientCounts: number[];
  durationMs: number;
  warmupMs?: number;
  storage?: 'file' | 'memory';
}

export interface NetworkRow extends LoadResult {
  faultModel: 'crash' | 'byzantine';
  clients: number;
  storage: 'file' | 'memory';
  /** Replica processes' CPU per successful op (µs), all replicas together. */
  replicaCpuMicrosPerOp: number;
  /** Raft term or view at the end (1 / 0: no leader change). */
  term: number;
}

/** One group, runs at each client count in turn (clients are created once, for the largest count). */
export async function benchNetworkGroup({ faultModel, clientCounts, durationMs, warmupMs = 1_000, storage = 'file' }: NetworkRunOptions): Promise<NetworkRow[]> {
  const group: ProcessGroup = await startProcessGroup({ faultModel, f: 1, storage, machine: { module: APPS, export: 'store' }, tuning: NETWORK_TUNING[faultModel], statusMs: 500 });
  const rows: NetworkRow[] = [];
  try {
    const clients: Client[] = await group.createClients(Math.max(...clientCounts), { retryAfterMs: 2_000, giveUpAfterMs: 120_000 });
    // Connect every client (and elect a leader) before timing.
    await Promise.all(clients.map((c, i) => c.send(storeEvent(i))));
    const cpu = () => group.ids.reduce((s, id) => s + (group.report(id)?.cpuMicros ?? 0), 0);
    for (const count of clientCounts) {
      const reportsAt = async () => {
        // Reports come every statusMs: wait for fresh ones so CPU figures bracket the run.
        const seen = new Map(group.ids.map((id) => [id, group.report(id)]));
        await group.waitFor(() => group.ids.every((id) => group.report(id) !== seen.get(id)), 5_000, 'fresh reports');
        return cpu();
      };
      const cpu0 = await reportsAt();
      let n = 0;
      const r = await runLoad({ clients: count, durationMs, warmupMs, op: (i) => clients[i]!.send(storeEvent(n++)).then(() => {}) });
      const cpu1 = await reportsAt();
      rows.push({
        faultModel,
        clients: count,
        storage,
        ...r,
        replicaCpuMicrosPerOp: (cpu1 - cpu0) / r.completed,
        term: Math.max(...group.ids.map((id) => group.report(id)?.status.term ?? 0)),
      });
    }
  } finally {
    await group.stop();
  }
  return rows;
}
