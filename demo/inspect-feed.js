// The replica side of the live inspector (demo/inspector.html): every tab that runs a replica
// reports what its replica is doing on a BroadcastChannel of its room, and the inspector page
// (same origin, same browser profile) draws it. No server, no dependencies.
//
//   const feed = createInspectorFeed({ room, replicaId: 'r1', label: 'tab 1' });
//   const replica = createReplica({ ..., inspect: feed.inspect });
//   feed.attach(replica, { appMachine: game, behaviour: () => lie.behaviour });
//   ...
//   feed.close();
//
// Messages on `statechorus-inspector:<room>` (all carry v, kind, room, replica, label, session, at):
//   hello     every 2 s and on request: faultModel, behaviour, and both statecharts' structure
//   status    on change, at most 5 per second, and at least every second: states, status(), metrics, app context
//   timeline  every ~100 ms: the protocol messages this replica received
//   bye       on close() and on pagehide
// The inspector may post { kind: 'query' } to get a hello and a status at once.

const VERSION = 1;
const HELLO_EVERY_MS = 2000;
const STATUS_MIN_GAP_MS = 200;
const STATUS_KEEPALIVE_MS = 1000;
const TIMELINE_EVERY_MS = 100;
const TIMELINE_CAP = 200;
const CONTEXT_BUDGET = 2048;
const HISTORY = 8;

/**
 * @param {{ room: string, replicaId: string, label?: string }} options
 */
