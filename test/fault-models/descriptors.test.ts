import { describe, expect, it } from 'vitest';
import { quorumSize as majority } from '../../actors/crash/core.ts';
import { faultsTolerated, quorumSize, weakQuorum } from '../../actors/byzantine/quorum.ts';
import { FAULT_MODEL_NAMES, faultModelOf, isFaultModel } from '../../src/fault-models/index.ts';
import { TUNING_RULES } from '../../src/replica/tuning.ts';

describe('fault model descriptors', () => {
  it('refuses an unknown model with a TypeError naming it and the caller', () => {
    expect(() => faultModelOf('paxos', 'createClient')).toThrow(TypeError);
    expect(() => faultModelOf('paxos', 'createClient')).toThrow("createClient: unknown faultModel paxos (expected 'crash' or 'byzantine')");
    expect(() => faultModelOf('toString')).toThrow(/unknown faultModel toString/);
    expect(isFaultModel('constructor')).toBe(false);
    expect(FAULT_MODEL_NAMES).toEqual(['crash', 'byzantine']);
  });

  it('sizes groups 2f+1 (crash) and 3f+1 (byzantine), and maxFaulty inverts groupSize', () => {
    const crash = faultModelOf('crash');
    const byzantine = faultModelOf('byzantine');
    for (let f = 0; f <= 10; f++) {
      expect(crash.groupSize(f)).toBe(2 * f + 1);
      expect(byzantine.groupSize(f)).toBe(3 * f + 1);
      for (const m of [crash, byzantine]) {
        expect(m.maxFaulty(m.groupSize(f))).toBe(f);
        // One member more than needed tolerates no more faults (until the next group size).
        if (m.groupSize(f + 1) > m.groupSize(f) + 1) expect(m.maxFaulty(m.groupSize(f) + 1)).toBe(f);
      }
    }
  });

  it("takes the client's counts from the protocols' quorum math", () => {
    const crash = faultModelOf('crash');
    const byzantine = faultModelOf('byzantine');
    for (let n = 1; n <= 31; n++) {
      expect(crash.maxFaulty(n)).toBe(n - majority(n));
      expect(crash.replyQuorum(n)).toBe(1);
      expect(byzantine.maxFaulty(n)).toBe(faultsTolerated(n));
      expect(byzantine.replyQuorum(n)).toBe(weakQuorum(n));
      expect(byzantine.readQuorum(n)).toBe(quorumSize(n));
    }
    // n = 4: f = 1, a result needs f+1 = 2 matching replies, an unordered read 2f+1 = 3.
    expect([byzantine.replyQuorum(4), byzantine.readQuorum(4)]).toEqual([2, 3]);
  });

  it('every tuning option is read by at least one model, and each model names only options', () => {
    const all = Object.keys(TUNING_RULES);
    const read = new Set([...faultModelOf('crash').tuningKeys, ...faultModelOf('byzantine').tuningKeys]);
    expect([...read].sort()).toEqual([...all].sort());
    expect(faultModelOf('crash').tuningKeys).toContain('electionTicks');
    expect(faultModelOf('crash').tuningKeys).not.toContain('viewChangeTimeoutMs');
    expect(faultModelOf('byzantine').tuningKeys).toContain('viewChangeTimeoutMs');
    expect(faultModelOf('byzantine').tuningKeys).not.toContain('electionTicks');
  });

  it('names the status round as each model counts it', () => {
    expect(faultModelOf('crash').describeRound({ term: 3 })).toBe('term 3');
    expect(faultModelOf('byzantine').describeRound({ term: 2, view: 2 })).toBe('view 2');
    expect([faultModelOf('crash').orderer, faultModelOf('byzantine').orderer]).toEqual(['leader', 'primary']);
  });
});
