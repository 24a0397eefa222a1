// The live inspector: inspector.html?room=<room>. Listens on the BroadcastChannel that every
// replica tab of the room feeds (demo/inspect-feed.js) and draws, per replica, its protocol and
// application statecharts (laid out from the structure the feed describes, nothing hard-coded
// about either chart), its positions in the log, whether it lies or was excluded, and a
// timeline of the messages between replicas. `window.inspector.replicas()` returns what is shown.
import { PHASES } from './phases.js';

const params = new URLSearchParams(location.search);
const room = params.get('room') || 'demo';
const WINDOW_MS = 5000; // the timeline shows this much history
const SILENT_MS = 5000; // a replica not heard from this long fades out
const RECENT_MS = 3500; // a transition just taken stays highlighted this long
const SVG = 'http://www.w3.org/2000/svg';

// ---------------------------------------------------------------- plain-language texts


const BEHAVIOURS = {
  correct: 'follows the protocol',
  silent: 'Byzantine: says nothing at all',
  equivocate: 'Byzantine: as primary, tells different replicas different things',
  forge: "Byzantine: sends messages in another replica's name",
  'corrupt-signatures': 'Byzantine: signs its messages wrongly',
  'wrong-result': 'Byzantine: plays the moves wrongly, so its game and its answers differ',
  replay: 'Byzantine: resends old messages',
  slow: 'Byzantine: as primary, stalls just under the timeouts',
  twin: 'Byzantine: a second copy runs with the same keys',
};

/** Message kinds: colour, short meaning, and whether it is background chatter (drawn faint). */
const MESSAGE_KINDS = {
  prePrepare: ['#2563eb', 'proposal'],
  prepare: ['#16a34a', 'accept'],
  commit: ['#9333ea', 'ready to apply'],
  checkpoint: ['#0d9488', 'state fingerprint'],
  stableCert: ['#0891b2', 'checkpoint proof'],
  status: ['#9ca3af', 'heartbeat', true],
  entries: ['#a16207', 'resend votes'],
  relay: ['#65a30d', 'forwarded proposal'],
  viewChange: ['#dc2626', 'replace primary'],
  newView: ['#ea580c', 'new primary'],
  accuse: ['#db2777', 'evidence of lying'],
  reconfigure: ['#4f46e5', 'membership change'],
  append: ['#2563eb', 'new moves'],
  appendReply: ['#16a34a', 'stored'],
  heartbeat: ['#9ca3af', 'heartbeat', true],
  heartbeatReply: ['#cbd5e1', 'still here', true],
  vote: ['#ea580c', 'asks for a vote'],
  voteReply: ['#d97706', 'vote'],
  snapshot: ['#0d9488', 'state copy'],
  timeoutNow: ['#dc2626', 'take over now'],
};
const KIND_ORDER = Object.keys(MESSAGE_KINDS);

function intro(faultModel) {
  const base =
    'Each card is a browser tab running a <b>replica</b>: a full copy of the game. Replicas message each other (bottom) to ' +
    '<b>agree on the order of moves</b>, then all play the same moves in that order, so every correct copy shows the same game. ';
  if (faultModel === 'crash') {
    return base + 'With 3 replicas one may <b>crash</b>: the other two are still a majority, elect a new leader if needed and carry on.';
  }
  return base + 'Of 4 replicas one may even <b>lie</b> (be “Byzantine”): the 3 others still agree, outvote it, and <b>exclude</b> it once caught.';
}

// ---------------------------------------------------------------- state

/** @type {Map<string, any>} replica id → what we know of it */
const replicas = new Map();
/** Timeline entries { at, from, to, type, ... }, roughly in arrival order. */
let timeline = [];
let timelineDropped = 0;
const hiddenKinds = new Set();
const seenKinds = new Set();
let faultModel = null;

const $ = (id) => document.getElementById(id);
$('room').textContent = `room “${room}”`;
$('room-hint').textContent = `room=${room}`;
$('intro').innerHTML = intro(null);

function recordFor(id) {
  let r = replicas.get(id);
  if (!r) {
    r = { id, label: id, session: null, faultModel: null, behaviour: null, charts: null, chartsKey: '', status: null, protocol: null, app: null, metrics: null, lastSeen: 0, left: false, ui: null, transitions: {}, history: {} };
    replicas.set(id, r);
    mountCards();
  }
  return r;
}

// ---------------------------------------------------------------- the channel

const channel = new BroadcastChannel(`statechorus-inspector:${room}`);
channel.onmessage = (e) => receive(e.data);
// Ask the feeds for a description now rather than in up to 2 s.
channel.postMessage({ v: 1, kind: 'query', room, at: Date.now() });

function receive(m) {
  if (!m || typeof m !== 'object' || typeof m.replica !== 'string' || m.kind === 'query') return;
  const r = recordFor(m.replica);
  if (m.session && r.session && m.session !== r.session) {
    // The tab was reloaded (or a second tab runs this id): the newest one speaks for it.
    r.transitions = {};
  }
  if (m.session) r.session = m.session;
  if (m.label) r.label = m.label;
  r.lastSeen = Date.now();
  r.left = false;
  switch (m.kind) {
    case 'hello': {
      r.faultModel = m.faultModel ?? r.faultModel;
      if (m.behaviour !== undefined) r.behaviour = m.behaviour;
      const key = JSON.stringify(m.charts ?? null);
      if (key !== r.chartsKey) {
        r.chartsKey = key;
        r.charts = m.charts;
        if (r.ui) r.ui.chartsBuilt = false;
      }
      if (r.faultModel && r.faultModel !== faultModel) {
        faultModel = r.faultModel;
        $('intro').innerHTML = intro(faultModel);
      }
      break;
    }
    case 'status':
      noteTransition(r, 'protocol', r.protocol?.value, m.protocol);
      noteTransition(r, 'app', r.app?.value, m.app);
      r.status = m.status ?? r.status;
      r.protocol = m.protocol ?? r.protocol;
      r.app = m.app ?? null;
      r.metrics = m.metrics ?? r.metrics;
      if (m.behaviour !== undefined) r.behaviour = m.behaviour;
      if (m.status?.faultModel) r.faultModel = m.status.faultModel;
      break;
    case 'timeline':
      for (const entry of m.entries ?? []) {
        if (!entry || typeof entry.at !== 'number' || typeof entry.from !== 'string') continue;
        timeline.push(entry);
        seenKinds.add(entry.type);
      }
      timelineDropped += m.dropped ?? 0;
      break;
    case 'bye':
      r.left = true;
      break;
  }
}

/**
 * Remembers the last change of a chart's state, to highlight the transition just taken: from
 * the feed's history (which catches phases shorter than a status period), else by comparing.
 */
function noteTransition(r, which, before, next) {
  if (!next) return;
  const last = next.history?.[next.history.length - 1];
  const known = r.transitions[which];
  if (last && typeof last.at === 'number') {
    if (!known || last.at > known.at) r.transitions[which] = { from: leafPaths(last.from), to: leafPaths(last.to), at: last.at, seen: false };
    r.history[which] = next.history;
    return;
  }
  if (before === undefined || next.value === undefined) return;
  if (JSON.stringify(before) !== JSON.stringify(next.value)) r.transitions[which] = { from: leafPaths(before), to: leafPaths(next.value), at: Date.now(), seen: false };
}

/** The state changes the feed reported in the last few seconds, as leaf paths. */
function recentChanges(r, which, now) {
  return (r.history?.[which] ?? []).filter((c) => now - c.at < RECENT_MS).map((c) => ({ from: leafPaths(c.from), to: leafPaths(c.to), at: c.at }));
}

// ---------------------------------------------------------------- state values

