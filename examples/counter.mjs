// A statechart replicated over three local replicas (crash fault model), with a leader crash
// in the middle. Run: npm start   (or: npm run build && node examples/counter.mjs)
import { setup, assign } from 'xstate';
import { createLocalCluster } from 'statechorus';

const counter = setup({}).createMachine({
  context: { count: 0 },
  on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

const cluster = await createLocalCluster({ machine: counter, faultModel: 'crash', f: 1, seed: 7 });
const client = cluster.createClient();

const show = (label) => {
  const rows = cluster.replicaIds.map((id) => {
    const s = cluster.replica(id).status();
    return `${id} ${s.phase.padEnd(9)} term ${s.term} applied ${String(s.appliedIndex).padStart(3)}`;
  });
  console.log(`${label.padEnd(28)} ${rows.join(' | ')}`);
};

for (let i = 0; i < 5; i++) await client.send({ type: 'INC' });
show('after 5 increments');

const leader = cluster.leader();
cluster.crash(leader);
show(`crashed the leader (${leader})`);

const out = await client.send({ type: 'INC' });
console.log(`a 6th increment still commits: index ${out.index}, count ${out.snapshot.context.count}, answered by ${out.agreed}`);
show('new leader elected');

await cluster.restart(leader);
await cluster.waitFor(() => cluster.replica(leader).status().appliedIndex >= out.index);
show(`${leader} restarted, caught up`);

const digests = new Set(cluster.replicaIds.map((id) => cluster.replica(id).status().digest));
console.log(`replicas agree on the state digest: ${digests.size === 1 ? 'yes' : 'NO'}`);
console.log('linearizable read:', await client.read());
await cluster.stop();
