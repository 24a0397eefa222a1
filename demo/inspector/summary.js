// The summary line at the top: how many replicas report, who leads, who lies or is excluded.
import { $, escapeHtml } from './helpers.js';
import { replicas, room } from './model.js';

export function updateSummary(group, now) {
  const all = [...replicas.values()];
  if (all.length === 0) return;
  const live = group.live;
  const parts = [`<b>${live.length}</b> of ${all.length} replica${all.length === 1 ? '' : 's'} reporting`];
  const crash = room.faultModel === 'crash';
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
