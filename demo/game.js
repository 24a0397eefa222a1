// The demo's application: four in a row for two players, as an XState statechart. Every replica
// runs it on the same ordered moves, so the rules below are checked in every tab: a move out of
// turn, into a full column or by someone who is not seated is ignored everywhere, and a tab that
// claims another outcome is outvoted. `$meta.client` is the sender's id, authenticated by the
// replicas, so only the seated player whose turn it is can move.
import { assign, setup } from 'xstate';

export const COLUMNS = 7;
export const ROWS = 6;
const COLOURS = /** @type {const} */ (['red', 'yellow']);

/**
 * @typedef {'red' | 'yellow'} Colour
 * @typedef {{ cols: string[], players: { red: string | null, yellow: string | null }, turn: Colour,
 *   moves: number, last: { column: number, row: number, colour: Colour } | null, winner: Colour | null,
 *   line: number[][], score: { red: number, yellow: number }, games: number }} GameContext
 * @typedef {{ client: string, index: number, time: number, random: number }} Meta
 * @typedef {{ type: 'SIT', colour: Colour, $meta: Meta } | { type: 'LEAVE', $meta: Meta }
 *   | { type: 'DROP', column: number, $meta: Meta } | { type: 'NEW_GAME', $meta: Meta }} GameEvent
 */

/** @param {string[]} cols  each column bottom-up, 'r' or 'y' per disc */
function emptyBoard() {
  return Array.from({ length: COLUMNS }, () => '');
}

/** The colour at (column, row), or undefined. */
function at(cols, column, row) {
  return column >= 0 && column < COLUMNS ? cols[column][row] : undefined;
}

/** The four (or more) cells in a row through the disc at (column, row), or []. */
export function winningLine(cols, column, row) {
  const disc = at(cols, column, row);
  if (!disc) return [];
  for (const [dc, dr] of [[1, 0], [0, 1], [1, 1], [1, -1]]) {
    const line = [[column, row]];
    for (const sign of [1, -1]) {
      for (let k = 1; k < 4; k++) {
        const c = column + sign * k * dc;
        const r = row + sign * k * dr;
        if (at(cols, c, r) !== disc) break;
        line.push([c, r]);
      }
    }
    if (line.length >= 4) return line.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  }
  return [];
}

const seatOf = (context, client) => COLOURS.find((c) => context.players[c] === client) ?? null;

export const game = setup({
  types: { context: /** @type {GameContext} */ ({}), events: /** @type {GameEvent} */ ({}) },
  guards: {
    seatFree: ({ context, event }) => COLOURS.includes(event.colour) && context.players[event.colour] === null && seatOf(context, event.$meta.client) === null,
    bothSeated: ({ context }) => context.players.red !== null && context.players.yellow !== null,
    isSeated: ({ context, event }) => seatOf(context, event.$meta.client) !== null,
    /** The sender holds the seat whose turn it is, and the column has room. */
    legalDrop: ({ context, event }) =>
      context.players[context.turn] === event.$meta.client &&
      Number.isInteger(event.column) && event.column >= 0 && event.column < COLUMNS &&
      context.cols[event.column].length < ROWS,
    lastMoveWon: ({ context }) => context.line.length > 0,
    boardFull: ({ context }) => context.moves === COLUMNS * ROWS,
    redToMove: ({ context }) => context.turn === 'red',
  },
  actions: {
    sit: assign({ players: ({ context, event }) => ({ ...context.players, [event.colour]: event.$meta.client }) }),
    leave: assign({ players: ({ context, event }) => ({ red: context.players.red === event.$meta.client ? null : context.players.red, yellow: context.players.yellow === event.$meta.client ? null : context.players.yellow }) }),
    drop: assign(({ context, event }) => {
      const colour = context.turn;
      const cols = context.cols.slice();
      const row = cols[event.column].length;
      cols[event.column] += colour[0];
      const next = colour === 'red' ? 'yellow' : 'red';
      return { cols, moves: context.moves + 1, turn: next, last: { column: event.column, row, colour }, line: winningLine(cols, event.column, row) };
    }),
    scoreWin: assign(({ context }) => {
      const winner = context.last.colour;
      return { winner, score: { ...context.score, [winner]: context.score[winner] + 1 } };
    }),
    // The loser of the last game (or yellow after a draw) opens the next one.
    newBoard: assign(({ context }) => ({
      cols: emptyBoard(),
      moves: 0,
      last: null,
      line: [],
      turn: context.winner === 'red' ? 'yellow' : context.winner === 'yellow' ? 'red' : context.turn,
      winner: null,
      games: context.games + 1,
    })),
  },
}).createMachine({
  id: 'fourInARow',
  context: { cols: emptyBoard(), players: { red: null, yellow: null }, turn: 'red', moves: 0, last: null, winner: null, line: [], score: { red: 0, yellow: 0 }, games: 0 },
  initial: 'seating',
  on: {
    LEAVE: { guard: 'isSeated', actions: 'leave', target: '.seating' },
  },
  states: {
    seating: {
      always: { guard: 'bothSeated', target: 'playing' },
      on: { SIT: { guard: 'seatFree', actions: 'sit' } },
    },
    playing: {
      initial: 'deciding',
      states: {
        // Transient: after every move (and at the start), decide what comes next.
        deciding: {
          always: [
            { guard: 'lastMoveWon', actions: 'scoreWin', target: '#fourInARow.won' },
            { guard: 'boardFull', target: '#fourInARow.draw' },
            { guard: 'redToMove', target: 'red' },
            { target: 'yellow' },
          ],
        },
        red: { on: { DROP: { guard: 'legalDrop', actions: 'drop', target: 'deciding' } } },
        yellow: { on: { DROP: { guard: 'legalDrop', actions: 'drop', target: 'deciding' } } },
      },
    },
    won: { on: { NEW_GAME: { guard: 'isSeated', actions: 'newBoard', target: 'seating' } } },
    draw: { on: { NEW_GAME: { guard: 'isSeated', actions: 'newBoard', target: 'seating' } } },
  },
});
