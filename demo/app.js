// The demo page: this tab is one replica of a four-replica Byzantine group running the game in
// game.js, and a client of that group. It keeps its identity in sessionStorage (per tab, kept
// across a reload) and its replica's state in IndexedDB, so a reloaded tab resumes where it was.
// `window.demo` is the page's API for the browser test (test/browser/demo.spec.mjs).
import { createClient, createReplica, generateIdentity, exportIdentity, importIdentity, idbStorage, idToPublicKey, SimulatedBehaviour, webrtcTransport } from './dist/statechorus.js';
import { COLUMNS, ROWS, game } from './dist/game.js';
import { createInspectorFeed } from './inspect-feed.js';
import { PHASES } from './phases.js';

const caption = (phase) => PHASES[phase]?.[0] ?? '';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

/** What the page saw, for the test and the "what happened" list. */
const state = {
  phase: 'starting',
  seat: null,
  members: [],
  /** `${games}:${moves}` -> Date.now() when this tab's replica first showed that position. */
  seenAt: {},
  /** Same keys: when this tab sent the move that led there. */
  actedAt: {},
  errors: [],
  outvoted: [],
  /** Where this replica stood right after starting from IndexedDB, before hearing from anyone. */
  resumed: null,
  lastPhase: null,
  excludedSeen: new Set(),
};
addEventListener('error', (e) => state.errors.push(String(e.message ?? e)));
addEventListener('unhandledrejection', (e) => state.errors.push(String(e.reason?.stack ?? e.reason)));

function note(text, kind = '') {
  const li = document.createElement('li');
  li.className = kind;
  li.innerHTML = `<time>${new Date().toLocaleTimeString()}</time> ${text}`;
  $('events').prepend(li);
  while ($('events').children.length > 40) $('events').lastChild.remove();
}

function fatal(text) {
  state.errors.push(text);
  $('fatal').hidden = false;
  $('fatal').textContent = text;
}

/** A new room name for a visitor without one: two words and a number. */
function randomRoom() {
  const words = ['amber', 'brisk', 'cedar', 'delta', 'ember', 'fjord', 'gale', 'harbor', 'indigo', 'juniper', 'kelp', 'lumen', 'maple', 'nova', 'opal', 'pine'];
  const pick = () => words[Math.floor(Math.random() * words.length)];
  return `${pick()}-${pick()}-${Math.floor(Math.random() * 90 + 10)}`;
}

/**
 * This tab's identity: kept in sessionStorage (each tab has its own, a reload keeps it). A
 * duplicated tab copies sessionStorage; the Web Lock on the identity tells it to make its own.
 */
async function tabIdentity(room) {
  const key = `statechorus-demo:${room}:identity`;
  const saved = sessionStorage.getItem(key);
  if (saved) {
    const identity = await importIdentity(JSON.parse(saved));
    if (await holdLock(`statechorus-demo:${room}:${identity.id}`)) return identity;
  }
  const identity = await generateIdentity();
  sessionStorage.setItem(key, JSON.stringify(exportIdentity(identity)));
  await holdLock(`statechorus-demo:${room}:${identity.id}`);
  return identity;
}

/** Takes a Web Lock for this page's lifetime; false when another tab holds it. */
function holdLock(name) {
  if (!navigator.locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      return lock ? new Promise(() => {}) : undefined;
    });
  });
}

async function api(path, body) {
  const res = await fetch(path, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {});
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error ?? `${path}: HTTP ${res.status}`);
  return data;
}

/** Joins the room's lobby and waits until all four seats are taken. */
async function takeSeat(room, identity) {
  let lobby = await api(`/api/rooms/${room}/join`, { key: identity.id });
  state.seat = lobby.seat;
  while (!lobby.full) {
    showWaiting(lobby);
    await new Promise((r) => setTimeout(r, 300));
    lobby = await api(`/api/rooms/${room}`);
  }
  $('waiting').hidden = true;
  return lobby;
}

