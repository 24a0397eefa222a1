// Small helpers the inspector's modules share: element lookup, HTML escaping, text width, ordering.

export const $ = (id) => document.getElementById(id);

/** Replica ids in natural order (r2 before r10). */
export const naturalOrder = (a, b) => a.localeCompare(b, undefined, { numeric: true });

/** The width of `text` in the page's font (for boxes and gaps sized to their labels). */
export const measure = (() => {
  const ctx = document.createElement('canvas').getContext('2d');
  return (text, size = 11, weight = 400) => {
    ctx.font = `${weight} ${size}px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif`;
    return ctx.measureText(text).width;
  };
})();

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
export function short(digest) {
  return typeof digest === 'string' && digest ? digest.slice(0, 8) : '–';
}
