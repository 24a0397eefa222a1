// Chart layout: boxes for every state of a described machine (layered from each compound state's
// initial child, or around it when nearly every child reaches every other), and the transitions
// as edges between them, with the lanes that arrows going back take. The arrows' paths are
// drawn from these boxes in geometry.js.
import { measure } from './helpers.js';
import { isWithin } from './state-values.js';

const LEAF_H = 22;
const PAD = 7;
export const HEAD = 15;
const GAP_X = 26;
const GAP_Y = 8;
export const LANE = 9; // spacing of the lanes that carry arrows back around a layered layout
export const LABEL_FONT = 9.5;

/**
 * Lays a described machine out: every state node gets a box (x, y, w, h, absolute), and the
 * transitions become edges between boxes. Children of a compound state go in layers from its
 * initial state, left to right, with arrows going back routed around above or below; or, when
 * nearly every child reaches every other one (a phase chart, where layers would pile arrows
 * up), around the initial state in the middle.
 */
export function layoutChart(desc) {
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
