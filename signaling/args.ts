/**
 * Command-line parsing for `statechorus signal`, shared by the Node CLI (cli.ts) and the Deno
 * entry (deno.ts). Runtime-neutral: the caller passes the arguments and environment.
 */
import { DEFAULT_HUB_OPTIONS, type HubOptions } from './hub.ts';

export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';

export interface SignalCommand {
  port: number;
  host: string;
  limits: Partial<HubOptions>;
  /** Share rooms with other instances through this Redis (Node only). */
  redis?: string;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'signal'; command: SignalCommand };

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Help text; `command` is how the user starts the server. */
export function usage(command = 'statechorus signal'): string {
  const d = DEFAULT_HUB_OPTIONS;
  return `Usage: ${command} [options]

Runs a signaling server for statechorus peers (y-webrtc's signaling protocol over WebSocket).
The server is untrusted: it only relays offers, answers and ICE candidates between peers of
a room, which sign their session descriptions themselves.

Options:
  --port N                   port to listen on; 0 picks a free one (default: $PORT or ${DEFAULT_PORT})
  --host H                   address to listen on (default: ${DEFAULT_HOST}; 0.0.0.0 for all interfaces)
  --redis URL                share rooms with other instances through Redis pub/sub
                             (redis://host:6379; Node only): run several behind a load balancer
  --max-connections N        connections in total (default: ${d.maxConnections})
  --max-connections-per-ip N connections per remote address, 0 for no limit (default: ${d.maxConnectionsPerIp})
  --max-frame-bytes N        largest accepted frame (default: ${d.maxFrameBytes})
  --rate N                   messages per second per connection (default: ${d.rate.perSecond})
  --burst N                  messages at once per connection (default: ${d.rate.burst})
  --max-topics N             topics per connection (default: ${d.maxTopicsPerConnection})
  --ping-interval MS         WebSocket ping interval; silent connections are closed (default: ${d.pingIntervalMs})
  -h, --help                 show this help
`;
}

type NumericFlag = { min: number; max: number; set: (c: SignalCommand, v: number) => void };

const NUMERIC: Record<string, NumericFlag> = {
  '--port': { min: 0, max: 65535, set: (c, v) => void (c.port = v) },
  '--max-connections': { min: 1, max: 1e9, set: (c, v) => void (c.limits.maxConnections = v) },
  '--max-connections-per-ip': { min: 0, max: 1e9, set: (c, v) => void (c.limits.maxConnectionsPerIp = v) },
  '--max-frame-bytes': { min: 64, max: 100 * 1024 * 1024, set: (c, v) => void (c.limits.maxFrameBytes = v) },
  '--rate': { min: 1, max: 1e9, set: (c, v) => void (c.limits.rate = { ...DEFAULT_HUB_OPTIONS.rate, ...c.limits.rate, perSecond: v }) },
  '--burst': { min: 1, max: 1e9, set: (c, v) => void (c.limits.rate = { ...DEFAULT_HUB_OPTIONS.rate, ...c.limits.rate, burst: v }) },
  '--max-topics': { min: 1, max: 1e6, set: (c, v) => void (c.limits.maxTopicsPerConnection = v) },
  '--ping-interval': { min: 10, max: 2 ** 31 - 1, set: (c, v) => void (c.limits.pingIntervalMs = v) },
};

function parseInteger(flag: string, text: string, spec: NumericFlag): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} needs a whole number, got ${JSON.stringify(text)}`);
  const v = Number(text);
  if (v < spec.min || v > spec.max) throw new UsageError(`${flag} must be between ${spec.min} and ${spec.max}, got ${text}`);
  return v;
}

function parsePortEnv(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_PORT;
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`$PORT must be a port number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * Parses `signal [options]` (the leading `signal` may be left out when `commandOptional`, as
 * for `deno run signaling/deno.ts --port 8787`). Throws UsageError with a readable message.
 */
export function parseArgs(argv: readonly string[], env: { PORT?: string | undefined } = {}, commandOptional = false): ParsedArgs {
  const args = [...argv];
  if (args.length === 0 && !commandOptional) throw new UsageError('missing command (expected "signal")');
  if (args[0] === '-h' || args[0] === '--help' || args[0] === 'help') return { kind: 'help' };
  if (args[0] === 'signal') args.shift();
  else if (!commandOptional) throw new UsageError(`unknown command ${JSON.stringify(args[0])} (expected "signal")`);

  const command: SignalCommand = { port: -1, host: DEFAULT_HOST, limits: {} };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${flag} needs a value`);
      i++;
    }
    if (flag === '--host') {
      if (value.trim() === '') throw new UsageError('--host needs a value');
      command.host = value;
      continue;
    }
    if (flag === '--redis') {
      if (!/^rediss?:\/\/[^/\s]/.test(value)) throw new UsageError(`--redis needs a URL like redis://127.0.0.1:6379, got ${JSON.stringify(value)}`);
      command.redis = value;
      continue;
    }
    const spec = NUMERIC[flag];
    if (!spec) throw new UsageError(`unknown option ${flag}`);
    spec.set(command, parseInteger(flag, value, spec));
  }
  if (command.port < 0) command.port = parsePortEnv(env.PORT);
  return { kind: 'signal', command };
}

/** `ws://host:port`, with IPv6 hosts bracketed. */
export function wsUrl(host: string, port: number): string {
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
