// The timeline: a canvas with a lane per replica and an arrow per message of the last few
// seconds, and its legend of message kinds (a click hides or shows a kind).
import { $, escapeHtml, measure, naturalOrder } from './helpers.js';
import { KIND_ORDER, MESSAGE_KINDS } from './texts.js';
import { WINDOW_MS, hiddenKinds, isSilent, replicas, seenKinds, timeline } from './model.js';

const canvas = $('timeline');
const LANE_H = 21;
const AXIS_H = 16;
const LEFT = 78;

export function drawTimeline(now) {
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
  const visible = timeline.entries.filter((e) => e.at >= start && !hiddenKinds.has(e.type) && laneY.has(e.from) && laneY.has(e.to) && e.from !== e.to);
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
  for (const e of timeline.entries) if (e.at >= start) ids.add(e.from);
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
export function updateLegend(now) {
  const start = now - WINDOW_MS;
  const counts = new Map();
  for (const e of timeline.entries) if (e.at >= start) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  const kinds = [...seenKinds].sort((a, b) => rankKind(a) - rankKind(b) || a.localeCompare(b));
  const key = JSON.stringify([kinds, [...counts], [...hiddenKinds], timeline.dropped]);
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
  if (timeline.dropped > 0) {
    const s = document.createElement('span');
    s.className = 'panel-note';
    s.textContent = `(${timeline.dropped} not shown: too many at once)`;
    chips.push(s);
  }
  $('legend').replaceChildren(...chips);
}
const rankKind = (t) => (KIND_ORDER.includes(t) ? KIND_ORDER.indexOf(t) : KIND_ORDER.length);
