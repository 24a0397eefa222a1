// The live inspector: inspector.html?room=<room>. Listens on the BroadcastChannel that every
// replica tab of the room feeds (demo/inspect-feed.js) and draws, per replica, its protocol and
// application statecharts (laid out from the structure the feed describes, nothing hard-coded
// about either chart), its positions in the log, whether it lies or was excluded, and a
// timeline of the messages between replicas. `window.inspector.replicas()` returns what is shown.
//
// This module wires the others and runs the frame loop:
//   model.js         replica records, the feed (receive), the group's view; all shared state
//   texts.js         plain-language texts        state-values.js  XState values and paths
//   layout.js        chart layout                geometry.js      arrow paths
//   chart.js         charts as SVG               cards.js         a card per replica
//   context-view.js  the app context             timeline.js      messages (canvas) and legend
//   summary.js       the line at the top         test-hooks.js    window.inspector
import { $ } from './helpers.js';
import { intro } from './texts.js';
import { groupView, listen, replicas, room, trimTimeline } from './model.js';
import { mountCards, setUpZoom, updateCard } from './cards.js';
import { drawTimeline, updateLegend } from './timeline.js';
import { updateSummary } from './summary.js';
import { installTestHooks } from './test-hooks.js';

$('room').textContent = `room “${room.name}”`;
$('room-hint').textContent = `room=${room.name}`;
$('intro').innerHTML = intro(null);

listen({
  replicaAdded: () => mountCards(),
  faultModelChanged: (faultModel) => {
    $('intro').innerHTML = intro(faultModel);
  },
});
setUpZoom();

let lastCards = 0;
function frame() {
  const now = Date.now();
  trimTimeline(now);
  // Cards change at most a few times a second; the timeline scrolls every frame.
  if (now - lastCards >= 150) {
    lastCards = now;
    const group = groupView(now);
    for (const r of replicas.values()) if (r.ui) updateCard(r, group, now);
    updateSummary(group, now);
    updateLegend(now);
  }
  drawTimeline(now);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
// Hidden inspector tabs get no animation frames: keep the state (and replicas()) current anyway.
setInterval(() => {
  if (document.hidden) {
    const now = Date.now();
    const group = groupView(now);
    for (const r of replicas.values()) if (r.ui) updateCard(r, group, now);
  }
}, 1000);

installTestHooks();
