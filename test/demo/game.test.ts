import { describe, expect, it } from 'vitest';
import { createActor, type AnyStateMachine } from 'xstate';
// @ts-expect-error plain JS module of the browser demo (no types)
import { COLUMNS, ROWS, game, winningLine } from '../../demo/game.js';

type Ctx = { cols: string[]; players: { red: string | null; yellow: string | null }; turn: string; moves: number; winner: string | null; line: number[][]; score: { red: number; yellow: number }; games: number };

/** The game driven as the replicas drive it: each event carries `$meta` with the sender. */
function play() {
  const actor = createActor(game as AnyStateMachine).start();
  let index = 0;
  const as = (client: string, event: Record<string, unknown>) => actor.send({ ...event, $meta: { client, index: ++index, time: index, random: 0 } } as never);
  const ctx = () => actor.getSnapshot().context as Ctx;
  const value = () => actor.getSnapshot().value;
  return { actor, as, ctx, value };
}

function seated() {
  const g = play();
  g.as('alice', { type: 'SIT', colour: 'red' });
  g.as('bob', { type: 'SIT', colour: 'yellow' });
  return g;
}

describe('demo game: four in a row', () => {
  it('starts once both seats are taken, and a seat is taken once', () => {
    const g = play();
    expect(g.value()).toBe('seating');
    g.as('alice', { type: 'SIT', colour: 'red' });
    g.as('mallory', { type: 'SIT', colour: 'red' }); // taken
    g.as('alice', { type: 'SIT', colour: 'yellow' }); // already seated
    g.as('alice', { type: 'SIT', colour: 'green' });
    expect(g.ctx().players).toEqual({ red: 'alice', yellow: null });
    g.as('bob', { type: 'SIT', colour: 'yellow' });
    expect(g.value()).toEqual({ playing: 'red' });
  });

  it('lets only the seated player whose turn it is drop, into a column with room', () => {
    const g = seated();
    g.as('bob', { type: 'DROP', column: 0 }); // not his turn
    g.as('carol', { type: 'DROP', column: 0 }); // not seated
    g.as('alice', { type: 'DROP', column: 7 }); // no such column
    g.as('alice', { type: 'DROP', column: 1.5 });
    expect(g.ctx().moves).toBe(0);
    for (let i = 0; i < ROWS; i++) g.as(i % 2 === 0 ? 'alice' : 'bob', { type: 'DROP', column: 3 });
    expect(g.ctx().cols[3]).toBe('ryryry');
    expect(g.value()).toEqual({ playing: 'red' });
    g.as('alice', { type: 'DROP', column: 3 }); // full
    expect(g.ctx().moves).toBe(ROWS);
  });

  it('ends with four in a row (vertical, horizontal, diagonal) and scores it; the loser opens the next game', () => {
    const g = seated();
    for (const c of [0, 1, 0, 1, 0, 1, 0]) g.as(g.ctx().turn === 'red' ? 'alice' : 'bob', { type: 'DROP', column: c });
    expect(g.value()).toBe('won');
    expect(g.ctx().winner).toBe('red');
    expect(g.ctx().line).toEqual([[0, 0], [0, 1], [0, 2], [0, 3]]);
    g.as('bob', { type: 'DROP', column: 2 }); // game over
    expect(g.ctx().moves).toBe(7);
    g.as('bob', { type: 'NEW_GAME' });
    expect(g.value()).toEqual({ playing: 'yellow' });
    expect(g.ctx()).toMatchObject({ moves: 0, winner: null, games: 1, score: { red: 1, yellow: 0 } });
    expect(winningLine(['r', 'yr', 'yyr', 'yyyr', '', '', ''], 3, 3)).toEqual([[0, 0], [1, 1], [2, 2], [3, 3]]);
    expect(winningLine(['', '', 'yyyy', '', '', '', ''], 2, 1)).toHaveLength(4);
    expect(winningLine(['r', 'r', 'r', '', 'r', '', ''], 0, 0)).toEqual([]);
  });

  it('calls a full board without a line a draw', () => {
    const g = seated();
    // Columns filled in pairs (0,1), (2,3), (4,5) then 6: no four in a row anywhere.
    const order = [0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 2, 3, 2, 3, 3, 2, 3, 2, 2, 3, 2, 3, 4, 5, 4, 5, 5, 4, 5, 4, 4, 5, 4, 5, 6, 6, 6, 6, 6, 6];
    for (const c of order) g.as(g.ctx().turn === 'red' ? 'alice' : 'bob', { type: 'DROP', column: c });
    expect(g.ctx().moves).toBe(COLUMNS * ROWS);
    expect(g.value()).toBe('draw');
  });

  it('frees the seat of a player who leaves and keeps the board for the next one', () => {
    const g = seated();
    g.as('alice', { type: 'DROP', column: 2 });
    g.as('carol', { type: 'LEAVE' }); // not seated: nothing
    expect(g.value()).toEqual({ playing: 'yellow' });
    g.as('bob', { type: 'LEAVE' });
    expect(g.value()).toBe('seating');
    g.as('carol', { type: 'SIT', colour: 'yellow' });
    expect(g.value()).toEqual({ playing: 'yellow' });
    expect(g.ctx().cols[2]).toBe('r');
  });
});