export function createInspectorFeed({ room, replicaId, label = replicaId }) {
  if (typeof room !== 'string' || room === '') throw new TypeError('createInspectorFeed: room must be a non-empty string');
  if (typeof replicaId !== 'string' || replicaId === '') throw new TypeError('createInspectorFeed: replicaId must be a non-empty string');
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`statechorus-inspector:${room}`) : null;
  // Tells a reloaded tab (same replica id, fresh state) apart from the one before it.
  const session = Math.random().toString(36).slice(2, 10);

  let replica = null;
  /** The simulated behaviour the replica runs (see attach). */
  let behaviourOf = (r) => r.behaviour;
  let appMachine = null;
  let protocolLogic = null;
  let charts = null;
  let closed = false;

  // Timeline entries waiting for the next batch, and how many did not fit in it.
  let pending = [];
  let droppedEntries = 0;
  // Something happened since the last status (any inspection event).
  let dirty = true;
  let scheduled = false;
  let lastTimeline = 0;
  let lastHello = 0;
  let lastStatus = 0; // last time a status was considered
  let lastStatusSentAt = 0; // last time one was posted
  let lastStatusText = '';
  let statusSeq = 0;
  // The last state-value changes of each chart ({ at, from, to }), sent with every status.
  const protocolHistory = { raw: undefined, value: undefined, text: undefined, changes: [] };
  const appHistory = { raw: undefined, value: undefined, text: undefined, changes: [] };

  const base = (kind) => ({ v: VERSION, kind, room, replica: replicaId, label, session, at: Date.now() });
  const post = (message) => {
    if (closed || !channel) return;
    try {
      channel.postMessage(message);
    } catch {
      // a value that does not clone (should not happen: everything is made JSON-safe) is skipped
    }
  };

  /** Is this inspection event about the protocol actor (not the app)? */
  const isProtocol = (actorRef) => {
    const logic = actorRef?.logic;
    if (protocolLogic) return logic === protocolLogic;
    // Before attach(): anything that is not the app machine (the protocol only gets 'message' from peers).
    return !appMachine || logic !== appMachine;
  };

  /** Called by XState for every event, snapshot and actor of both charts: only cheap work here. */
  function inspect(event) {
    if (closed) return;
    dirty = true;
    if (event.type === '@xstate.snapshot') noteSnapshot(event);
    else if (event.type === '@xstate.event') {
      const e = event.event;
      if (e !== null && typeof e === 'object' && e.type === 'message' && typeof e.from === 'string' && e.message && isProtocol(event.actorRef)) {
        if (pending.length < TIMELINE_CAP) pending.push(entryOf(e.from, replicaId, e.message));
        else droppedEntries++;
      }
    }
    // Timers in background tabs run once a second at best; the replica's own traffic does not.
    if (!scheduled) {
      const now = Date.now();
      if (now - lastTimeline >= TIMELINE_EVERY_MS || now - lastStatus >= STATUS_MIN_GAP_MS) {
        scheduled = true;
        // After the current macrostep: status() and snapshots are consistent then.
        queueMicrotask(pump);
      }
    }
  }

  /** Phases can last less than the status period (a short state transfer): keep a history. */
  function noteSnapshot(event) {
    if (event.rootId !== event.actorRef?.sessionId) return; // a child actor
    const logic = event.actorRef.logic;
    const which = protocolLogic && logic === protocolLogic ? protocolHistory : appMachine && logic === appMachine ? appHistory : null;
    const value = event.snapshot?.value;
    if (!which || value === undefined || value === which.raw) return;
    which.raw = value;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (text === which.text) return;
    const plain = typeof value === 'string' ? value : jsonSafe(value);
    if (which.text !== undefined) {
      which.changes.push({ at: Date.now(), from: which.value, to: plain });
      if (which.changes.length > HISTORY) which.changes.shift();
    }
    which.text = text;
    which.value = plain;
  }

  function pump() {
    scheduled = false;
    if (closed) return;
    const now = Date.now();
    if (now - lastTimeline >= TIMELINE_EVERY_MS) flushTimeline(now);
    if (now - lastHello >= HELLO_EVERY_MS) sendHello(now);
    if (now - lastStatus >= STATUS_MIN_GAP_MS && (dirty || now - lastStatusSentAt >= STATUS_KEEPALIVE_MS)) sendStatus(now, false);
  }

  function flushTimeline(now) {
    lastTimeline = now;
    if (pending.length === 0 && droppedEntries === 0) return;
    const message = { ...base('timeline'), entries: pending, dropped: droppedEntries };
    pending = [];
    droppedEntries = 0;
    post(message);
  }

  function sendHello(now) {
    lastHello = now;
    if (!replica) return;
    if (!charts || (!charts.protocol && protocolLogic)) charts = { protocol: describeMachine(protocolLogic), app: describeMachine(appMachine) };
    const status = safe(() => replica.status());
    post({
      ...base('hello'),
      faultModel: status?.faultModel ?? null,
      behaviour: safe(() => behaviourOf(replica)) ?? null,
      charts,
    });
  }

  function sendStatus(now, force) {
    lastStatus = now;
    dirty = false;
    if (!replica) return;
    const body = snapshotOf(replica);
    // Send only what changed, but at least every second (the inspector fades silent replicas).
    const text = JSON.stringify(body);
    if (!force && text === lastStatusText && now - lastStatusSentAt < STATUS_KEEPALIVE_MS) return;
    lastStatusText = text;
    lastStatusSentAt = now;
    post({ ...base('status'), seq: ++statusSeq, ...body });
  }

  // Timers as a fallback when the replica is idle (no inspection events to piggyback on).
  const timer = setInterval(() => {
    if (closed) return;
    const now = Date.now();
    flushTimeline(now);
    if (now - lastHello >= HELLO_EVERY_MS) sendHello(now);
    if (now - lastStatus >= STATUS_MIN_GAP_MS && (dirty || now - lastStatusSentAt >= STATUS_KEEPALIVE_MS)) sendStatus(now, false);
  }, TIMELINE_EVERY_MS * 2);

  // An inspector opened later asks; answer at once.
  if (channel) {
    channel.onmessage = (e) => {
      const m = e.data;
      if (closed || !m || m.kind !== 'query') return;
      const now = Date.now();
      sendHello(now);
      sendStatus(now, true);
    };
  }

  const onPageHide = () => {
    flushTimeline(Date.now());
    post({ ...base('bye'), reason: 'pagehide' });
  };
  // Back from the back/forward cache: say hello again.
  const onPageShow = (e) => {
    if (!e.persisted) return;
    const now = Date.now();
    sendHello(now);
    sendStatus(now, true);
  };
  if (typeof addEventListener === 'function') {
    addEventListener('pagehide', onPageHide);
    addEventListener('pageshow', onPageShow);
  }

  return {
    inspect,
    /**
     * @param {object} r  the replica (createReplica's result, or a local cluster's replica)
     * @param {{ appMachine?: object, behaviour?: () => string }} [options]  the application machine, to draw its
     *   chart, and the replica's simulated behaviour (a SimulatedBehaviour's; a local cluster's replica has its own)
     */
    attach(r, options = {}) {
      replica = r;
      behaviourOf = options.behaviour ? () => options.behaviour() : (x) => x.behaviour;
      appMachine = options.appMachine ?? safe(() => r.app?.logic) ?? null;
      // The protocol actor exists once the replica has started; its machine does not change.
      protocolLogic = safe(() => r.protocol?.logic) ?? null;
      charts = null;
      const now = Date.now();
      sendHello(now);
      sendStatus(now, true);
    },
    close() {
      if (closed) return;
      flushTimeline(Date.now());
      post({ ...base('bye'), reason: 'close' });
      closed = true;
      clearInterval(timer);
      if (typeof removeEventListener === 'function') {
        removeEventListener('pagehide', onPageHide);
        removeEventListener('pageshow', onPageShow);
      }
      channel?.close();
    },
  };

  /** What the inspector shows of the replica now (JSON-safe). */
  function snapshotOf(r) {
    if (!protocolLogic) {
      protocolLogic = safe(() => r.protocol?.logic) ?? null;
      if (protocolLogic) lastHello = 0; // the replica just started: describe its protocol soon
    }
    const status = safe(() => r.status()) ?? null;
    const protocolSnap = safe(() => r.protocol?.getSnapshot());
    // Re-read r.app: a state transfer replaces the application actor.
    const appSnap = safe(() => r.app?.getSnapshot());
    const m = safe(() => r.metrics) ?? {};
    const dropped = m.dropped ?? {};
    return {
      protocol: { value: jsonSafe(protocolSnap?.value ?? null), status: protocolSnap?.status ?? null, history: protocolHistory.changes.slice() },
      status: status && jsonSafe(status),
      behaviour: safe(() => behaviourOf(r)) ?? null,
      app: appSnap
        ? { value: jsonSafe(appSnap.value ?? null), status: appSnap.status ?? null, history: appHistory.changes.slice(), context: boundedContext(appSnap.context) }
        : null,
      metrics: {
        messagesIn: m.messagesIn ?? 0,
        messagesOut: m.messagesOut ?? 0,
        requests: m.requests ?? 0,
        entriesApplied: m.entriesApplied ?? 0,
        snapshotsInstalled: m.snapshotsInstalled ?? 0,
        dropped: sum(dropped),
        droppedBy: { ...dropped },
        misbehaviour: { ...(m.misbehaviour ?? {}) },
      },
    };
  }
}

