// For tests: `window.inspector` reports what the page shows (per replica, and the timeline's
// window), so browser tests check the inspector without reading its DOM.
import { PHASES } from '../phases.js';
import { naturalOrder } from './helpers.js';
import { WINDOW_MS, groupView, hiddenKinds, isSilent, replicas, room, timeline } from './model.js';
import { valueText } from './state-values.js';

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
    for (const e of timeline.entries) {
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

export function installTestHooks() {
  window.inspector = {
    room: room.name,
    /** Per replica id: what the page shows now (see the report of this module). */
    replicas: replicasView,
    /** The timeline's window: counts per message kind, and entries dropped at the source. */
    timeline() {
      const start = Date.now() - WINDOW_MS;
      const byType = {};
      let total = 0;
      for (const e of timeline.entries) {
        if (e.at < start) continue;
        byType[e.type] = (byType[e.type] ?? 0) + 1;
        total++;
      }
      return { total, byType, dropped: timeline.dropped, hidden: [...hiddenKinds] };
    },
  };
}
