// A statechart replicated over four local replicas (Byzantine fault model, f = 1): one replica
// starts executing wrongly, is outvoted by the others and excluded, and the group goes on.
// Run: npm run build && node examples/byzantine.mjs
import { setup, assign } from 'xstate';
import { createLocalCluster } from 'statechorus';

const counter = setup({}).createMachine({
  context: { count: 0 },
  on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

const cluster = await createLocalCluster({ machine: counter, faultModel: 'byzantine', f: 1, seed: 7, tuning: { checkpointEvery: 8 } });
const client = cluster.createClient();

const show = (label) => {
  const rows = cluster.replicaIds.map((id) => {
    const s = cluster.replica(id).status();
    return `${id} ${s.phase.padEnd(9)} view ${s.view} applied ${String(s.appliedIndex).padStart(3)}`;
  });
  console.log(`${label.padEnd(30)} ${rows.join(' | ')}`);
};

for (let i = 0; i < 5; i++) await client.send({ type: 'INC' });
show('after 5 increments');

await cluster.byzantine('r3', 'wrong-result');
let out = await client.send({ type: 'INC' });
console.log(`r3 lies, yet the client accepts the true count ${out.snapshot.context.count}: f+1 = 2 replicas agreed (${out.agreed})`);
// The liar's reply may arrive after the vote is decided: the client logs it as dissent.
for (let i = 0; i < 10; i++) out = await client.send({ type: 'INC' });
console.log(`replies that disagreed with the vote came from: ${[...new Set(client.dissentLog.map((d) => d.replica))].join(', ') || 'nobody yet'}`);
await cluster.waitFor(() => !cluster.replica('r1').status().members.includes('r3'), { timeoutMs: 30_000 });
show('r3 excluded by its checkpoint');

out = await client.send({ type: 'INC' });
console.log(`the group of three goes on: count ${out.snapshot.context.count}, agreed by ${out.agreed}`);
console.log('linearizable read:', await client.read());
await cluster.stop();