/** One received protocol message, for the timeline (both protocols' messages). */
function entryOf(from, to, m) {
  const entry = { at: Date.now(), from, to, type: typeof m.type === 'string' ? m.type : '?' };
  if (typeof m.view === 'number') entry.view = m.view;
  if (typeof m.term === 'number') entry.term = m.term;
  if (typeof m.seq === 'number') entry.seq = m.seq;
  else if (typeof m.executed === 'number') entry.seq = m.executed; // PBFT status
  // Raft: the last log index the message speaks of.
  if (typeof m.index === 'number') entry.index = m.index;
  else if (typeof m.prevIndex === 'number') entry.index = m.prevIndex + (Array.isArray(m.entries) ? m.entries.length : 0);
  else if (typeof m.matchIndex === 'number') entry.index = m.matchIndex;
  else if (typeof m.lastIndex === 'number') entry.index = m.lastIndex;
  if (Array.isArray(m.entries) && m.entries.length > 0 && typeof m.prevIndex === 'number') entry.n = m.entries.length;
  return entry;
}

/**
 * The structure of an XState v5 machine, from `machine.root`: every state node with its key,
 * id, path (keys from the root, joined by '.'), type, initial child and transitions (with
 * `always` and delayed ones), targets given as paths. Nothing about any particular machine.
 */
