// A follower learns the commit index without a further write: the leader tells it at once with
// an empty append when its commit index moves, and the heartbeat carries it too (so a lost notice
// costs a heartbeat period, not the next write).
import { describe, expect, it } from 'vitest';
import { RaftCore, DEFAULT_RAFT_CONFIG, type RaftEffect, type RaftMessage } from '../../actors/crash/index.ts';

const ids = ['a', 'b', 'c'];

function core(id: string): RaftCore {
  return new RaftCore({
    config: { ...DEFAULT_RAFT_CONFIG, id },
    hardState: { term: 0, vote: null, commit: 0 },
    membership: { voters: ids, learners: [] },
    snapshot: null,
    entries: [],
    seed: ids.indexOf(id) + 7,
  });
}

type Sent = { from: string; to: string; message: RaftMessage };

describe('idle follower (crash core)', () => {
  it('learns the commit index at once from an empty append, and from the heartbeat when that is lost', () => {
    const cores = new Map(ids.map((id) => [id, core(id)]));
    const applied = new Map(ids.map((id) => [id, 0]));
    let queue: Sent[] = [];
    /** Collects effects: sends are queued, applies recorded, the leader's own writes reported durable. */
    const collect = (id: string) => {
      const c = cores.get(id)!;
      for (;;) {
        const effects: RaftEffect[] = c.takeEffects();
        if (effects.length === 0) return;
        for (const e of effects) {
          if (e.type === 'send') queue.push({ from: id, to: e.to, message: e.message });
          if (e.type === 'apply') applied.set(id, e.entries.at(-1)!.index);
          if (e.type === 'persist' && e.overlap && e.entries?.length) c.persisted(e.entries.at(-1)!.index);
        }
      }
    };
    /** Delivers queued messages (those `keep` accepts) until none are left. */
    const deliver = (keep: (m: Sent) => boolean = () => true) => {
      while (queue.length) {
        const batch = queue;
        queue = [];
        for (const m of batch) {
          if (!keep(m)) continue;
          cores.get(m.to)!.receive(m.from, m.message);
          collect(m.to);
        }
      }
    };

    // 'a' campaigns and wins; its first entry (the noop) commits everywhere.
    let now = 0;
    const a = cores.get('a')!;
    while (a.role !== 'leader') {
      a.tick(++now);
      collect('a');
      deliver();
    }
    for (let i = 0; i < 5; i++) {
      for (const id of ids) cores.get(id)!.tick(++now), collect(id);
      deliver();
    }
    expect(ids.map((id) => applied.get(id))).toEqual([1, 1, 1]);

    const isNotice = (m: Sent) => m.message.type === 'append' && m.message.entries.length === 0;

    // One write, the commit notices lost: the appends that carried it said commit 1, so the
    // followers do not know yet.
    a.propose([{ id: 'w', data: { x: 1 } }], ++now);
    collect('a');
    deliver((m) => m.message.type !== 'heartbeat' && !isNotice(m));
    expect(a.commit).toBe(2);
    expect(applied.get('a')).toBe(2);
    expect([cores.get('b')!.commit, cores.get('c')!.commit]).toEqual([1, 1]);

    // Nothing more is written. Within a heartbeat period the followers learn commit 2 and apply.
    for (let t = 0; t < DEFAULT_RAFT_CONFIG.heartbeatTicks; t++) {
      a.tick(++now);
      collect('a');
    }
    expect(queue.some((m) => m.message.type === 'heartbeat')).toBe(true);
    expect(queue.every((m) => m.message.type !== 'append' || m.message.entries.length === 0)).toBe(true);
    deliver();
    expect([cores.get('b')!.commit, cores.get('c')!.commit]).toEqual([2, 2]);
    expect(ids.map((id) => applied.get(id))).toEqual([2, 2, 2]);

    // A second write, no heartbeat at all: the leader's notices tell both followers commit 3.
    a.propose([{ id: 'w2', data: { x: 2 } }], ++now);
    collect('a');
    let notices = 0;
    deliver((m) => {
      if (isNotice(m) && m.from === 'a') notices++;
      return m.message.type !== 'heartbeat';
    });
    expect(notices).toBe(2);
    expect([cores.get('b')!.commit, cores.get('c')!.commit]).toEqual([3, 3]);
    expect(ids.map((id) => applied.get(id))).toEqual([3, 3, 3]);
    expect(a.log.lastIndex).toBe(3); // no entry was added to carry the commit index
  });
});
