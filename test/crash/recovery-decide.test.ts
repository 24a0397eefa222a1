import { describe, expect, it } from 'vitest';
import { decide, Recovery } from '../../actors/crash/recovery.ts';

const reply = (over: Partial<{ recovering: boolean; empty: boolean }> = {}) => ({
  type: 'recoverReply' as const,
  term: 0,
  nonce: 1,
  leader: false,
  recovering: false,
  empty: true,
  lastIndex: 0,
  lastTerm: 0,
  membership: { voters: ['r1', 'r2', 'r3'], learners: [] },
  ...over,
});

describe('crash recovery: a group started with one replica and grown', () => {
  it('the first replica, wiped, does not declare genesis on one empty answer while it knows other members', () => {
    const peers = new Set(['r2', 'r3']);
    expect(decide('r1', new Map([['r2', reply({ recovering: true })]]), ['r1'], peers)).toBeNull();
    expect(decide('r1', new Map([['r2', reply()]]), ['r1'], peers)).toBeNull();
    // Every member it knows answered empty and settled: nothing was ever committed.
    expect(decide('r1', new Map([['r2', reply()], ['r3', reply()]]), ['r1'], peers)).toEqual({ kind: 'genesis' });
  });

  it('only a replica that knows no other member starts alone without asking', () => {
    expect(new Recovery({ stage: 'query', peers: ['r1'], initialMembers: ['r1'] }, 'r1').alone()).toBe(true);
    expect(new Recovery({ stage: 'query', peers: ['r1', 'r2'], initialMembers: ['r1'] }, 'r1').alone()).toBe(false);
  });
});

describe('crash recovery: nonces', () => {
  it('two starts of a replica with the same seed ask with different nonces (a late answer to the earlier start does not count)', async () => {
    const { RaftCore, DEFAULT_RAFT_CONFIG } = await import('../../actors/crash/index.ts');
    const nonceAt = (incarnation: number) => {
      const core = new RaftCore({
        config: { ...DEFAULT_RAFT_CONFIG, id: 'a' },
        hardState: { term: 0, vote: null, commit: 0 },
        membership: { voters: ['a', 'b', 'c'], learners: [] },
        snapshot: null,
        entries: [],
        seed: 3,
        recovery: { stage: 'query', peers: ['a', 'b', 'c'], initialMembers: ['a', 'b', 'c'] },
        incarnation,
      });
      const ask = core.takeEffects().find((e) => e.type === 'send' && e.message.type === 'recover');
      return ask?.type === 'send' && ask.message.type === 'recover' ? ask.message.nonce : -1;
    };
    expect(nonceAt(1000)).not.toBe(nonceAt(5000));
    expect(nonceAt(1000)).toBe(nonceAt(1000)); // still deterministic per seed and start
    expect(nonceAt(1000)).toBeGreaterThan(0);
  });
});
