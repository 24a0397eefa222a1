// Cards: one per replica, with its badges, its two charts, what its protocol phase means, its
// application context and its positions in the log; a click on a chart enlarges it.
import { PHASES } from '../phases.js';
import { $, escapeHtml, naturalOrder, short } from './helpers.js';
import { BEHAVIOURS } from './texts.js';
import { isSilent, recentChanges, replicas } from './model.js';
import { valueText } from './state-values.js';
import { drawChart } from './chart.js';
import { renderContext } from './context-view.js';

/** Gives every replica its card, in id order. */
export function mountCards() {
  const container = $('cards');
  $('empty').hidden = replicas.size > 0;
  for (const id of [...replicas.keys()].sort(naturalOrder)) {
    const r = replicas.get(id);
    if (!r.ui) r.ui = buildCard(r);
    container.appendChild(r.ui.root); // appending in order keeps the cards sorted by id
  }
}

function buildCard(r) {
  const root = document.createElement('article');
  root.className = 'card';
  root.dataset.replica = r.id;
  root.innerHTML = `
    <div class="card-head">
      <span class="rid"></span><span class="label"></span>
      <span class="badge role" hidden></span>
      <span class="badge behaviour"></span>
      <span class="badge out" hidden></span>
      <span class="badge differs" hidden>its game differs</span>
      <span class="spacer"></span><span class="seen"></span><span class="card-foot"></span>
    </div>
    <div class="card-body">
      <div class="pane">
        <div class="pane-title">Protocol <span class="now protocol-now"></span></div>
        <div class="chart-box"><div class="chart protocol-chart"></div><span class="was protocol-was"></span></div>
        <p class="caption protocol-caption"></p>
      </div>
      <div class="pane">
        <div class="pane-title">Its copy of the game <span class="now app-now"></span></div>
        <div class="chart app-chart"></div>
        <div class="context"></div>
      </div>
    </div>
    <div class="positions"></div>`;
  const q = (s) => root.querySelector(s);
  q('.protocol-chart').addEventListener('click', () => zoomChart(r, 'protocol'));
  q('.app-chart').addEventListener('click', () => zoomChart(r, 'app'));
  return {
    root,
    rid: q('.rid'),
    label: q('.label'),
    role: q('.role'),
    behaviour: q('.behaviour'),
    seen: q('.seen'),
    out: q('.out'),
    differs: q('.differs'),
    protocolNow: q('.protocol-now'),
    protocolWas: q('.protocol-was'),
    protocolChart: q('.protocol-chart'),
    protocolCaption: q('.protocol-caption'),
    appNow: q('.app-now'),
    appChart: q('.app-chart'),
    context: q('.context'),
    positions: q('.positions'),
    foot: q('.card-foot'),
    chartsBuilt: false,
    charts: null,
    lastPositions: '',
    lastContext: '',
  };
}

/** Shows a chart large in a dialog; the live SVG moves there (so it keeps updating) and back. */
function zoomChart(r, which) {
  const chart = r.ui?.charts?.[which];
  if (!chart) return;
  const dialog = $('zoom');
  const home = chart.svg.parentElement;
  $('zoom-title').textContent = `${r.id}: ${which === 'protocol' ? 'its protocol' : 'its copy of the game'} (${r.charts?.[which]?.id ?? ''})`;
  $('zoom-body').replaceChildren(chart.svg);
  dialog.addEventListener('close', () => home?.appendChild(chart.svg), { once: true });
  dialog.showModal();
}

/** The enlarged-chart dialog closes on its button and on a click on the backdrop. */
export function setUpZoom() {
  $('zoom-close').addEventListener('click', () => $('zoom').close());
  $('zoom').addEventListener('click', (e) => {
    if (e.target === $('zoom')) $('zoom').close(); // a click on the backdrop
  });
}