function showWaiting(lobby) {
  $('waiting').hidden = false;
  const missing = lobby.size - lobby.members.length;
  $('waiting-text').textContent = `${lobby.members.length} of ${lobby.size} tabs have joined room "${room}". Open ${missing} more tab${missing === 1 ? '' : 's'} of this page (button above): the game starts when all four replicas are here.`;
  $('lobby-seats').innerHTML = Array.from({ length: lobby.size }, (_, i) => {
    const m = lobby.members[i];
    const you = m && m.id === state.seat;
    return `<span class="seat ${m ? 'taken' : ''}">${m ? `r${i + 1}${you ? ' (this tab)' : ''}` : 'empty'}</span>`;
  }).join('');
}

// ---------------------------------------------------------------------------------------------

const room = params.get('room') || (() => {
  const r = randomRoom();
  history.replaceState(null, '', `?${new URLSearchParams({ ...Object.fromEntries(params), room: r })}`);
  return r;
})();
let replica;
/** The lie switch: a simulated behaviour installed on this tab's replica (its executor skips moves while 'wrong-result'). */
let lie;
let transport;
let client;
let feed;
let lastApp;
let renderQueued = false;

async function main() {
  $('room').textContent = room;
  $('inspector-link').href = `inspector.html?room=${encodeURIComponent(room)}`;
  $('open-tab').onclick = () => window.open(location.href, '_blank');
  const signaling = params.get('signaling') ?? (await api('/api/config')).signaling;

  const identity = await tabIdentity(room);
  const lobby = await takeSeat(room, identity);
  state.members = lobby.members;
  const group = { faultModel: 'byzantine', members: lobby.members.map((m) => ({ id: m.id, publicKey: idToPublicKey(m.key) })) };

  feed = createInspectorFeed({ room, replicaId: state.seat, label: `tab ${state.seat}` });
  transport = webrtcTransport({ signaling, room });
  // Checkpoints every 4 moves: a lying replica is caught by its checkpoint within a few moves.
  const tuning = { checkpointEvery: 4 };
  lie = new SimulatedBehaviour({ id: state.seat, identity, tuning });
  replica = createReplica({
    machine: game,
    identity,
    id: state.seat,
    group,
    transport,
    storage: idbStorage(`statechorus-demo:${room}:${identity.id}`),
    inspect: (event) => {
      feed.inspect(event);
      onReplicaActivity();
    },
    tuning,
    ...lie.seams,
  });
  await replica.start();
  state.resumed = { appliedIndex: replica.status().appliedIndex, moves: replica.app.getSnapshot().context.moves };
  feed.attach(replica, { appMachine: game, behaviour: () => lie.behaviour });
  // The tab's client is an endpoint of its replica's connections: `r2/client`. After a reload
  // it opens a new session through the log, so its numbers never collide with the last run's.
  client = createClient({ id: `${state.seat}/client`, transport: transport.endpoint('client'), replicas: lobby.members.map((m) => m.id), faultModel: 'byzantine' });
  state.phase = 'running';
  if (sessionStorage.getItem(`statechorus-demo:${room}:byzantine`) === '1') setByzantine(true);
  note(`This tab is replica <b>${state.seat}</b> of ${lobby.members.length}.`);
  $('main').hidden = false;
  wireControls();
  onReplicaActivity();
  setInterval(renderReplicaPanel, 250);
}

