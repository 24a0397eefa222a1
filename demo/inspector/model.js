// What the inspector knows: a record per replica, the messages between them, and the room's fault
// model, all fed by the BroadcastChannel every replica tab of the room writes to
// (demo/inspect-feed.js); plus what the records say together (groupView). The one home of the
// page's shared mutable state: other modules import these objects and never reassign them.
import { naturalOrder } from './helpers.js';
import { leafPaths } from './state-values.js';

const params = new URLSearchParams(location.search);
export const WINDOW_MS = 5000; // the timeline shows this much history
export const SILENT_MS = 5000; // a replica not heard from this long fades out
export const RECENT_MS = 3500; // a transition just taken stays highlighted this long

/** The room watched, and its fault model once a replica has named it. */
export const room = { name: params.get('room') || 'demo', faultModel: null };

/** @type {Map<string, any>} replica id → what we know of it */
export const replicas = new Map();
/** Timeline entries { at, from, to, type, ... }, roughly in arrival order; `dropped` at the source. */
export const timeline = { entries: [], dropped: 0 };
/** Message kinds the legend has switched off, and every kind seen so far. */
export const hiddenKinds = new Set();
export const seenKinds = new Set();

/**
 * What the page does when a replica first reports, and when the fault model becomes known.
 * @type {{ replicaAdded: (r: any) => void, faultModelChanged: (faultModel: string) => void }}
 */
const hooks = { replicaAdded() {}, faultModelChanged() {} };

function recordFor(id) {
  let r = replicas.get(id);
  if (!r) {
    r = { id, label: id, session: null, faultModel: null, behaviour: null, charts: null, chartsKey: '', status: null, protocol: null, app: null, metrics: null, lastSeen: 0, left: false, ui: null, transitions: {}, history: {} };
    replicas.set(id, r);
    hooks.replicaAdded(r);
  }
  return r;
}

// ---------------------------------------------------------------- the feed

/** Starts listening to the room's feeds; `on` says what to do as replicas and the fault model appear. */
export function listen(on) {
  Object.assign(hooks, on);
  const channel = new BroadcastChannel(`statechorus-inspector:${room.name}`);
  channel.onmessage = (e) => receive(e.data);
  // Ask the feeds for a description now rather than in up to 2 s.
  channel.postMessage({ v: 1, kind: 'query', room: room.name, at: Date.now() });
}

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
      if (r.faultModel && r.faultModel !== room.faultModel) {
        room.faultModel = r.faultModel;
        hooks.faultModelChanged(room.faultModel);
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
        timeline.entries.push(entry);
        seenKinds.add(entry.type);
      }
      timeline.dropped += m.dropped ?? 0;
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
export function recentChanges(r, which, now) {
  return (r.history?.[which] ?? []).filter((c) => now - c.at < RECENT_MS).map((c) => ({ from: leafPaths(c.from), to: leafPaths(c.to), at: c.at }));
}

// ---------------------------------------------------------------- the group as a whole

/** What every card needs from the others: who is excluded by whom, who diverged, how far ahead the group is. */
export function groupView(now) {
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
export const isSilent = (r, now) => r.left || now - r.lastSeen > SILENT_MS;

/** Drops what the timeline no longer shows (a little more than its window: entries can arrive up to ~1 s late from background tabs). */
export function trimTimeline(now) {
  const t = timeline.entries;
  if (t.length > 0 && (t[0].at < now - WINDOW_MS - 2000 || t.length > 20000)) {
    timeline.entries = t.filter((e) => e.at >= now - WINDOW_MS - 2000).slice(-20000);
  }
}
