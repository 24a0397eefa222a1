// A small EventEmitter, enough for readable-stream and simple-peer in a browser (the npm
// `events` package is not installed). An ES5-style constructor on purpose: readable-stream
// calls `EventEmitter.call(this)` from its stream constructors.
function EventEmitter() {
  EventEmitter.init.call(this);
}
EventEmitter.init = function () {
  if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
    this._events = Object.create(null);
  }
  this._maxListeners = this._maxListeners || undefined;
};
EventEmitter.defaultMaxListeners = 10;
EventEmitter.prototype._events = undefined;
EventEmitter.prototype._maxListeners = undefined;

function add(emitter, type, listener, prepend) {
  if (typeof listener !== 'function') throw new TypeError('The "listener" argument must be a function');
  if (emitter._events === undefined) emitter._events = Object.create(null);
  if (emitter._events.newListener !== undefined) emitter.emit('newListener', type, listener.listener ?? listener);
  const list = emitter._events[type];
  if (list === undefined) emitter._events[type] = listener;
  else if (typeof list === 'function') emitter._events[type] = prepend ? [listener, list] : [list, listener];
  else if (prepend) list.unshift(listener);
  else list.push(listener);
  return emitter;
}

function onceWrapper(emitter, type, listener) {
  const wrapped = function (...args) {
    emitter.removeListener(type, wrapped);
    return listener.apply(emitter, args);
  };
  wrapped.listener = listener;
  return wrapped;
}

EventEmitter.prototype.setMaxListeners = function (n) {
  this._maxListeners = n;
  return this;
};
EventEmitter.prototype.getMaxListeners = function () {
  return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners;
};
EventEmitter.prototype.emit = function (type, ...args) {
  const list = this._events?.[type];
  if (list === undefined) {
    if (type === 'error') {
      const err = args[0] instanceof Error ? args[0] : new Error(`Unhandled error. (${args[0]})`);
      throw err;
    }
    return false;
  }
  if (typeof list === 'function') {
    list.apply(this, args);
  } else {
    for (const l of list.slice()) l.apply(this, args);
  }
  return true;
};
EventEmitter.prototype.addListener = function (type, listener) {
  return add(this, type, listener, false);
};
EventEmitter.prototype.on = EventEmitter.prototype.addListener;
EventEmitter.prototype.prependListener = function (type, listener) {
  return add(this, type, listener, true);
};
EventEmitter.prototype.once = function (type, listener) {
  return add(this, type, onceWrapper(this, type, listener), false);
};
EventEmitter.prototype.prependOnceListener = function (type, listener) {
  return add(this, type, onceWrapper(this, type, listener), true);
};
EventEmitter.prototype.removeListener = function (type, listener) {
  const events = this._events;
  const list = events?.[type];
  if (list === undefined) return this;
  if (list === listener || list.listener === listener) {
    delete events[type];
  } else if (typeof list !== 'function') {
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 1) events[type] = list[0];
    else if (list.length === 0) delete events[type];
  } else {
    return this;
  }
  if (events.removeListener !== undefined) this.emit('removeListener', type, listener);
  return this;
};
EventEmitter.prototype.off = EventEmitter.prototype.removeListener;
EventEmitter.prototype.removeAllListeners = function (type) {
  if (this._events === undefined) return this;
  if (type === undefined) this._events = Object.create(null);
  else delete this._events[type];
  return this;
};
EventEmitter.prototype.listeners = function (type) {
  const list = this._events?.[type];
  if (list === undefined) return [];
  if (typeof list === 'function') return [list.listener ?? list];
  return list.map((l) => l.listener ?? l);
};
EventEmitter.prototype.rawListeners = function (type) {
  const list = this._events?.[type];
  if (list === undefined) return [];
  return typeof list === 'function' ? [list] : list.slice();
};
EventEmitter.prototype.listenerCount = function (type) {
  const list = this._events?.[type];
  return list === undefined ? 0 : typeof list === 'function' ? 1 : list.length;
};
EventEmitter.listenerCount = (emitter, type) => emitter.listenerCount(type);
EventEmitter.prototype.eventNames = function () {
  return this._events ? Reflect.ownKeys(this._events) : [];
};
EventEmitter.EventEmitter = EventEmitter;
EventEmitter.once = (emitter, type) =>
  new Promise((resolve, reject) => {
    const onError = (err) => {
      emitter.removeListener(type, onValue);
      reject(err);
    };
    const onValue = (...args) => {
      if (type !== 'error') emitter.removeListener('error', onError);
      resolve(args);
    };
    emitter.once(type, onValue);
    if (type !== 'error') emitter.once('error', onError);
  });

export default EventEmitter;
export { EventEmitter };