/** Called on every inspection event: notes a new position of the game the moment it is applied. */
function onReplicaActivity() {
  const snap = replica?.app.getSnapshot();
  if (snap && snap !== lastApp) {
    lastApp = snap;
    const ctx = snap.context;
    const key = `${ctx.games}:${ctx.moves}`;
    state.seenAt[key] ??= Date.now();
  }
  if (!renderQueued) {
    renderQueued = true;
    // Painting waits for the next frame; hidden tabs paint when shown (the timing above does not wait).
    requestAnimationFrame(() => {
      renderQueued = false;
      renderGame();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

const myClient = () => `${state.seat}/client`;
const seatName = (client) => (client ? (client === myClient() ? 'you' : `tab ${client.split('/')[0]}`) : 'empty seat');

function renderGame() {
  if (!replica) return;
  const snap = replica.app.getSnapshot();
  const ctx = snap.context;
  const value = snap.value;
  const playing = typeof value === 'object' && value.playing;
  const mine = playing && ctx.players[ctx.turn] === myClient();

  $('player-red').innerHTML = `<span class="disc red"></span> Red: <b>${seatName(ctx.players.red)}</b> <small>${ctx.score.red} won</small>`;
  $('player-yellow').innerHTML = `<span class="disc yellow"></span> Yellow: <b>${seatName(ctx.players.yellow)}</b> <small>${ctx.score.yellow} won</small>`;
  $('turn').textContent = value === 'seating'
    ? 'Waiting for two players to sit down'
    : value === 'won'
      ? `${ctx.winner === 'red' ? 'Red' : 'Yellow'} wins!`
      : value === 'draw'
        ? 'Draw: the board is full'
        : mine
          ? `Your move (${ctx.turn})`
          : `${ctx.turn === 'red' ? 'Red' : 'Yellow'} to move`;
  $('turn').className = `turn ${mine ? 'mine' : ''}`;

  const seated = ctx.players.red === myClient() || ctx.players.yellow === myClient();
  $('sit-red').disabled = seated || ctx.players.red !== null;
  $('sit-yellow').disabled = seated || ctx.players.yellow !== null;
  $('leave').disabled = !seated;
  $('new-game').hidden = !(value === 'won' || value === 'draw');
  $('new-game').disabled = !seated;
  $('columns').className = `columns ${mine ? 'active' : ''}`;

  const win = new Set(ctx.line.map(([c, r]) => `${c}:${r}`));
  let svg = '<rect class="frame" x="0" y="0" width="700" height="600" rx="18"/>';
  for (let c = 0; c < COLUMNS; c++) {
    for (let r = 0; r < ROWS; r++) {
      const disc = ctx.cols[c][r];
      const x = c * 100 + 50;
      const y = (ROWS - 1 - r) * 100 + 50;
      const cls = disc === 'r' ? 'red' : disc === 'y' ? 'yellow' : 'hole';
      const last = ctx.last && ctx.last.column === c && ctx.last.row === r ? ' last' : '';
      svg += `<circle class="cell ${cls}${last}${win.has(`${c}:${r}`) ? ' win' : ''}" cx="${x}" cy="${y}" r="40"/>`;
    }
  }
  $('board').innerHTML = svg;
}

function renderReplicaPanel() {
  if (!replica) return;
  noteDissent();
  const st = replica.status();
  $('seat').textContent = st.id;
  const excludedSelf = st.phase === 'excluded' || st.excluded.includes(st.id);
  const phase = excludedSelf ? 'excluded' : st.phase;
  $('phase').textContent = phase;
  $('phase').className = `phase ${phase}`;
  $('phase-caption').textContent = caption(phase);
  $('primary').textContent = st.leader ? `${st.leader}${st.leader === st.id ? ' (this tab)' : ''}, view ${st.view ?? st.term}` : `none yet, view ${st.view ?? st.term}`;
  $('applied').textContent = `${lastApp?.context.moves ?? 0} this game · log position ${st.appliedIndex}, checkpoint ${st.stableSeq ?? 0}`;
  const peers = transport?.connectedPeers() ?? [];
  $('links').textContent = peers.length ? peers.sort().join(', ') : 'nobody yet';
  $('group').innerHTML = state.members
    .map((m) => {
      const out = st.excluded.includes(m.id) || (!st.members.includes(m.id) && !st.learners.includes(m.id));
      return `<span class="member ${out ? 'out' : ''}${m.id === st.id ? ' self' : ''}" title="${out ? 'excluded' : 'member'}">${m.id}</span>`;
    })
    .join(' ');
  const verdict = $('verdict');
  // An excluded replica stays out of this room: being honest again does not bring it back.
  $('byzantine').disabled = excludedSelf;
  if (excludedSelf) {
    verdict.hidden = false;
    verdict.className = 'verdict bad';
    verdict.textContent = lie.behaviour !== 'correct'
      ? 'Caught: the other replicas checked the checkpoint this tab signed, found it wrong and excluded this replica. Its board no longer counts; open a new room to play again.'
      : 'This replica was excluded by the others.';
  } else if (lie.behaviour !== 'correct') {
    verdict.hidden = false;
    verdict.className = 'verdict warn';
    verdict.textContent = 'Lying: this replica skips moves, so the board here is wrong. Watch the other tabs outvote it.';
  } else {
    const others = st.excluded.filter((id) => id !== st.id);
    verdict.hidden = others.length === 0;
    verdict.className = 'verdict good';
    verdict.textContent = others.length ? `The group excluded ${others.join(', ')} for signing a wrong checkpoint; the remaining replicas carry on.` : '';
  }
  if (st.phase !== state.lastPhase) {
    if (state.lastPhase) note(`Replica phase: <b>${phase}</b> (${caption(phase)}).`);
    state.lastPhase = st.phase;
  }
  for (const id of st.excluded) {
    if (state.excludedSeen.has(id)) continue;
    state.excludedSeen.add(id);
    note(`<b>${id}</b> was excluded from the group.`, 'bad');
  }
}

// ---------------------------------------------------------------------------------------------
// Actions

/** Sends an event to the group; reports what came back, and who disagreed. */
async function act(event, what) {
  const before = lastApp?.context;
  const key = event.type === 'DROP' && before ? `${before.games}:${before.moves + 1}` : null;
  if (key) state.actedAt[key] ??= Date.now();
  $('message').textContent = '';
  try {
    const outcome = await client.send(event);
    noteDissent();
    const after = outcome.snapshot.context;
    if (event.type === 'DROP' && after.moves === before?.moves && after.games === before?.games) {
      $('message').textContent = 'That move was refused by the rules (not your turn, or the column is full).';
    } else if (what) {
      note(what);
    }
    return outcome;
  } catch (err) {
    $('message').textContent = `Not done: ${err.message}`;
    throw err;
  }
}

/**
 * Replies that disagreed with the accepted one: in the outcome when they came before the
 * decision, in the client's dissent log when they came after (f+1 = 2 matching replies decide).
 */
let dissentSeen = 0;
function noteDissent() {
  const log = client?.dissentLog ?? [];
  for (const d of log.slice(dissentSeen)) {
    state.outvoted.push({ replica: d.replica, seq: d.seq ?? null });
    note(`<b>${d.replica}</b> answered with a different board and was outvoted.`, 'bad');
  }
  dissentSeen = log.length;
}

function wireControls() {
  $('sit-red').onclick = () => act({ type: 'SIT', colour: 'red' }, 'You sat down as red.').catch(() => {});
  $('sit-yellow').onclick = () => act({ type: 'SIT', colour: 'yellow' }, 'You sat down as yellow.').catch(() => {});
  $('leave').onclick = () => act({ type: 'LEAVE' }, 'You left your seat.').catch(() => {});
  $('new-game').onclick = () => act({ type: 'NEW_GAME' }, 'New game.').catch(() => {});
  $('columns').innerHTML = Array.from({ length: COLUMNS }, (_, c) => `<button type="button" data-column="${c}" aria-label="drop in column ${c + 1}"></button>`).join('');
  $('columns').onclick = (e) => {
    const c = e.target.closest('button')?.dataset.column;
    if (c !== undefined) act({ type: 'DROP', column: Number(c) }).catch(() => {});
  };
  $('byzantine').onchange = (e) => setByzantine(e.target.checked);
}

function setByzantine(on) {
  void lie.set(on ? 'wrong-result' : 'correct');
  sessionStorage.setItem(`statechorus-demo:${room}:byzantine`, on ? '1' : '0');
  $('byzantine').checked = on;
  note(on ? 'This tab now <b>lies</b>: it skips moves and reports a wrong board.' : 'This tab is honest again.', on ? 'bad' : '');
  renderReplicaPanel();
}

window.demo = {
  state,
  get ready() {
    return state.phase === 'running';
  },
  status: () => replica?.status(),
  metrics: () => replica?.metrics,
  connectedPeers: () => transport?.connectedPeers() ?? [],
  app: () => {
    const s = replica?.app.getSnapshot();
    return s && { value: s.value, context: s.context };
  },
  sit: (colour) => act({ type: 'SIT', colour }),
  drop: (column) => act({ type: 'DROP', column }),
  newGame: () => act({ type: 'NEW_GAME' }),
  setByzantine,
  clientId: myClient,
};

main().catch((err) => fatal(`This tab could not start: ${err?.message ?? err}`));
