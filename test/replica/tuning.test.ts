// Tuning and client timing values that cannot work are refused where options enter, with a
// RangeError naming the option, the value and what is allowed (issue 12, finding 9).
import { describe, expect, it } from 'vitest';
import { createClient, createLocalCluster, createReplica, generateIdentity, type ReplicaTuning } from '../../src/index.ts';
import { CLIENT_RULES, TUNING_RULES, resolveTuning } from '../../src/replica/tuning.ts';
import { ProcessGroup } from '../../src/cluster/process-group.ts';
import { DEFAULT_TUNING } from '../../src/replica/types.ts';
import { counter } from '../fixtures/machines.ts';

/** One bad value per option (and the value's rendering in the message); every option is covered. */
const BAD_TUNING: { [K in keyof ReplicaTuning]: Array<[unknown, string]> } = {
  tickMs: [[0, '0'], [-5, '-5'], [Infinity, 'Infinity'], [2 ** 31, String(2 ** 31)]],
  electionTicks: [[0, '0'], [2.5, '2.5']],
  heartbeatTicks: [[0, '0'], [NaN, 'NaN']],
  idleHeartbeatTicks: [[-1, '-1'], [1.5, '1.5']],
  maxBatch: [[0, '0'], ['512', '"512"']],
  snapshotEvery: [[0, '0'], [-1, '-1']],
  keepEntries: [[-1, '-1'], [0.5, '0.5']],
  maxMessageBytes: [[-1, '-1'], [0, '0'], [1024, '1024']],
  maxEventBytes: [[0, '0'], [2 * 1024 * 1024, '2097152']],
  removeSilentAfterMs: [[-1, '-1'], [Infinity, 'Infinity']],
  checkpointEvery: [[0, '0'], [1.5, '1.5']],
  windowSize: [[0, '0'], [null, 'null']],
  requestTimeoutMs: [[0, '0'], [-1, '-1']],
  viewChangeTimeoutMs: [[0, '0'], [Infinity, 'Infinity']],
  statusMs: [[0, '0'], [NaN, 'NaN']],
  stateChunkBytes: [[0, '0'], [-256, '-256']],
  maxSnapshotBytes: [[0, '0'], [1.5, '1.5']],
};

const BAD_CLIENT: { [K in keyof typeof CLIENT_RULES]: Array<[unknown, string]> } = {
  retryAfterMs: [[0, '0'], [-1, '-1'], [Infinity, 'Infinity']],
  giveUpAfterMs: [[0, '0'], [-1, '-1'], [NaN, 'NaN']],
  readFallbackMs: [[0, '0'], [2 ** 31, String(2 ** 31)]],
  noLinkAfterMs: [[0, '0'], [-5, '-5'], ['5000', '"5000"']],
};

const cases = Object.entries(BAD_TUNING).flatMap(([name, values]) => values.map(([value, shown]) => ({ name, value, shown })));
const clientCases = Object.entries(BAD_CLIENT).flatMap(([name, values]) => values.map(([value, shown]) => ({ name, value, shown })));

async function replicaOptions(faultModel: 'crash' | 'byzantine', tuning: unknown) {
  const identity = await generateIdentity();
  const transport = { send() {}, onMessage() {} };
  return { machine: counter, identity, group: { faultModel, members: [{ id: 'r1', publicKey: identity.publicKey }] }, transport, tuning } as never;
}

describe('tuning validation', () => {
  it('the table covers every tuning and client option', () => {
    expect(Object.keys(BAD_TUNING).sort()).toEqual(Object.keys(TUNING_RULES).sort());
    expect(Object.keys(BAD_TUNING).sort()).toEqual(Object.keys(DEFAULT_TUNING).sort());
    expect(Object.keys(BAD_CLIENT).sort()).toEqual(Object.keys(CLIENT_RULES).sort());
  });

  it('accepts the defaults and the edge values', () => {
    expect(resolveTuning(undefined, 'x')).toEqual(DEFAULT_TUNING);
    const t = resolveTuning({ keepEntries: 0, removeSilentAfterMs: 0, tickMs: 1, maxMessageBytes: 64 * 1024, snapshotEvery: undefined }, 'x');
    expect(t).toMatchObject({ keepEntries: 0, tickMs: 1, maxMessageBytes: 64 * 1024, snapshotEvery: DEFAULT_TUNING.snapshotEvery });
  });

  for (const faultModel of ['crash', 'byzantine'] as const) {
    it.each(cases)(`createReplica (${faultModel}) refuses tuning.$name = $shown`, async ({ name, value, shown }) => {
      const options = await replicaOptions(faultModel, { [name]: value });
      expect(() => createReplica(options)).toThrow(RangeError);
      expect(() => createReplica(options)).toThrow(`createReplica: tuning.${name} must be ${TUNING_RULES[name as keyof ReplicaTuning].allowed}, got ${shown}`);
    });
  }

  it.each(cases)('createLocalCluster refuses tuning.$name = $shown before starting', async ({ name, value }) => {
    await expect(createLocalCluster({ machine: counter, tuning: { [name]: value } })).rejects.toThrow(new RegExp(`^createLocalCluster: tuning\\.${name} must be `));
  });

  it.each(cases)('startProcessGroup refuses tuning.$name = $shown before starting a process', ({ name, value }) => {
    expect(() => new ProcessGroup({ faultModel: 'crash', machine: { module: '/nowhere.mjs', export: 'x' }, tuning: { [name]: value } })).toThrow(RangeError);
  });

  it('refuses combinations that cannot work, and unknown option names', async () => {
    expect(() => resolveTuning({ heartbeatTicks: 15 }, 'createReplica')).toThrow('createReplica: tuning.heartbeatTicks (15) must be less than tuning.electionTicks (15)');
    expect(() => resolveTuning({ windowSize: 32, checkpointEvery: 64 }, 'createReplica')).toThrow('tuning.windowSize (32) must be at least tuning.checkpointEvery (64)');
    expect(() => resolveTuning({ tickMS: 5 }, 'createReplica')).toThrow(/createReplica: tuning\.tickMS is not an option \(known: tickMs, /);
    expect(() => resolveTuning(5, 'createReplica')).toThrow(TypeError);
    expect(() => new ProcessGroup({ faultModel: 'crash', machine: { module: '/nowhere.mjs', export: 'x' }, statusMs: 0 })).toThrow(/startProcessGroup: statusMs must be/);
  });

  it.each(clientCases)('createClient and createLocalCluster refuse $name = $shown', async ({ name, value, shown }) => {
    const transport = { send() {}, onMessage() {} };
    const make = () => createClient({ id: 'c', replicas: ['r1'], faultModel: 'crash', transport, [name]: value } as never);
    expect(make).toThrow(RangeError);
    expect(make).toThrow(`createClient: options.${name} must be ${CLIENT_RULES[name as keyof typeof CLIENT_RULES].allowed}, got ${shown}`);
    await expect(createLocalCluster({ machine: counter, client: { [name]: value } })).rejects.toThrow(`createLocalCluster: client.${name} must be `);
  });

  it('a client may wait forever (giveUpAfterMs: Infinity)', () => {
    const transport = { send() {}, onMessage() {} };
    expect(() => createClient({ id: 'c', replicas: ['r1'], faultModel: 'crash', transport, giveUpAfterMs: Infinity }).close()).not.toThrow();
  });
});