export function describeMachine(machine) {
  const root = machine?.root;
  if (!root) return null;
  const pathOf = (node) => (Array.isArray(node?.path) ? node.path.join('.') : '');
  const describeTransition = (t, eventType, always) => {
    const out = {
      event: always ? null : eventType,
      always,
      targets: Array.isArray(t.target) ? t.target.map(pathOf) : [],
      guard: guardName(t.guard),
      actions: (t.actions ?? []).map(actionName).filter(Boolean).slice(0, 6),
    };
    if (t.reenter) out.reenter = true;
    if (typeof t.delay === 'number' || typeof t.delay === 'string') out.delay = t.delay;
    return out;
  };
  const walk = (node, depth) => {
    const out = {
      key: node.key,
      id: node.id,
      path: pathOf(node),
      type: node.type,
      initial: null,
      children: [],
      transitions: [],
    };
    if (node.description) out.description = String(node.description).slice(0, 200);
    if (node.tags?.length) out.tags = node.tags.map(String).slice(0, 8);
    const initial = safe(() => node.initial?.target?.[0]);
    if (initial) out.initial = pathOf(initial);
    for (const [eventType, list] of node.transitions ?? []) for (const t of list) out.transitions.push(describeTransition(t, eventType, false));
    for (const t of node.always ?? []) out.transitions.push(describeTransition(t, null, true));
    if (depth < 12) for (const child of Object.values(node.states ?? {})) out.children.push(walk(child, depth + 1));
    return out;
  };
  return { id: root.id, root: walk(root, 0) };
}

function guardName(guard) {
  if (!guard) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object') {
    const type = typeof guard.type === 'string' ? guard.type : 'guard';
    const params = guard.params && typeof guard.params === 'object' ? Object.values(guard.params).filter((v) => typeof v !== 'object') : [];
    return params.length ? `${type}(${params.join(', ')})` : type;
  }
  return null;
}

function actionName(action) {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') return action.type ?? action.name ?? null;
  if (action && typeof action === 'object') return typeof action.type === 'string' ? action.type : null;
  return null;
}

function safe(fn) {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function sum(record) {
  let n = 0;
  for (const k in record) n += Number(record[k]) || 0;
  return n;
}

/**
 * A JSON-safe copy, bounded: depth, keys, items and string lengths are capped, bytes become
 * "<n bytes>", actors and functions a tag. Cycles cannot occur past the depth cap.
 */
function jsonSafe(value, depth = 0, limits = { depth: 6, keys: 40, items: 64, chars: 200 }) {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return value.length > limits.chars ? `${value.slice(0, limits.chars)}…` : value;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'undefined') return null;
  if (typeof value === 'function') return '<function>';
  if (typeof value !== 'object') return String(value);
  if (ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  if (typeof value.getSnapshot === 'function' && typeof value.send === 'function') return `<actor ${value.id ?? ''}>`;
  if (depth >= limits.depth) return Array.isArray(value) ? `[${value.length} items]` : '{…}';
  if (Array.isArray(value)) {
    const out = value.slice(0, limits.items).map((v) => jsonSafe(v, depth + 1, limits));
    if (value.length > limits.items) out.push(`… ${value.length - limits.items} more`);
    return out;
  }
  if (value instanceof Map) return jsonSafe(Object.fromEntries(value), depth, limits);
  if (value instanceof Set) return jsonSafe([...value], depth, limits);
  const out = {};
  let n = 0;
  for (const key of Object.keys(value)) {
    if (++n > limits.keys) {
      out['…'] = `${Object.keys(value).length - limits.keys} more keys`;
      break;
    }
    out[key] = jsonSafe(value[key], depth + 1, limits);
  }
  return out;
}

/** The app context, JSON-safe and at most ~2 KB of JSON: tighter limits, then a cut text. */
function boundedContext(context) {
  let value = jsonSafe(context);
  let text = JSON.stringify(value) ?? 'null';
  if (text.length <= CONTEXT_BUDGET) return { value, bytes: text.length, truncated: false };
  value = jsonSafe(context, 0, { depth: 3, keys: 16, items: 16, chars: 40 });
  const small = JSON.stringify(value) ?? 'null';
  if (small.length <= CONTEXT_BUDGET) return { value, bytes: text.length, truncated: true };
  return { value: null, text: `${small.slice(0, CONTEXT_BUDGET)}…`, bytes: text.length, truncated: true };
}
