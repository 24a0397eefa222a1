// The little of Node's `process` that simple-peer's dependencies (readable-stream, randombytes,
// debug) touch in a browser; injected by scripts/browser-build.mjs wherever `process` is used.
const nextTick = (fn, ...args) => queueMicrotask(() => fn(...args));
const process = { nextTick, env: {}, browser: true, version: '', versions: {}, argv: [], platform: 'browser' };
export default process;
