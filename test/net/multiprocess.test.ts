// Replicas as separate Node processes over real WebRTC on loopback, with file storage: a client
// workload runs while the leader (primary) is killed with SIGKILL and restarted from its files.
// Checks: the history is linearizable, nothing acknowledged is lost, the restarted replica
// catches up to the same state digest as the others.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { checkLinearizable, type Operation } from '../../src/check/index.ts';
import { appModel } from '../../src/app/model.ts';
import { counter } from '../fixtures/machines.ts';
import { ensureBuilt } from './build.ts';

const apps = fileURLToPath(new URL('../../examples/apps.mjs', import.meta.url));
type Group = import('../../src/cluster/process-group.ts').ProcessGroup;
let startProcessGroup: typeof import('../../src/cluster/process-group.ts').startProcessGroup;
let group: Group | undefined;

beforeAll(async () => {
  ensureBuilt();
  // The compiled module: it forks the compiled replica entry next to it.
  ({ startProcessGroup } = await import(new URL('../../dist/src/cluster/process-group.js', import.meta.url).href));
}, 120_000);

afterEach(async () => {
  await group?.stop();
  group = undefined;
});

type Snap = { context: { count: number } };

describe('replica processes over WebRTC with file storage', () => {
  for (const faultModel of ['crash', 'byzantine'] as const) {
    it(`${faultModel}: SIGKILL of the ${faultModel === 'crash' ? 'leader' : 'primary'} mid-load, restart from files, nothing lost`, async () => {
      group = await startProcessGroup({ faultModel, f: 1, machine: { module: apps, export: 'counter' } });
      const g = group;
      const history: Array<Operation<unknown, unknown>> = [];
      let acked = 0;
      let pending = 0;
      const clients = await Promise.all(Array.from({ length: 4 }, () => g.createClient({ giveUpAfterMs: 20_000 })));
      let stop = false;
      let completed = 0;
      let lastIndex = 0;
      const workload = clients.map(async (client, c) => {
        let i = 0;
        while (!stop) {
          const call = performance.now();
          if (i++ % 5 === 4) {
            const snap = await client.read();
            history.push({ client: c, input: null, call, output: snap, return: performance.now() });
            continue;
          }
          const event = { type: 'ADD', amount: 1 + ((c * 7 + i) % 9) };
          try {
            const out = await client.send(event);
            history.push({ client: c, input: event, call, output: out.snapshot, return: performance.now() });
            acked += event.amount;
            completed++;
            lastIndex = Math.max(lastIndex, out.index);
          } catch (err) {
            history.push({ client: c, input: event, call });
            pending += event.amount;
            return;
          }
        }
      });
      // Let the load run, then kill the replica that orders requests.
      const leaderOf = () => g.ids.map((id) => g.report(id)?.status.leader).find((l) => l) ?? 'r1';
      await g.waitFor(() => completed >= 100, 60_000, '100 requests');
      const victim = leaderOf();
      const before = completed;
      await g.kill(victim, 'SIGKILL');
      expect(g.exits(victim).at(-1)?.signal).toBe('SIGKILL');
      // The others carry on without it.
      await g.waitFor(() => completed >= before + 100, 60_000, 'progress without the killed replica');
      await g.restart(victim);
      await g.waitFor(() => completed >= before + 200, 60_000, 'progress after the restart');
      stop = true;
      await Promise.all(workload);
      // A final read: every acknowledged ADD is in it.
      const call = performance.now();
      const final = (await clients[0]!.read()) as Snap;
      history.push({ client: 0, input: null, call, output: final, return: performance.now() });
      expect(final.context.count).toBeGreaterThanOrEqual(acked);
      expect(final.context.count).toBeLessThanOrEqual(acked + pending);
      // The restarted replica catches up to the same state as the others: reports made after the
      // workload, every replica at one applied index (at least the last acknowledged) and digest.
      const settled = await g.settle({ atLeast: lastIndex, timeoutMs: 30_000 });
      expect(settled.settled, JSON.stringify(settled.replicas)).toBe(true);
      const model = appModel(counter);
      const lin = checkLinearizable(model as never, history as never, { timeoutMs: 20_000 });
      expect(lin.ok, lin.ok ? '' : String((lin as { explanation?: string }).explanation)).toBe(true);
      console.log(`${faultModel}: ${history.length} operations, ${acked} acknowledged, killed ${victim}, final count ${final.context.count}`);
    }, 240_000);
  }
});