/** Brings a card up to date with its replica's record and the group's view. */
export function updateCard(r, group, now) {
  const ui = r.ui;
  const st = r.status;
  const silent = isSilent(r, now);
  const excludedBy = group.excludedBy.get(r.id) ?? [];
  const excluded = excludedBy.length > 0 || st?.phase === 'excluded';
  const byzantine = !!r.behaviour && r.behaviour !== 'correct';
  const isLeader = !!st && st.leader === r.id && !silent;

  ui.root.classList.toggle('silent', silent);
  ui.root.classList.toggle('excluded', excluded);
  ui.root.classList.toggle('byzantine', byzantine);
  ui.root.classList.toggle('leader', isLeader);
  ui.rid.textContent = r.id;
  ui.label.textContent = r.label && r.label !== r.id ? r.label : '';
  ui.role.hidden = !isLeader;
  ui.role.textContent = st?.faultModel === 'crash' ? 'leader' : 'primary';
  if (r.behaviour == null || (r.faultModel === 'crash' && r.behaviour === 'correct')) {
    ui.behaviour.className = 'badge behaviour gone';
    ui.behaviour.textContent = r.faultModel === 'crash' ? 'crash model' : '';
    ui.behaviour.hidden = r.faultModel !== 'crash';
  } else {
    ui.behaviour.hidden = false;
    ui.behaviour.className = `badge behaviour ${byzantine ? 'byz' : 'correct'}`;
    ui.behaviour.textContent = byzantine ? `Byzantine: ${r.behaviour}` : 'honest';
    ui.behaviour.title = BEHAVIOURS[r.behaviour] ?? r.behaviour;
  }
  const age = Math.round((now - r.lastSeen) / 1000);
  ui.seen.textContent = r.left ? 'tab closed' : silent ? `silent for ${age} s` : '';

  ui.seen.title = r.left ? 'This tab was closed: the replica is gone. The group carries on while enough others remain.' : silent ? 'No news from this replica (tab closed, frozen or in the background).' : '';
  ui.out.hidden = !excluded;
  const crash = r.faultModel === 'crash';
  const by = excludedBy.join(', ');
  ui.out.textContent = crash ? `not voting${by ? `, per ${by}` : ''}` : `excluded${by ? ` by ${by}` : ''}`;
  ui.out.title = crash
    ? 'The others no longer count it in their majority (silent too long, or removed); it may rejoin once caught up.'
    : 'The others caught it misbehaving and go on without it.';
  ui.differs.hidden = excluded || !group.diverged.has(r.id);
  ui.differs.title = `Its copy of the game differs from the others' at the same move (fingerprint ${short(st?.digest)}): players outvote it.`;

  // Charts: built once per described structure, then only classes change.
  if (!ui.chartsBuilt && r.charts) {
    ui.charts = { protocol: drawChart(r.charts.protocol), app: drawChart(r.charts.app) };
    ui.protocolChart.replaceChildren(ui.charts.protocol.svg);
    ui.appChart.replaceChildren(ui.charts.app.svg);
    ui.chartsBuilt = true;
  }
  const protoValue = r.protocol?.value ?? null;
  ui.protocolNow.textContent = valueText(protoValue);
  // A phase that came and went between two looks (a quick state transfer) is worth saying.
  const change = r.transitions.protocol;
  const ago = change ? Math.round((now - change.at) / 1000) : Infinity;
  ui.protocolWas.textContent = ago < 60 ? `was ${change.from.join(' + ')} until ${ago < 1 ? 'just now' : `${ago} s ago`}` : '';
  ui.protocolWas.hidden = !(ago < 60);
  if (ui.charts) {
    ui.charts.protocol.update(protoValue, r.transitions.protocol, excluded, recentChanges(r, 'protocol', now));
    ui.charts.app.update(r.app?.value ?? null, r.transitions.app, group.diverged.has(r.id) || byzantine, recentChanges(r, 'app', now));
  }
  const phase = st?.phase ?? valueText(protoValue);
  const text = PHASES[phase] ?? PHASES[valueText(protoValue)];
  let caption = text ? `<b>${escapeHtml(phase)}</b>: ${escapeHtml(text[0])}. <span class="more">${escapeHtml(text[1])}</span>` : `<b>${escapeHtml(phase)}</b>`;
  if (excluded && excludedBy.length) {
    // What the others decided matters more than what it thinks of itself.
    caption = crash
      ? `<b class="bad">not voting, per ${escapeHtml(excludedBy.join(', '))}</b>: the others no longer count it in their majority.`
      : `<b class="bad">excluded by ${escapeHtml(excludedBy.join(', '))}</b>: they caught it misbehaving and go on without it.`;
    if (phase !== 'excluded') caption += ` <span class="more">It still sees itself as “${escapeHtml(phase)}”.</span>`;
  }
  if (ui.protocolCaption.innerHTML !== caption) ui.protocolCaption.innerHTML = caption;
  ui.appNow.textContent = r.app ? valueText(r.app.value) + (r.app.status && r.app.status !== 'active' ? ` (${r.app.status})` : '') : '–';

  // Positions in the log, with what they mean on hover.
  const positions = positionsOf(r, group);
  const key = JSON.stringify(positions);
  if (key !== ui.lastPositions) {
    ui.lastPositions = key;
    ui.positions.replaceChildren(
      ...positions.map((p) => {
        const d = document.createElement('div');
        d.className = `pos${p.lag ? ' lag' : ''}${p.small ? ' small' : ''}${p.mono ? ' mono' : ''}${p.right ? ' push' : ''}`;
        d.title = p.help;
        d.innerHTML = `<span class="v">${escapeHtml(String(p.value))}</span><span class="k">${escapeHtml(p.label)}</span>`;
        return d;
      }),
    );
  }

  const ctxKey = JSON.stringify(r.app?.context ?? null);
  if (ctxKey !== ui.lastContext) {
    ui.lastContext = ctxKey;
    renderContext(ui.context, r.app?.context);
  }

  // Head notes: what it refused or caught, when there is any.
  const m = r.metrics;
  const notes = [];
  if (m?.dropped) notes.push(`<span class="bad" title="input it refused (bad signature, malformed, …): ${escapeHtml(JSON.stringify(m.droppedBy))}">refused ${m.dropped} bad input${m.dropped === 1 ? '' : 's'}</span>`);
  const mis = Object.entries(m?.misbehaviour ?? {});
  if (mis.length) {
    const n = mis.reduce((s, [, v]) => s + v, 0);
    notes.push(`<span class="bad" title="misbehaviour of others that this replica detected: ${escapeHtml(mis.map(([k, v]) => `${k} ×${v}`).join('; '))}">caught ${n} misbehaviour${n === 1 ? '' : 's'}</span>`);
  }
  const footHtml = notes.join(' · ');
  if (ui.foot.innerHTML !== footHtml) ui.foot.innerHTML = footHtml;
}

