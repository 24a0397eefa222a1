// XState state values and state paths ('playing.turn'): which are active, how they read.

/** All paths ('a', 'a.b', …) active in an XState state value. */
export function activePaths(value, prefix = '', out = new Set()) {
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
export function leafPaths(value) {
  const all = [...activePaths(value)];
  return all.filter((p) => !all.some((q) => q.startsWith(`${p}.`)));
}

export const valueText = (value) => (value == null ? '–' : leafPaths(value).join(' + ') || '–');

export const parentPath = (p) => (p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '');
/** Is `path` the state `ancestor` or inside it? */
export const isWithin = (path, ancestor) => path === ancestor || path.startsWith(`${ancestor}.`);
