// The context view: a replica's application context, compact (board-like values as small grids).
import { escapeHtml } from './helpers.js';

/** A compact view of the app context: small grids for boards, one line per other key. */
export function renderContext(container, ctx) {
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