function positionsOf(r, group) {
  const st = r.status;
  if (!st) return [];
  const m = r.metrics;
  const tail = [
    { label: 'msgs in / out', value: m ? `${m.messagesIn} / ${m.messagesOut}` : '–', help: 'Protocol messages this replica received / sent.', small: true, right: true },
    { label: 'fingerprint', value: short(st.digest), help: 'Fingerprint (SHA-256) of its copy of the game: equal copies have equal fingerprints.', small: true, mono: true },
  ];
  const behind = Math.max(0, group.maxApplied - (st.appliedIndex ?? 0));
  if (st.faultModel === 'crash') {
    return [
      { label: 'term', value: st.term, help: 'Election round: goes up each time the replicas elect a leader.' },
      { label: 'leader', value: st.leader ?? '–', help: 'The replica that orders the moves in this term.' },
      { label: 'committed', value: st.commitIndex, help: 'Log position known to be stored by a majority: final.' },
      { label: behind ? `applied (${behind} behind)` : 'applied', value: st.appliedIndex, lag: behind > 0, help: 'Log position this replica has played on its copy of the game.' },
      { label: 'snapshot', value: st.snapshotIndex, help: 'Log position of its latest snapshot; older log entries are dropped.' },
      ...tail,
    ];
  }
  return [
    { label: 'view', value: st.view ?? st.term, help: 'Which replica is primary: view v has primary number v mod 4. A view change moves to the next one.' },
    { label: 'primary', value: st.leader ?? '–', help: 'The replica that proposes the order of moves in this view.' },
    { label: 'committed', value: st.commitIndex, help: 'Highest batch of moves that 3 of 4 replicas agreed on (final).' },
    { label: 'executed', value: st.executedSeq ?? 0, help: 'Highest batch of moves this replica has carried out.' },
    { label: 'checkpoint', value: st.stableSeq ?? 0, help: 'Latest stable checkpoint (and snapshot): a batch where 3 replicas signed the same state fingerprint; the log before it is dropped, and a replica that fell behind copies it.' },
    { label: behind ? `applied (${behind} behind)` : 'applied', value: st.appliedIndex, lag: behind > 0, help: 'Requests (moves) played on its copy of the game.' },
    ...tail,
  ];
}