/** All paths ('a', 'a.b', …) active in an XState state value. */
function activePaths(value, prefix = '', out = new Set()) {
  if (typeof value === 'string') out.add(prefix ? `${prefix}.${value}` : value);
  else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      activePaths(value[k], p, out);
    }
  }
  return out;
}

/** The deepest active paths only. */
function leafPaths(value) {
  const all = [...activePaths(value)];
  return all.filter((p) => !all.some((q) => q.startsWith(`${p}.`)));
}

const valueText = (value) => (value == null ? '–' : leafPaths(value).join(' + ') || '–');

// ---------------------------------------------------------------- chart layout

const measure = (() => {
  const ctx = document.createElement('canvas').getContext('2d');
  return (text, size = 11, weight = 400) => {
    ctx.font = `${weight} ${size}px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif`;
    return ctx.measureText(text).width;
  };
})();

const LEAF_H = 22;
const PAD = 7;
const HEAD = 15;
const GAP_X = 26;
const GAP_Y = 8;
const LANE = 9; // spacing of the lanes that carry arrows back around a layered layout
const LABEL_FONT = 9.5;

/**
 * Lays a described machine out: every state node gets a box (x, y, w, h, absolute), and the
 * transitions become edges between boxes. Children of a compound state go in layers from its
 * initial state, left to right, with arrows going back routed around above or below; or, when
 * nearly every child reaches every other one (a phase chart, where layers would pile arrows
 * up), around the initial state in the middle.
 */
function layoutChart(desc) {
  const nodes = new Map();
  const parentOf = new Map();
  const index = (n, parent) => {
    nodes.set(n.path, n);
    if (parent) parentOf.set(n.path, parent.path);
    for (const c of n.children) index(c, n);
  };
  index(desc.root, null);

  /** The child of `ancestor` that contains `path`, or undefined. */
  const childUnder = (ancestor, path) => {
    let p = path;
    while (p !== undefined && parentOf.get(p) !== ancestor) p = parentOf.get(p);
    return p;
  };
  /** The deepest state strictly containing both a and b. */
  const commonAncestor = (a, b) => {
    let p = parentOf.get(a);
    while (p !== undefined && p !== '' && !isWithin(b, p)) p = parentOf.get(p);
    return p ?? '';
  };

  // Every transition with a target, as an edge between paths.
  const edges = [];
  const notes = [];
  for (const n of nodes.values()) {
    for (const t of n.transitions) {
      for (const to of t.targets) {
        if (!nodes.has(to)) continue;
        const label = t.always ? (t.guard ? `[${t.guard}]` : '') : eventLabel(t.event, t.delay);
        if (to === n.path || to.startsWith(`${n.path}.`) || n.path === '') {
          // Into the state itself or its own descendants ("from anywhere inside"): a note, not an arrow.
          if (to !== n.path || t.reenter) notes.push(`from any state${n.path ? ` in ${n.key}` : ''}: ${label || 'always'} → ${nodes.get(to).key}`);
          continue;
        }
        // Drawn between the outermost states it leaves and enters (from "playing" rather than
        // from a state deep inside it), so arrows do not cut through other boxes.
        const common = commonAncestor(n.path, to);
        const from = childUnder(common, n.path);
        const into = childUnder(common, to);
        if (from === undefined || into === undefined || from === into) {
          notes.push(`${n.key}: ${label || 'always'} → ${nodes.get(to).key}`);
          continue;
        }
        edges.push({ from, to: into, label, always: t.always, title: transitionTitle(n, t, nodes.get(to)) });
      }
    }
  }

  const sized = (n) => {
    n.top = 0;
    n.bottom = 0;
    if (n.children.length === 0) {
      n.w = Math.ceil(measure(n.key, 11, 600) + 16);
      n.h = LEAF_H;
      return;
    }
    for (const c of n.children) sized(c);
    const kids = n.children;
    if (n.type === 'parallel') {
      let x = 0;
      for (const c of kids) {
        c.rx = x;
        c.ry = 0;
        x += c.w + GAP_Y * 2;
      }
      n.cw = x - GAP_Y * 2;
      n.ch = Math.max(...kids.map((c) => c.h));
    } else {
      // Edges between this node's children (from anywhere inside one to anywhere inside another).
      const links = [];
      for (const e of edges) {
        const a = childUnder(n.path, e.from);
        const b = childUnder(n.path, e.to);
        if (a !== undefined && b !== undefined && a !== b) links.push({ a, b, e });
      }
      const pairs = new Set(links.map(({ a, b }) => (a < b ? `${a}|${b}` : `${b}|${a}`)));
      const k = kids.length;
      n.dense = k >= 4 && kids.every((c) => c.children.length === 0) && pairs.size >= 0.6 * ((k * (k - 1)) / 2);
      if (n.dense) {
        hub(n, kids);
        for (const { e } of links) e.dense = true;
      } else layers(n, kids, links);
    }
    const label = n.path === '' ? 0 : measure(n.key, 10, 600) + 16;
    n.w = Math.ceil(Math.max(n.cw + 2 * PAD, label));
    n.h = Math.ceil(n.top + n.ch + n.bottom + HEAD + PAD);
  };

  // The initial state in the middle, the others around it: in a phase chart most changes go
  // through the initial (normal) phase, and these arrows stay long enough to see.
  const hub = (n, kids) => {
    const centre = kids.find((c) => c.path === n.initial) ?? kids[0];
    const others = kids.filter((c) => c !== centre);
    const m = others.length;
    const maxW = Math.max(...others.map((c) => c.w));
    const rx = (centre.w / 2 + 14 + maxW / 2) / Math.SQRT1_2;
    const ry = (LEAF_H + 16) / Math.SQRT1_2;
    const start = m % 2 === 0 ? -90 + 180 / m : -90 - 180 / m;
    const pts = new Map([[centre, [0, 0]]]);
    others.forEach((c, i) => {
      const angle = ((start + (360 * i) / m) * Math.PI) / 180;
      pts.set(c, [Math.cos(angle) * rx, Math.sin(angle) * ry]);
    });
    const minX = Math.min(...kids.map((c) => pts.get(c)[0] - c.w / 2));
    const minY = Math.min(...kids.map((c) => pts.get(c)[1] - c.h / 2));
    for (const c of kids) {
      c.rx = pts.get(c)[0] - c.w / 2 - minX;
      c.ry = pts.get(c)[1] - c.h / 2 - minY;
    }
    n.cw = Math.max(...kids.map((c) => c.rx + c.w));
    n.ch = Math.max(...kids.map((c) => c.ry + c.h));
    n.hub = centre;
  };

  const layers = (n, kids, links) => {
    // Rank by breadth-first distance from the initial child; unreached ones go last.
    const rank = new Map();
    const start = kids.find((c) => c.path === n.initial) ?? kids[0];
    rank.set(start.path, 0);
    const queue = [start.path];
    while (queue.length) {
      const p = queue.shift();
      for (const { a, b } of links) {
        if (a === p && !rank.has(b)) {
          rank.set(b, rank.get(p) + 1);
          queue.push(b);
        }
      }
    }
    const last = Math.max(0, ...rank.values());
    for (const c of kids) if (!rank.has(c.path)) rank.set(c.path, last + 1);
    const cols = [];
    for (const c of kids) (cols[rank.get(c.path)] ??= []).push(c);
    const filled = cols.filter(Boolean);
    const colOf = new Map();
    filled.forEach((col, i) => col.forEach((c) => colOf.set(c.path, i)));
    // The gap after each column is wide enough for the names on arrows between neighbours.
    const gaps = filled.map(() => GAP_X);
    for (const { a, b, e } of links) {
      const [ca, cb] = [colOf.get(a), colOf.get(b)];
      if (Math.abs(cb - ca) === 1 && e.label && e.from === a && e.to === b) {
        const i = Math.min(ca, cb);
        gaps[i] = Math.max(gaps[i], Math.min(90, measure(e.label, LABEL_FONT) + 14));
      }
    }
    const heights = filled.map((col) => col.reduce((s, c) => s + c.h, 0) + GAP_Y * (col.length - 1));
    const tallest = Math.max(...heights);
    let x = 0;
    filled.forEach((col, i) => {
      const w = Math.max(...col.map((c) => c.w));
      let y = (tallest - heights[i]) / 2;
      for (const c of col) {
        c.rx = x + (w - c.w) / 2;
        c.ry = y;
        y += c.h + GAP_Y;
      }
      x += w + gaps[i];
    });
    n.cw = x - gaps[filled.length - 1];
    n.ch = tallest;
    // Arrows that jump back over a column (or stay in one) go around: above from the upper
    // half, else below. Arrows to the same state with the same name share a lane.
    const lanes = { above: new Map(), below: new Map() };
    for (const { a, b, e } of links) {
      const back = colOf.get(a) - colOf.get(b);
      if (back === 1 || back < 0) continue; // forward, or back to the neighbouring column: a plain arrow
      const src = nodes.get(a);
      const side = src.ry + src.h / 2 < tallest / 2 - 1 ? 'above' : 'below';
      const key = `${b}|${e.label}`;
      if (!lanes[side].has(key)) lanes[side].set(key, lanes[side].size);
      e.route = { owner: n, side, lane: lanes[side].get(key), shared: key };
    }
    const extra = (side) => (lanes[side].size ? lanes[side].size * LANE + 4 + (side === 'below' ? 10 : 8) : 0);
    n.top = extra('above');
    n.bottom = extra('below');
  };

  const place = (n, x, y) => {
    n.x = x;
    n.y = y;
    for (const c of n.children) place(c, x + PAD + c.rx, y + HEAD + n.top + c.ry);
  };

  sized(desc.root);
  place(desc.root, 0, 0);
  return { root: desc.root, nodes, edges, notes };
}

