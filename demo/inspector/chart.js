// Chart drawing: a described machine as SVG (boxes, arrows, labels, notes) from its layout, and
// an update that marks the active states and the arrows of transitions just taken.
import { measure } from './helpers.js';
import { RECENT_MS } from './model.js';
import { activePaths, isWithin, parentPath } from './state-values.js';
import { LABEL_FONT, layoutChart } from './layout.js';
import { curveAround, edgePath, passesNear, routedPath } from './geometry.js';

const SVG = 'http://www.w3.org/2000/svg';

const el = (name, attrs = {}, parent) => {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
};

let markerSeq = 0;

/** Draws a described machine as SVG; returns the element and a way to mark the active states. */
export function drawChart(desc) {
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
