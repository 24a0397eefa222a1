// Arrow geometry: SVG paths between laid-out boxes (straight or bent, routed around through a
// lane, curved around a box in the way), each with where its label goes.
import { HEAD, LANE } from './layout.js';

/** A path from box a to box b (border to border), bent sideways by `bend`, with a label position. */
export function edgePath(a, b, bend) {
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
export function routedPath(a, b, route) {
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
export function curveAround(a, b, c, side, reverse) {
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
export function passesNear(a, b, c) {
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