function eventLabel(event, delay) {
  if (event == null) return '';
  const after = /^xstate\.after\.([^.]+)\./.exec(event);
  if (after) return `after ${delay ?? after[1]} ms`;
  if (event.startsWith('xstate.done.')) return 'done';
  if (event.startsWith('xstate.error.actor.')) return 'error';
  return event;
}

function transitionTitle(source, t, target) {
  const what = t.always ? 'automatically' : `on ${eventLabel(t.event, t.delay)}`;
  const guard = t.guard ? ` if ${t.guard}` : '';
  const actions = t.actions?.length ? `, doing ${t.actions.join(', ')}` : '';
  return `${source.key} → ${target.key} ${what}${guard}${actions}`;
}

// ---------------------------------------------------------------- chart drawing

const el = (name, attrs = {}, parent) => {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
};

let markerSeq = 0;

/** Draws a described machine as SVG; returns the element and a way to mark the active states. */
function drawChart(desc) {
  const svg = el('svg', { role: 'img' });
  if (!desc?.root) {
    svg.setAttribute('viewBox', '0 0 200 40');
    el('text', { x: 100, y: 22, 'text-anchor': 'middle', class: 'sc-empty' }, svg).textContent = 'no chart described yet';
    return { svg, update() {} };
  }
  const { root, nodes, edges, notes } = layoutChart(desc);
  const noteH = notes.length ? notes.length * 11 + 3 : 0;
  const W = root.w;
  const H = root.h + noteH;
  svg.setAttribute('viewBox', `-1 -1 ${W + 2} ${H + 2}`);
  svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  svg.setAttribute('aria-label', `statechart ${desc.id ?? ''}`);
  // Never scale up much past natural size (text would look oversized).
  svg.style.maxWidth = `${(W + 2) * 1.25}px`;
  svg.style.margin = '0 auto';

  const id = `m${++markerSeq}`;
  const defs = el('defs', {}, svg);
  for (const [name, colour] of [['n', '#98a2b3'], ['r', '#f59e0b']]) {
    const m = el('marker', { id: `${id}${name}`, viewBox: '0 0 8 8', refX: 7.5, refY: 4, markerWidth: 6.5, markerHeight: 6.5, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0.6 L8,4 L0,7.4 z', fill: colour }, m);
  }

  // The machine itself: a light frame with its id.
  el('rect', { x: 0, y: 0, width: W, height: H, rx: 8, class: 'sc-frame' }, svg);
  el('text', { x: 6, y: 10, class: 'sc-frame-label' }, svg).textContent = desc.id ?? root.key;

  const compoundLayer = el('g', {}, svg);
  const edgeLayer = el('g', {}, svg);
  const nodeLayer = el('g', {}, svg);
  const labelLayer = el('g', {}, svg);

  const boxes = new Map();
  const drawNode = (n) => {
    if (n.path !== '') {
      const compound = n.children.length > 0;
      // Compound boxes under the arrows, simple states over them.
      const g = el('g', { class: `sc-node${compound ? ' compound' : ''}${n.type === 'final' ? ' final' : ''}` }, compound ? compoundLayer : nodeLayer);
      g.dataset.path = n.path;
      const parent = nodes.get(parentPath(n.path));
      el('rect', { x: n.x, y: n.y, width: n.w, height: n.h, rx: compound ? 7 : 10 }, g);
      if (n.type === 'final') el('rect', { x: n.x + 2.5, y: n.y + 2.5, width: n.w - 5, height: n.h - 5, rx: 8, fill: 'none', stroke: '#98a2b3' }, g);
      const t = el('text', compound ? { x: n.x + 7, y: n.y + 9 } : { x: n.x + n.w / 2, y: n.y + n.h / 2 + 0.5, 'text-anchor': 'middle' }, g);
      t.textContent = n.key;
      el('title', {}, g).textContent = [n.key, n.description, n.tags?.length ? `tags: ${n.tags.join(', ')}` : ''].filter(Boolean).join(' — ');
      boxes.set(n.path, g);
      // The initial state gets a dot and a stub arrow, as in statechart notation.
      if (parent?.initial === n.path) {
        const y = n.y + Math.min(n.h / 2, 11);
        el('circle', { cx: n.x - 8, cy: y, r: 2.4, class: 'sc-initial' }, nodeLayer);
        el('line', { x1: n.x - 6, y1: y, x2: n.x - 0.5, y2: y, stroke: '#475467', 'stroke-width': 1 }, nodeLayer);
      }
    }
    for (const c of n.children) drawNode(c);
  };
  drawNode(root);

  // Edges merged per ordered pair of states.
  const byPair = new Map();
  for (const e of edges) {
    const key = `${e.from}→${e.to}`;
    const prev = byPair.get(key);
    if (prev) {
      if (e.label && !prev.label.split(' / ').includes(e.label)) prev.label = prev.label ? `${prev.label} / ${e.label}` : e.label;
      prev.title += `\n${e.title}`;
      prev.always &&= e.always;
    } else byPair.set(key, { ...e });
  }
  const edgeEls = [];
  const drawnPairs = new Set();
  const sides = new Map();
  const labelledLanes = new Set();
  for (const e of byPair.values()) {
    const a = nodes.get(e.from);
    const b = nodes.get(e.to);
    const twoWay = byPair.has(`${e.to}→${e.from}`);
    let geometry;
    if (e.dense) {
      // Every phase reaches every other: one faint line per pair; the arrow shows only when
      // taken. A line that would cross the middle state bends around it.
      const centre = nodes.get(parentPath(e.from))?.hub;
      const crosses = centre && centre !== a && centre !== b && passesNear(a, b, centre);
      const pair = e.from < e.to ? `${e.from}|${e.to}` : `${e.to}|${e.from}`;
      // Pairs that bend take turns going either side of the middle state.
      if (crosses && !sides.has(pair)) sides.set(pair, sides.size % 2 ? 1 : -1);
      geometry = crosses ? curveAround(e.from < e.to ? a : b, e.from < e.to ? b : a, centre, sides.get(pair), e.from > e.to) : edgePath(a, b, 0);
      if (!drawnPairs.has(pair)) {
        drawnPairs.add(pair);
        el('path', { d: geometry.d, class: 'sc-edge dense' }, edgeLayer);
      }
    } else if (e.route) geometry = routedPath(a, b, e.route);
    else geometry = edgePath(a, b, twoWay ? 6 : a.x === b.x ? 14 : 0);
    const p = el('path', { d: geometry.d, class: `sc-edge${e.always ? ' always' : ''}${e.dense ? ' dense-dir' : ''}` }, edgeLayer);
    if (!e.dense) p.setAttribute('marker-end', `url(#${id}n)`);
    el('title', {}, p).textContent = e.title;
    edgeEls.push({ el: p, from: e.from, to: e.to, marker: e.dense ? null : `url(#${id}n)` });
    if (e.dense || !e.label) continue;
    if (e.route) {
      if (labelledLanes.has(e.route.side + e.route.shared)) continue;
      labelledLanes.add(e.route.side + e.route.shared);
    } else if (e.always && (parentPath(e.from) !== parentPath(e.to) || measure(e.label, LABEL_FONT) > geometry.room + 4)) {
      continue; // a condition's name only where it fits between neighbours; the tooltip has it
    }
    const t = el('text', { x: geometry.lx, y: geometry.ly, 'text-anchor': 'middle', 'dominant-baseline': 'middle', class: `sc-label${e.always ? ' always' : ''}` }, labelLayer);
    t.textContent = e.label.length > 30 ? `${e.label.slice(0, 29)}…` : e.label;
    el('title', {}, t).textContent = e.title;
  }

  notes.forEach((text, i) => {
    el('text', { x: 7, y: root.h + 7 + i * 11, class: 'sc-note' }, svg).textContent = text;
  });

  return {
    svg,
    /** Marks the active states; highlights the arrow of a transition just taken. */
    update(value, transition, bad, recent = []) {
      const active = activePaths(value);
      for (const [path, g] of boxes) {
        const on = active.has(path);
        g.classList.toggle('active', on);
        g.classList.toggle('bad', on && !!bad);
      }
      // Every change of the last few seconds (a quick there-and-back shows both arrows).
      const now = Date.now();
      const fresh = [...recent, transition].filter((t) => t && now - t.at < RECENT_MS);
      for (const e of edgeEls) {
        const hit = fresh.some((t) => t.from.some((f) => isWithin(f, e.from)) && t.to.some((x) => isWithin(x, e.to)));
        if (hit === e.el.classList.contains('recent')) continue;
        e.el.classList.toggle('recent', hit);
        if (hit) {
          e.el.setAttribute('marker-end', `url(#${id}r)`);
          edgeLayer.appendChild(e.el); // on top of the other arrows
        } else if (e.marker) e.el.setAttribute('marker-end', e.marker);
        else e.el.removeAttribute('marker-end');
      }
      if (transition && !transition.seen) {
        transition.seen = true;
        for (const path of transition.to) {
          const g = boxes.get(path);
          if (!g) continue;
          g.classList.remove('pulse');
          requestAnimationFrame(() => g.classList.add('pulse'));
        }
      }
    },
  };
}

const parentPath = (p) => (p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '');
/** Is `path` the state `ancestor` or inside it? */
const isWithin = (path, ancestor) => path === ancestor || path.startsWith(`${ancestor}.`);

/** A path from box a to box b (border to border), bent sideways by `bend`, with a label position. */
function edgePath(a, b, bend) {
  const ca = [a.x + a.w / 2, a.y + a.h / 2];
  const cb = [b.x + b.w / 2, b.y + b.h / 2];
  const dx = cb[0] - ca[0];
  const dy = cb[1] - ca[1];
  const len = Math.hypot(dx, dy) || 1;
  // Perpendicular offset: each direction of a two-way pair takes its own side.
  const nx = (-dy / len) * bend;
  const ny = (dx / len) * bend;
  const start = clip(a, ca[0] + nx, ca[1] + ny, dx, dy);
  const end = clip(b, cb[0] + nx, cb[1] + ny, -dx, -dy);
  const mx = (start[0] + end[0]) / 2 + nx * 0.5;
  const my = (start[1] + end[1]) / 2 + ny * 0.5;
  // The label sits beside the arrow: on its own side for a two-way pair, above it otherwise.
  const side = bend ? 1.6 : 0;
  return {
    d: `M${f(start[0])},${f(start[1])} Q${f(mx)},${f(my)} ${f(end[0])},${f(end[1])}`,
    lx: mx + nx * side,
    ly: my + ny * side - (bend ? 0 : 6),
    room: Math.abs(end[0] - start[0]) + 6,
  };
}

/** An arrow going back around the layout: up (or down) to a lane, across, and into the target. */
function routedPath(a, b, route) {
  const n = route.owner;
  const contentTop = n.y + HEAD + n.top;
  const up = route.side === 'above';
  const laneY = up ? contentTop - 4 - route.lane * LANE : contentTop + n.ch + 4 + route.lane * LANE;
  const sx = a.x + a.w / 2 + (a.x > b.x ? 0 : 4);
  const tx = b.x + b.w / 2 + (up ? 6 : -6);
  const sy = up ? a.y : a.y + a.h;
  const ty = up ? b.y : b.y + b.h;
  const r = 4;
  const dir = tx < sx ? -1 : 1;
  const v = up ? -1 : 1;
  const d = [
    `M${f(sx)},${f(sy)}`,
    `L${f(sx)},${f(laneY - v * r)}`,
    `Q${f(sx)},${f(laneY)} ${f(sx + dir * r)},${f(laneY)}`,
    `L${f(tx - dir * r)},${f(laneY)}`,
    `Q${f(tx)},${f(laneY)} ${f(tx)},${f(laneY + v * r)}`,
    `L${f(tx)},${f(ty)}`,
  ].join(' ');
  return { d, lx: (sx + tx) / 2, ly: up ? laneY - 5.5 : laneY + 6, room: Infinity };
}

const f = (x) => x.toFixed(1);

/**
 * A curve from box a to box b that bends around box c on the given side (+1 or -1);
 * `reverse` draws the same curve from b to a.
 */
function curveAround(a, b, c, side, reverse) {
  const [ax, ay, bx, by] = [a.x + a.w / 2, a.y + a.h / 2, b.x + b.w / 2, b.y + b.h / 2];
  const len = Math.hypot(bx - ax, by - ay) || 1;
  const [nx, ny] = [(-(by - ay) / len) * side, ((bx - ax) / len) * side];
  // The curve's middle is half-way to its control point: clear the box by a few pixels.
  const clear = Math.abs(nx) * (c.w / 2) + Math.abs(ny) * (c.h / 2) + 5;
  const [mx, my] = [c.x + c.w / 2 + nx * clear * 2, c.y + c.h / 2 + ny * clear * 2];
  const start = clip(a, ax, ay, mx - ax, my - ay);
  const end = clip(b, bx, by, mx - bx, my - by);
  const [p, q] = reverse ? [end, start] : [start, end];
  return { d: `M${f(p[0])},${f(p[1])} Q${f(mx)},${f(my)} ${f(q[0])},${f(q[1])}`, lx: mx, ly: my, room: 0 };
}

/** Does the straight line between the centres of a and b pass through box c? */
function passesNear(a, b, c) {
  const [ax, ay, bx, by] = [a.x + a.w / 2, a.y + a.h / 2, b.x + b.w / 2, b.y + b.h / 2];
  const [cx, cy] = [c.x + c.w / 2, c.y + c.h / 2];
  const len = Math.hypot(bx - ax, by - ay) || 1;
  const t = ((cx - ax) * (bx - ax) + (cy - ay) * (by - ay)) / (len * len);
  if (t <= 0 || t >= 1) return false;
  const [px, py] = [ax + t * (bx - ax), ay + t * (by - ay)];
  return Math.abs(px - cx) < c.w / 2 + 2 && Math.abs(py - cy) < c.h / 2 + 2;
}

/** Where a ray from (x, y) in direction (dx, dy) leaves box n. */
function clip(n, x, y, dx, dy) {
  const hw = n.w / 2 + 1;
  const hh = n.h / 2 + 1;
  const ox = x - (n.x + n.w / 2);
  const oy = y - (n.y + n.h / 2);
  let t = Infinity;
  if (dx > 0) t = Math.min(t, (hw - ox) / dx);
  if (dx < 0) t = Math.min(t, (-hw - ox) / dx);
  if (dy > 0) t = Math.min(t, (hh - oy) / dy);
  if (dy < 0) t = Math.min(t, (-hh - oy) / dy);
  if (!Number.isFinite(t)) t = 0;
  return [x + dx * t, y + dy * t];
}

// ---------------------------------------------------------------- cards

const naturalOrder = (a, b) => a.localeCompare(b, undefined, { numeric: true });

function mountCards() {
  const container = $('cards');
  $('empty').hidden = replicas.size > 0;
  for (const id of [...replicas.keys()].sort(naturalOrder)) {
    const r = replicas.get(id);
    if (!r.ui) r.ui = buildCard(r);
    container.appendChild(r.ui.root); // appending in order keeps the cards sorted by id
  }
}

function buildCard(r) {
  const root = document.createElement('article');
  root.className = 'card';
  root.dataset.replica = r.id;
  root.innerHTML = `
    <div class="card-head">
      <span class="rid"></span><span class="label"></span>
      <span class="badge role" hidden></span>
      <span class="badge behaviour"></span>
      <span class="badge out" hidden></span>
      <span class="badge differs" hidden>its game differs</span>
      <span class="spacer"></span><span class="seen"></span><span class="card-foot"></span>
    </div>
    <div class="card-body">
      <div class="pane">
        <div class="pane-title">Protocol <span class="now protocol-now"></span></div>
        <div class="chart-box"><div class="chart protocol-chart"></div><span class="was protocol-was"></span></div>
        <p class="caption protocol-caption"></p>
      </div>
      <div class="pane">
        <div class="pane-title">Its copy of the game <span class="now app-now"></span></div>
        <div class="chart app-chart"></div>
        <div class="context"></div>
      </div>
    </div>
    <div class="positions"></div>`;
  const q = (s) => root.querySelector(s);
  q('.protocol-chart').addEventListener('click', () => zoomChart(r, 'protocol'));
  q('.app-chart').addEventListener('click', () => zoomChart(r, 'app'));
  return {
    root,
    rid: q('.rid'),
    label: q('.label'),
    role: q('.role'),
    behaviour: q('.behaviour'),
    seen: q('.seen'),
    out: q('.out'),
    differs: q('.differs'),
    protocolNow: q('.protocol-now'),
    protocolWas: q('.protocol-was'),
    protocolChart: q('.protocol-chart'),
    protocolCaption: q('.protocol-caption'),
    appNow: q('.app-now'),
    appChart: q('.app-chart'),
    context: q('.context'),
    positions: q('.positions'),
    foot: q('.card-foot'),
    chartsBuilt: false,
    charts: null,
    lastPositions: '',
    lastContext: '',
  };
}

/** Shows a chart large in a dialog; the live SVG moves there (so it keeps updating) and back. */
function zoomChart(r, which) {
  const chart = r.ui?.charts?.[which];
  if (!chart) return;
  const dialog = $('zoom');
  const home = chart.svg.parentElement;
  $('zoom-title').textContent = `${r.id}: ${which === 'protocol' ? 'its protocol' : 'its copy of the game'} (${r.charts?.[which]?.id ?? ''})`;
  $('zoom-body').replaceChildren(chart.svg);
  dialog.addEventListener('close', () => home?.appendChild(chart.svg), { once: true });
  dialog.showModal();
}
$('zoom-close').addEventListener('click', () => $('zoom').close());
$('zoom').addEventListener('click', (e) => {
  if (e.target === $('zoom')) $('zoom').close(); // a click on the backdrop
});

/** What every card needs from the others: who is excluded by whom, who diverged, how far ahead the group is. */
function groupView(now) {
  const live = [...replicas.values()].filter((r) => r.status && !isSilent(r, now));
  const excludedBy = new Map();
  for (const r of replicas.values()) excludedBy.set(r.id, []);
  for (const other of live) {
    const ex = other.status.excluded ?? [];
    const members = other.status.members ?? [];
    for (const r of replicas.values()) {
      if (r.id === other.id) continue;
      // Excluded on evidence, or no longer a member although it has been one.
      const out = ex.includes(r.id) || (members.length > 0 && !members.includes(r.id) && r.status && wasMember(r));
      if (out) excludedBy.get(r.id).push(other.id);
    }
  }
  for (const list of excludedBy.values()) list.sort(naturalOrder);
  // Copies that differ: at the same applied index, a fingerprint other than the majority's.
  const byIndex = new Map();
  for (const r of live) {
    const k = r.status.appliedIndex;
    if (!byIndex.has(k)) byIndex.set(k, []);
    byIndex.get(k).push(r);
  }
  const diverged = new Set();
  for (const group of byIndex.values()) {
    if (group.length < 2) continue;
    const counts = new Map();
    for (const r of group) counts.set(r.status.digest, (counts.get(r.status.digest) ?? 0) + 1);
    const [top, topCount] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    if (topCount * 2 <= group.length) continue; // no majority among these: say nothing
    for (const r of group) if (r.status.digest !== top) diverged.add(r.id);
  }
  const maxApplied = Math.max(0, ...live.filter((r) => !excludedBy.get(r.id)?.length).map((r) => r.status.appliedIndex ?? 0));
  return { live, excludedBy, diverged, maxApplied };
}

const wasMember = (r) => (r.status?.members ?? []).includes(r.id) || r.status?.phase === 'excluded';
const isSilent = (r, now) => r.left || now - r.lastSeen > SILENT_MS;

function updateCard(r, group, now) {
  const ui = r.ui;
  const st = r.status;
  const silent = isSilent(r, now);
  const excludedBy = group.excludedBy.get(r.id) ?? [];
  const excluded = excludedBy.length > 0 || st?.phase === 'excluded';
  const byzantine = !!r.behaviour && r.behaviour !== 'correct';
  const isLeader = !!st && st.leader === r.id && !silent;

  ui.root.classList.toggle('silent', silent);
  ui.root.classList.toggle('excluded', excluded);
  ui.root.classList.toggle('byzantine', byzantine);
  ui.root.classList.toggle('leader', isLeader);
  ui.rid.textContent = r.id;
  ui.label.textContent = r.label && r.label !== r.id ? r.label : '';
  ui.role.hidden = !isLeader;
  ui.role.textContent = st?.faultModel === 'crash' ? 'leader' : 'primary';
  if (r.behaviour == null || (r.faultModel === 'crash' && r.behaviour === 'correct')) {
    ui.behaviour.className = 'badge behaviour gone';
    ui.behaviour.textContent = r.faultModel === 'crash' ? 'crash model' : '';
    ui.behaviour.hidden = r.faultModel !== 'crash';
  } else {
    ui.behaviour.hidden = false;
    ui.behaviour.className = `badge behaviour ${byzantine ? 'byz' : 'correct'}`;
    ui.behaviour.textContent = byzantine ? `Byzantine: ${r.behaviour}` : 'honest';
    ui.behaviour.title = BEHAVIOURS[r.behaviour] ?? r.behaviour;
  }
  const age = Math.round((now - r.lastSeen) / 1000);
  ui.seen.textContent = r.left ? 'tab closed' : silent ? `silent for ${age} s` : '';

  ui.seen.title = r.left ? 'This tab was closed: the replica is gone. The group carries on while enough others remain.' : silent ? 'No news from this replica (tab closed, frozen or in the background).' : '';
  ui.out.hidden = !excluded;
  const crash = r.faultModel === 'crash';
  const by = excludedBy.join(', ');
  ui.out.textContent = crash ? `not voting${by ? `, per ${by}` : ''}` : `excluded${by ? ` by ${by}` : ''}`;
  ui.out.title = crash
    ? 'The others no longer count it in their majority (silent too long, or removed); it may rejoin once caught up.'
    : 'The others caught it misbehaving and go on without it.';
  ui.differs.hidden = excluded || !group.diverged.has(r.id);
  ui.differs.title = `Its copy of the game differs from the others' at the same move (fingerprint ${short(st?.digest)}): players outvote it.`;

  // Charts: built once per described structure, then only classes change.
  if (!ui.chartsBuilt && r.charts) {
    ui.charts = { protocol: drawChart(r.charts.protocol), app: drawChart(r.charts.app) };
    ui.protocolChart.replaceChildren(ui.charts.protocol.svg);
    ui.appChart.replaceChildren(ui.charts.app.svg);
    ui.chartsBuilt = true;
  }
  const protoValue = r.protocol?.value ?? null;
  ui.protocolNow.textContent = valueText(protoValue);
  // A phase that came and went between two looks (a quick state transfer) is worth saying.
  const change = r.transitions.protocol;
  const ago = change ? Math.round((now - change.at) / 1000) : Infinity;
  ui.protocolWas.textContent = ago < 60 ? `was ${change.from.join(' + ')} until ${ago < 1 ? 'just now' : `${ago} s ago`}` : '';
  ui.protocolWas.hidden = !(ago < 60);
  if (ui.charts) {
    ui.charts.protocol.update(protoValue, r.transitions.protocol, excluded, recentChanges(r, 'protocol', now));
    ui.charts.app.update(r.app?.value ?? null, r.transitions.app, group.diverged.has(r.id) || byzantine, recentChanges(r, 'app', now));
  }
  const phase = st?.phase ?? valueText(protoValue);
  const text = PHASES[phase] ?? PHASES[valueText(protoValue)];
  let caption = text ? `<b>${escapeHtml(phase)}</b>: ${escapeHtml(text[0])}. <span class="more">${escapeHtml(text[1])}</span>` : `<b>${escapeHtml(phase)}</b>`;
  if (excluded && excludedBy.length) {
    // What the others decided matters more than what it thinks of itself.
    caption = crash
      ? `<b class="bad">not voting, per ${escapeHtml(excludedBy.join(', '))}</b>: the others no longer count it in their majority.`
      : `<b class="bad">excluded by ${escapeHtml(excludedBy.join(', '))}</b>: they caught it misbehaving and go on without it.`;
    if (phase !== 'excluded') caption += ` <span class="more">It still sees itself as “${escapeHtml(phase)}”.</span>`;
  }
  if (ui.protocolCaption.innerHTML !== caption) ui.protocolCaption.innerHTML = caption;
  ui.appNow.textContent = r.app ? valueText(r.app.value) + (r.app.status && r.app.status !== 'active' ? ` (${r.app.status})` : '') : '–';

  // Positions in the log, with what they mean on hover.
  const positions = positionsOf(r, group);
  const key = JSON.stringify(positions);
  if (key !== ui.lastPositions) {
    ui.lastPositions = key;
    ui.positions.replaceChildren(
      ...positions.map((p) => {
        const d = document.createElement('div');
        d.className = `pos${p.lag ? ' lag' : ''}${p.small ? ' small' : ''}${p.mono ? ' mono' : ''}${p.right ? ' push' : ''}`;
        d.title = p.help;
        d.innerHTML = `<span class="v">${escapeHtml(String(p.value))}</span><span class="k">${escapeHtml(p.label)}</span>`;
        return d;
      }),
    );
  }

  const ctxKey = JSON.stringify(r.app?.context ?? null);
  if (ctxKey !== ui.lastContext) {
    ui.lastContext = ctxKey;
    renderContext(ui.context, r.app?.context);
  }

  // Head notes: what it refused or caught, when there is any.
  const m = r.metrics;
  const notes = [];
  if (m?.dropped) notes.push(`<span class="bad" title="input it refused (bad signature, malformed, …): ${escapeHtml(JSON.stringify(m.droppedBy))}">refused ${m.dropped} bad input${m.dropped === 1 ? '' : 's'}</span>`);
  const mis = Object.entries(m?.misbehaviour ?? {});
  if (mis.length) {
    const n = mis.reduce((s, [, v]) => s + v, 0);
    notes.push(`<span class="bad" title="misbehaviour of others that this replica detected: ${escapeHtml(mis.map(([k, v]) => `${k} ×${v}`).join('; '))}">caught ${n} misbehaviour${n === 1 ? '' : 's'}</span>`);
  }
  const footHtml = notes.join(' · ');
  if (ui.foot.innerHTML !== footHtml) ui.foot.innerHTML = footHtml;
}

function positionsOf(r, group) {
  const st = r.status;
  if (!st) return [];
  const m = r.metrics;
  const tail = [
    { label: 'msgs in / out', value: m ? `${m.messagesIn} / ${m.messagesOut}` : '–', help: 'Protocol messages this replica received / sent.', small: true, right: true },
    { label: 'fingerprint', value: short(st.digest), help: 'Fingerprint (SHA-256) of its copy of the game: equal copies have equal fingerprints.', small: true, mono: true },
  ];
  const behind = Math.max(0, group.maxApplied - (st.appliedIndex ?? 0));
  if (st.faultModel === 'crash') {
    return [
      { label: 'term', value: st.term, help: 'Election round: goes up each time the replicas elect a leader.' },
      { label: 'leader', value: st.leader ?? '–', help: 'The replica that orders the moves in this term.' },
      { label: 'committed', value: st.commitIndex, help: 'Log position known to be stored by a majority: final.' },
      { label: behind ? `applied (${behind} behind)` : 'applied', value: st.appliedIndex, lag: behind > 0, help: 'Log position this replica has played on its copy of the game.' },
      { label: 'snapshot', value: st.snapshotIndex, help: 'Log position of its latest snapshot; older log entries are dropped.' },
      ...tail,
    ];
  }
  return [
    { label: 'view', value: st.view ?? st.term, help: 'Which replica is primary: view v has primary number v mod 4. A view change moves to the next one.' },
    { label: 'primary', value: st.leader ?? '–', help: 'The replica that proposes the order of moves in this view.' },
    { label: 'committed', value: st.commitIndex, help: 'Highest batch of moves that 3 of 4 replicas agreed on (final).' },
    { label: 'executed', value: st.executedSeq ?? 0, help: 'Highest batch of moves this replica has carried out.' },
    { label: 'checkpoint', value: st.stableSeq ?? 0, help: 'Latest stable checkpoint (and snapshot): a batch where 3 replicas signed the same state fingerprint; the log before it is dropped, and a replica that fell behind copies it.' },
    { label: behind ? `applied (${behind} behind)` : 'applied', value: st.appliedIndex, lag: behind > 0, help: 'Requests (moves) played on its copy of the game.' },
    ...tail,
  ];
}

// ---------------------------------------------------------------- context view

/** A compact view of the app context: small grids for boards, one line per other key. */
function renderContext(container, ctx) {
  container.replaceChildren();
  if (!ctx) return;
  if (ctx.value == null) {
    const d = document.createElement('div');
    d.className = 'kv';
    d.textContent = ctx.text ?? '';
    container.appendChild(d);
    return;
  }
  const value = ctx.value;
  const kv = document.createElement('div');
  kv.className = 'kv';
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    // Same order on every replica whatever order its keys came in (a restored snapshot sorts
    // them): plain values first, then the rest, each alphabetically; board-like values as grids.
    const plain = (v) => v === null || typeof v !== 'object';
    const keys = Object.keys(value).sort((a, b) => plain(value[b]) - plain(value[a]) || a.localeCompare(b));
    for (const k of keys) {
      const v = value[k];
      const grid = gridOf(k, v);
      if (grid) {
        container.appendChild(grid);
        continue;
      }
      const item = document.createElement('span');
      item.className = 'item';
      item.innerHTML = `<span class="k">${escapeHtml(k)}</span> ${escapeHtml(inline(v))}`;
      item.title = `${k}: ${JSON.stringify(v)}`;
      kv.appendChild(item);
    }
  } else {
    kv.textContent = inline(value);
  }
  if (ctx.truncated) {
    const note = document.createElement('div');
    note.className = 'note';
    note.textContent = `(context cut to fit: ${ctx.bytes} bytes of JSON)`;
    kv.appendChild(note);
  }
  container.appendChild(kv);
  container.title = JSON.stringify(value, null, 1).slice(0, 1500);
}

/** Long strings (keys, client ids) cut to their start. */
const clipText = (x) => (typeof x === 'string' && x.length > 20 ? `${x.slice(0, 8)}…` : x);

function inline(v) {
  if (v === null) return 'none';
  if (typeof v !== 'object') return String(clipText(v));
  const text = Array.isArray(v)
    ? `[${v.map((x) => (typeof x === 'object' && x !== null ? '…' : JSON.stringify(clipText(x)))).join(', ')}]`
    : Object.entries(v)
        .map(([k, x]) => `${k} ${typeof x === 'object' && x !== null ? '…' : x === null ? '–' : String(clipText(x))}`)
        .join(', ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

const CELL = { r: '#e53935', red: '#e53935', y: '#fbc02d', yellow: '#fbc02d', x: '#1f2937', o: '#2563eb', b: '#1f2937', w: '#e5e7eb' };
function cellColour(c) {
  if (c === '' || c === null || c === undefined || c === ' ' || c === '.' || c === 0) return '#ffffff';
  const k = String(c).toLowerCase();
  if (CELL[k]) return CELL[k];
  let h = 0;
  for (const ch of k) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 65% 50%)`;
}

/**
 * A board-like value as a small grid: an array of arrays (rows), or an array of short strings
 * of one-letter cells (columns bottom-up when the key says columns, else rows).
 */
function gridOf(key, v) {
  if (!Array.isArray(v) || v.length < 3 || v.length > 24) return null;
  let rows;
  // Rows of equal length (3 or more cells): a board, not a list of coordinates.
  if (v.every((x) => Array.isArray(x) && x.length >= 3 && x.length <= 24 && x.length === v[0].length && x.every((c) => c === null || typeof c !== 'object'))) rows = v;
  else if (v.every((x) => typeof x === 'string' && x.length <= 24 && /^[a-z .]*$/i.test(x))) {
    const cells = v.map((s) => [...s]);
    if (/col/i.test(key)) {
      // Columns filled from the bottom (a four-in-a-row board): turn them into rows, top row first.
      const height = Math.max(...cells.map((c) => c.length), Math.round(v.length * 0.86));
      rows = Array.from({ length: height }, (_, i) => cells.map((c) => c[height - 1 - i] ?? ''));
    } else rows = cells;
  } else return null;
  const width = Math.max(...rows.map((r) => r.length));
  if (width === 0) return null;
  const table = document.createElement('table');
  table.className = 'grid-view';
  table.title = `${key}`;
  for (const row of rows) {
    const tr = table.insertRow();
    for (let i = 0; i < width; i++) tr.insertCell().style.background = cellColour(row[i]);
  }
  return table;
}

// ---------------------------------------------------------------- timeline

const canvas = $('timeline');
const LANE_H = 21;
const AXIS_H = 16;
const LEFT = 78;

function drawTimeline(now) {
  const lanes = laneIds();
  const cssW = canvas.clientWidth || 800;
  const cssH = Math.max(1, lanes.length) * LANE_H + AXIS_H + 4;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.height = `${cssH}px`;
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const plotW = cssW - LEFT - 12;
  const x = (at) => LEFT + ((at - (now - WINDOW_MS)) / WINDOW_MS) * plotW;
  const laneY = new Map(lanes.map((id, i) => [id, 4 + i * LANE_H + LANE_H / 2]));

  // Axis: a tick per second.
  g.font = '10.5px system-ui, sans-serif';
  g.fillStyle = '#98a2b3';
  g.strokeStyle = '#eef0f3';
  g.lineWidth = 1;
  g.textAlign = 'center';
  const axisY = cssH - 4;
  for (let s = 0; s <= WINDOW_MS / 1000; s++) {
    const xx = LEFT + (1 - s / (WINDOW_MS / 1000)) * plotW;
    g.beginPath();
    g.moveTo(xx, 2);
    g.lineTo(xx, cssH - AXIS_H);
    g.stroke();
    g.fillText(s === 0 ? 'now' : `${s} s ago`, Math.min(xx, cssW - 16), axisY);
  }

  // One lifeline per replica.
  g.textAlign = 'left';
  g.textBaseline = 'middle';
  for (const id of lanes) {
    const r = replicas.get(id);
    const silent = !r || isSilent(r, now);
    const y = laneY.get(id);
    g.strokeStyle = silent ? '#eceef2' : '#c9cfd8';
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(LEFT, y);
    g.lineTo(LEFT + plotW, y);
    g.stroke();
    g.fillStyle = silent ? '#c0c6d0' : '#1f2430';
    g.font = '600 12px system-ui, sans-serif';
    g.fillText(id, 8, y - 1);
    const leader = r?.status?.leader === id && !silent;
    const tag = r?.behaviour && r.behaviour !== 'correct' ? 'Byzantine' : leader ? (r.status.faultModel === 'crash' ? 'leader' : 'primary') : '';
    if (tag) {
      g.font = '10px system-ui, sans-serif';
      g.fillStyle = tag === 'Byzantine' ? '#dc2626' : '#2563eb';
      g.fillText(tag, 8 + measure(id, 12, 600) + 5, y - 1);
    }
  }

  // The messages, faint chatter first so the interesting ones are drawn on top.
  const start = now - WINDOW_MS;
  const visible = timeline.filter((e) => e.at >= start && !hiddenKinds.has(e.type) && laneY.has(e.from) && laneY.has(e.to) && e.from !== e.to);
  visible.sort((a, b) => (isChatter(b.type) ? 1 : 0) - (isChatter(a.type) ? 1 : 0));
  for (const e of visible) {
    const x1 = x(e.at);
    const y0 = laneY.get(e.from);
    const y1 = laneY.get(e.to);
    const x0 = x1 - 9;
    const colour = kindColour(e.type);
    g.globalAlpha = isChatter(e.type) ? 0.35 : 0.95;
    g.strokeStyle = colour;
    g.fillStyle = colour;
    g.lineWidth = isChatter(e.type) ? 1 : 1.6;
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x1, y1);
    g.stroke();
    // Arrowhead at the receiver.
    const ang = Math.atan2(y1 - y0, x1 - x0);
    const s = isChatter(e.type) ? 4 : 5.5;
    g.beginPath();
    g.moveTo(x1, y1);
    g.lineTo(x1 - s * Math.cos(ang - 0.45), y1 - s * Math.sin(ang - 0.45));
    g.lineTo(x1 - s * Math.cos(ang + 0.45), y1 - s * Math.sin(ang + 0.45));
    g.closePath();
    g.fill();
  }
  g.globalAlpha = 1;
}

function laneIds() {
  const ids = new Set(replicas.keys());
  // Senders that never reported themselves (another browser, a closed tab) get a lane too.
  const start = Date.now() - WINDOW_MS;
  for (const e of timeline) if (e.at >= start) ids.add(e.from);
  return [...ids].sort(naturalOrder);
}

const isChatter = (type) => !!MESSAGE_KINDS[type]?.[2];
function kindColour(type) {
  const known = MESSAGE_KINDS[type];
  if (known) return known[0];
  let h = 0;
  for (const ch of String(type)) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 45%)`;
}

let legendKey = '';
function updateLegend(now) {
  const start = now - WINDOW_MS;
  const counts = new Map();
  for (const e of timeline) if (e.at >= start) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  const kinds = [...seenKinds].sort((a, b) => rankKind(a) - rankKind(b) || a.localeCompare(b));
  const key = JSON.stringify([kinds, [...counts], [...hiddenKinds], timelineDropped]);
  if (key === legendKey) return;
  legendKey = key;
  const chips = kinds.map((type) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `chip${hiddenKinds.has(type) ? ' off' : ''}`;
    b.dataset.type = type;
    b.innerHTML = `<span class="sw" style="background:${kindColour(type)}"></span><b>${escapeHtml(type)}</b> <span class="d">${escapeHtml(MESSAGE_KINDS[type]?.[1] ?? '')}</span> <span class="n">${counts.get(type) ?? 0}</span>`;
    b.onclick = () => {
      if (hiddenKinds.has(type)) hiddenKinds.delete(type);
      else hiddenKinds.add(type);
      legendKey = '';
    };
    return b;
  });
  if (kinds.length === 0) {
    const s = document.createElement('span');
    s.className = 'panel-note';
    s.textContent = 'no messages yet';
    chips.push(s);
  }
  if (timelineDropped > 0) {
    const s = document.createElement('span');
    s.className = 'panel-note';
    s.textContent = `(${timelineDropped} not shown: too many at once)`;
    chips.push(s);
  }
  $('legend').replaceChildren(...chips);
}
const rankKind = (t) => (KIND_ORDER.includes(t) ? KIND_ORDER.indexOf(t) : KIND_ORDER.length);

// ---------------------------------------------------------------- summary line

function updateSummary(group, now) {
  const all = [...replicas.values()];
  if (all.length === 0) return;
  const live = group.live;
  const parts = [`<b>${live.length}</b> of ${all.length} replica${all.length === 1 ? '' : 's'} reporting`];
  const crash = faultModel === 'crash';
  const leaders = new Set(live.map((r) => r.status.leader).filter(Boolean));
  if (leaders.size === 1) {
    const [leader] = leaders;
    const view = Math.max(...live.map((r) => r.status.term ?? 0));
    parts.push(`${crash ? 'leader' : 'primary'} <b>${escapeHtml(leader)}</b> (${crash ? 'term' : 'view'} ${view})`);
  } else if (leaders.size > 1) parts.push(`<span class="bad">no agreed ${crash ? 'leader' : 'primary'} yet</span>`);
  const liars = all.filter((r) => r.behaviour && r.behaviour !== 'correct').map((r) => r.id);
  if (liars.length) parts.push(`<span class="bad">Byzantine: ${escapeHtml(liars.join(', '))}</span>`);
  const excluded = all.filter((r) => (group.excludedBy.get(r.id) ?? []).length > 0 || r.status?.phase === 'excluded').map((r) => r.id);
  if (excluded.length) parts.push(`<span class="bad">excluded: ${escapeHtml(excluded.join(', '))}</span>`);
  parts.push(`moves applied: <b>${group.maxApplied}</b>`);
  const html = parts.join(' · ');
  if ($('summary').innerHTML !== html) $('summary').innerHTML = html;
}

// ---------------------------------------------------------------- loop

let lastCards = 0;
function frame() {
  const now = Date.now();
  // Keep a little more than the window (entries can arrive up to ~1 s late from background tabs).
  if (timeline.length > 0 && (timeline[0].at < now - WINDOW_MS - 2000 || timeline.length > 20000)) {
    timeline = timeline.filter((e) => e.at >= now - WINDOW_MS - 2000).slice(-20000);
  }
  // Cards change at most a few times a second; the timeline scrolls every frame.
  if (now - lastCards >= 150) {
    lastCards = now;
    const group = groupView(now);
    for (const r of replicas.values()) if (r.ui) updateCard(r, group, now);
    updateSummary(group, now);
    updateLegend(now);
  }
  drawTimeline(now);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
// Hidden inspector tabs get no animation frames: keep the state (and replicas()) current anyway.
setInterval(() => {
  if (document.hidden) {
    const now = Date.now();
    const group = groupView(now);
    for (const r of replicas.values()) if (r.ui) updateCard(r, group, now);
  }
}, 1000);

// ---------------------------------------------------------------- for tests

function replicasView() {
  const now = Date.now();
  const group = groupView(now);
  const start = now - WINDOW_MS;
  const out = {};
  for (const id of [...replicas.keys()].sort(naturalOrder)) {
    const r = replicas.get(id);
    const st = r.status;
    const excludedBy = group.excludedBy.get(id) ?? [];
    let received = 0;
    let sent = 0;
    for (const e of timeline) {
      if (e.at < start) continue;
      if (e.to === id) received++;
      if (e.from === id) sent++;
    }
    const phase = st?.phase ?? null;
    out[id] = {
      id,
      label: r.label,
      faultModel: r.faultModel,
      online: !isSilent(r, now),
      left: r.left,
      silentForMs: now - r.lastSeen,
      protocolState: r.protocol ? valueText(r.protocol.value) : null,
      protocolHistory: (r.history?.protocol ?? []).map((c) => ({ at: c.at, from: valueText(c.from), to: valueText(c.to) })),
      phase,
      caption: PHASES[phase]?.[0] ?? null,
      appState: r.app ? valueText(r.app.value) : null,
      appStatus: r.app?.status ?? null,
      view: st?.view ?? null,
      term: st?.term ?? null,
      leader: st?.leader ?? null,
      isLeader: !!st && st.leader === id,
      positions: st
        ? { appliedIndex: st.appliedIndex, commitIndex: st.commitIndex, executedSeq: st.executedSeq ?? null, stableSeq: st.stableSeq ?? null, snapshotIndex: st.snapshotIndex }
        : null,
      behaviour: r.behaviour,
      byzantine: !!r.behaviour && r.behaviour !== 'correct',
      excluded: excludedBy.length > 0 || phase === 'excluded',
      excludedBy,
      diverged: group.diverged.has(id),
      members: st?.members ?? null,
      digest: st?.digest ?? null,
      context: r.app?.context?.value ?? null,
      chartsShown: !!r.ui?.chartsBuilt,
      messages: received,
      messagesSent: sent,
    };
  }
  return out;
}

window.inspector = {
  room,
  /** Per replica id: what the page shows now (see the report of this module). */
  replicas: replicasView,
  /** The timeline's window: counts per message kind, and entries dropped at the source. */
  timeline() {
    const start = Date.now() - WINDOW_MS;
    const byType = {};
    let total = 0;
    for (const e of timeline) {
      if (e.at < start) continue;
      byType[e.type] = (byType[e.type] ?? 0) + 1;
      total++;
    }
    return { total, byType, dropped: timelineDropped, hidden: [...hiddenKinds] };
  },
};

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
function short(digest) {
  return typeof digest === 'string' && digest ? digest.slice(0, 8) : '–';
}
